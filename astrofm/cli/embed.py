"""``astrofm embed``: the feature vectors of many images, written as a table.

Images (files, or a catalogue with a path column) go through a backbone into a FITS or
HDF5 feature table, by :func:`astrofm.features.embed`; an interrupted run resumes from the
partial results it left. ``--devices``/``--num-nodes``/``--strategy`` spread the images over
several processes (under ``torchrun``, ``srun`` or Lightning's own launcher).
"""

from __future__ import annotations

from astrofm.cli.common import OUTPUT, WEIGHTS_HELP, add_placement, hdu, placement

__all__ = ["add_parsers"]


def _embed(args) -> int:
    from astrofm.runtime import check_writable

    check_writable(args.output, OUTPUT)
    from astrofm.features import embed
    from astrofm.features.embed import failed_rows

    inputs = args.inputs[0] if len(args.inputs) == 1 and args.inputs[0].lower().endswith(
        (".csv", ".ecsv")) else args.inputs
    table = embed(inputs, model=args.model, pooling=args.pooling, weights=args.weights,
                  size=args.size, batch_size=args.batch_size, num_workers=args.workers,
                  precision=args.precision, output=args.output, cache=args.cache,
                  progress=not args.quiet, hdu=args.hdu, **placement(args))
    failed = len(failed_rows(table))
    print(f"{len(table)} images, {table['feature'].shape[1]} features each -> {args.output}"
          + (f" ({failed} could not be read; see the error column)" if failed else ""))
    return 0


def add_parsers(sub) -> None:
    """Add the ``embed`` sub-parser.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    emb = sub.add_parser("embed", help="feature vectors of many images, as a table",
                         description="Embed images with a backbone into a FITS or HDF5 "
                         "table; an interrupted run resumes where it stopped.")
    emb.add_argument("inputs", nargs="+",
                     help="image files, or one .csv/.ecsv catalogue with a path column")
    emb.add_argument("-o", "--output", required=True, help="table to write (.fits or .h5)")
    emb.add_argument("-m", "--model", default="dinov2", help="backbone name (astrofm info)")
    emb.add_argument("--pooling", help="cls, mean, cls+mean or pooler (default: the model's)")
    emb.add_argument("--weights", default="pretrained", help=WEIGHTS_HELP)
    emb.add_argument("--size", type=int, help="input side in pixels (default: the model's)")
    emb.add_argument("--batch-size", type=int, default=32)
    emb.add_argument("--workers", type=int, default=1,
                     help="DataLoader worker processes (default 1: it prepares the next "
                     "batches while the model runs, the fastest on 2 cores as measured)")
    emb.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed")
    emb.add_argument("--cache", help="folder of partial results (default: <output>.parts)")
    emb.add_argument("--hdu", type=hdu, help="FITS HDU index or name")
    emb.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_placement(emb)
    emb.set_defaults(func=_embed)
