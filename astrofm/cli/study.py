"""``astrofm study`` and ``astrofm report``: run a study into a folder, render its report.

A study (a TOML file, or the offline ``--demo``) compares backbones, heads, tunings and
preprocessing on the user's data through :func:`astrofm.study.run_study`; the run folder
resumes and its report renders again with ``astrofm report``.
"""

from __future__ import annotations

from astrofm.cli.common import OUTPUT, add_placement, placement

__all__ = ["add_parsers"]


def _study(args) -> int:
    from pathlib import Path

    from astrofm.errors import ConfigError
    from astrofm.runtime import check_loop, check_writable

    if (args.study is None) == (not args.demo):
        raise ConfigError("study: give a study file (STUDY.toml) or --demo, not both and "
                          "not neither.")
    out = Path(args.output)
    check_writable(out / "results.ecsv", OUTPUT)
    given = {**placement(args), **{k: v for k, v in (("precision", args.precision),
                                                     ("num_workers", args.workers))
                                   if v is not None}}
    given.update(check_loop(**given))
    from astrofm.study import load_study, run_study
    from astrofm.study.demo import demo_study

    study = demo_study(out) if args.demo else load_study(args.study)
    study.run.update(given, progress=not args.quiet)
    run_study(study, out, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"results: {out / 'results.ecsv'}\nreport: {out / 'report.html'}")
    return 0


def _report(args) -> int:
    from astrofm.study.results import check_run_folder

    check_run_folder(args.dir)
    from astrofm.study.report import render

    print(render(args.dir))
    return 0


def add_parsers(sub) -> None:
    """Add the ``study`` and ``report`` sub-parsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    stu = sub.add_parser("study", help="compare backbones, heads, tunings and preprocessing "
                         "on your data, resumably, with a report",
                         description="Run every cell of a study (a TOML file, see "
                         "astrofm.study.Study) into a run folder: results.ecsv, feature "
                         "tables, figures and a self-contained report.html. Rerunning into "
                         "the same folder skips the finished cells.")
    stu.add_argument("study", nargs="?", metavar="STUDY.toml", help="the study description")
    stu.add_argument("-o", "--output", required=True, help="run folder (created or resumed)")
    stu.add_argument("--demo", action="store_true", help="the offline demo: simulated radio "
                     "galaxies, two small backbones and a detector (a few minutes on a CPU)")
    stu.add_argument("--dry-run", action="store_true", help="print the grid, the cell count "
                     "and a cost estimate; run nothing")
    add_placement(stu)
    stu.add_argument("--precision", help="Lightning precision, e.g. 32-true, bf16-mixed")
    stu.add_argument("--workers", type=int, help="DataLoader workers")
    stu.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    stu.set_defaults(func=_study)

    rep = sub.add_parser("report", help="render the report of a study run folder",
                         description="Write DIR/report.html (self-contained, opens offline) "
                         "with figures/ and tables/ from the results of 'astrofm study'.")
    rep.add_argument("dir", metavar="DIR", help="run folder written by 'astrofm study'")
    rep.set_defaults(func=_report)
