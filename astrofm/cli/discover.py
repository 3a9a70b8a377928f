"""``astrofm similar`` and ``astrofm anomalies``: search and rank a feature table.

Both read a table written by ``astrofm embed``. ``similar`` answers queries (a source of
the table, a new image or a sky position) from a :class:`~astrofm.discover.SimilarityIndex`
that it can save and reuse; ``anomalies`` ranks every row by how unusual it is. Each writes
a results table and a gallery figure, their paths checked before any compute.
"""

from __future__ import annotations

from astrofm.cli.common import OUTPUT

__all__ = ["add_parsers"]


def _write_ecsv(table, path) -> None:
    from astrofm.features.store import atomic_path

    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv")


def _save_figure(figure, path) -> None:
    from astrofm.features.store import atomic_path

    with atomic_path(path) as tmp:
        # The temporary name keeps the suffix, which tells Matplotlib the format.
        figure.savefig(tmp, bbox_inches="tight", dpi=100)


def _check_outputs(args) -> None:
    from pathlib import Path

    from astrofm.errors import InputFileError
    from astrofm.runtime import check_figure_path, check_writable, positive_int

    # Checked here too, before astrofm.discover brings in torch and faiss.
    if not Path(args.table).is_file():
        raise InputFileError(f"TABLE={args.table}: no such file; give a feature table "
                             "written by 'astrofm embed' (.fits or .h5).")
    positive_int(args.k, "-k")
    if args.output:
        check_writable(args.output, OUTPUT)
    if args.gallery:
        check_figure_path(args.gallery, "--gallery")


def _similarity_index(args, table):
    """The index of ``table``: loaded from --index when that file exists, else built."""
    from pathlib import Path

    from astrofm.discover import SimilarityIndex, fingerprint
    from astrofm.errors import ConfigError

    if args.index and Path(args.index).is_file():
        index = SimilarityIndex.load(args.index)
        if index.fingerprint != fingerprint(table) or index.meta.meta.get("NROWS") != len(table):
            raise ConfigError(f"--index {args.index}: was built from another table (its "
                              "model, weights, pooling, preprocessing or rows differ); delete "
                              "it to rebuild it, or give another path.")
        return index
    index = SimilarityIndex.build(table, kind=args.kind)
    if args.index:
        index.save(args.index)
    return index


def _similar(args) -> int:
    """``astrofm similar``: neighbours of the queries, as a table and a gallery."""
    _check_outputs(args)
    if args.index:
        from astrofm.runtime import check_writable

        check_writable(args.index, "--index")
    import astropy.units as u

    from astrofm.discover import plot_gallery, read_table

    table = read_table(args.table, "TABLE")
    index = _similarity_index(args, table)
    queries = args.query[0] if len(args.query) == 1 else args.query
    result = index.query(queries, k=args.k, tolerance=args.tolerance * u.arcsec)
    if args.output:
        _write_ecsv(result, args.output)
    if args.gallery:
        _save_figure(plot_gallery(result, k=args.k), args.gallery)
    skipped = f"; {index.skipped} rows skipped for NaN features" if index.skipped else ""
    print(f"{len(args.query)} queries, {args.k} neighbours each, {index!r}{skipped}"
          + (f" -> {args.output}" if args.output else ""))
    if not args.output:
        result.pprint(max_lines=-1, max_width=-1)
    return 0


def _anomalies(args) -> int:
    """``astrofm anomalies``: the most unusual rows, as a table and a gallery."""
    _check_outputs(args)
    import numpy as np

    from astrofm.discover import anomaly_scores, plot_gallery, read_table
    from astrofm.errors import ConfigError

    table = read_table(args.table, "TABLE")
    usable = int(np.isfinite(np.asarray(table["feature"], dtype=float)).all(axis=1).sum())
    if args.k > usable:
        raise ConfigError(f"-k {args.k}: the table has only {usable} usable rows; give a "
                          "smaller -k.")
    ranked = anomaly_scores(table, args.method, neighbours=args.neighbours,
                            random_state=args.seed)
    top = ranked[:args.k]
    if args.output:
        _write_ecsv(top, args.output)
    if args.gallery:
        _save_figure(plot_gallery(top, k=args.k), args.gallery)
    skipped = ranked.meta["SKIPPED"]
    print(f"{len(ranked)} rows ranked by {args.method}"
          + (f" ({skipped} skipped for NaN features)" if skipped else "")
          + (f"; top {args.k} -> {args.output}" if args.output else ""))
    if not args.output:
        top.pprint(max_lines=-1, max_width=-1)
    return 0


def add_parsers(sub) -> None:
    """Add the ``similar`` and ``anomalies`` sub-parsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    sim = sub.add_parser("similar", help="nearest neighbours in a feature table",
                         description="Objects like a query: a source of the table, a new "
                         "image (embedded as the table was) or a sky position 'RA DEC'.")
    sim.add_argument("table", help="feature table written by 'astrofm embed' (.fits, .h5)")
    sim.add_argument("--query", action="append", required=True,
                     help="a source name, an image file or \"RA DEC\" (degrees or "
                     "sexagesimal); repeat for several")
    sim.add_argument("--tolerance", type=float, default=5.0,
                     help="largest separation of a sky-position match in arcsec (default 5)")
    sim.add_argument("--index", help="saved index to use; built and saved there if missing")
    sim.add_argument("--kind", default="auto", help="auto, flat, ivf or hnsw (default auto)")
    sim.set_defaults(func=_similar)

    ano = sub.add_parser("anomalies", help="rank the rows of a feature table by how unusual "
                         "they are", description="Anomaly scores of every row; writes the "
                         "top -k and a gallery of them.")
    ano.add_argument("table", help="feature table written by 'astrofm embed' (.fits, .h5)")
    ano.add_argument("--method", default="isolation-forest",
                     choices=["isolation-forest", "lof", "knn"])
    ano.add_argument("--neighbours", type=int, default=20, help="neighbours of lof and knn")
    ano.add_argument("--seed", type=int, default=0, help="seed of the isolation forest")
    ano.set_defaults(func=_anomalies)
    for command, default in ((sim, 10), (ano, 50)):
        command.add_argument("-k", type=int, default=default,
                             help=f"neighbours per query / top rows kept (default {default})")
        command.add_argument("-o", "--output", help="results table to write (.ecsv)")
        command.add_argument("--gallery", help="gallery figure to write (.png, .pdf)")
