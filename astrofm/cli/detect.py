"""``astrofm detect``, and the detector paths of ``astrofm train`` and ``astrofm evaluate``.

``detect`` runs a saved detector over an image or mosaic in tiles and writes a catalogue.
A detector trains (``train --task detect``) and is scored (``evaluate``) on boxes: a COCO
JSON file, or images with a source catalogue (``--catalog``) that
:func:`astrofm.detect.catalog_to_coco` turns into one in a temporary folder. Every option
is checked before any image is read or any network built.
"""

from __future__ import annotations

from astrofm.cli.common import OUTPUT, add_placement, hdu, load_saved, placement
from astrofm.errors import ConfigError

__all__ = ["add_parsers", "train_detector", "evaluate_detector", "refuse", "CLASSIFIER_ONLY",
           "DETECTOR_ONLY", "DETECTOR_EVALUATE"]

# Options of `astrofm train` and `evaluate` that only one kind of model takes.
CLASSIFIER_ONLY = ("size", "pooling", "solver", "hidden", "patience", "warmup_epochs",
                   "unlabeled", "semi", "threshold", "unlabeled_ratio",
                   "features_cache")
DETECTOR_ONLY = ("catalog", "weight_decay", "max_steps")
DETECTOR_EVALUATE = ("catalog", "figure", "score", "iou")


def refuse(args, names, why: str) -> None:
    """Raise a ConfigError naming the first of ``names`` that was given on the command line.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.
    names : sequence of str
        Attributes of ``args`` (options with ``-`` as ``_``) that do not apply here.
    why : str
        Completes the message ``--option <why>; leave it out.``.
    """
    given = [n for n in names if getattr(args, n, None) not in (None, False)]
    if given:
        raise ConfigError(f"--{given[0].replace('_', '-')} {why}; leave it out.")


def _check_boxes_input(paths, catalog, option: str) -> None:
    """Refuse, before any compute, inputs that give a detector no boxes."""
    from astrofm.data.folder import IMAGE_SUFFIXES

    if len(paths) == 1 and paths[0].lower().endswith(".json"):
        if catalog:
            raise ConfigError(f"--catalog: {option} {paths[0]} is a COCO JSON file with its "
                              "own boxes; drop --catalog, or give images instead.")
        return
    others = [p for p in paths if not p.lower().endswith(IMAGE_SUFFIXES)]
    if others or not catalog:
        raise ConfigError(f"{option} {(others or paths)[0]}: a detector learns and is "
                          "scored on boxes; give a COCO JSON file, or images "
                          f"({', '.join(IMAGE_SUFFIXES[:3])} ...) with --catalog CAT of "
                          "positions and FWHM ellipses.")


def _boxes_input(paths, catalog, folder, option: str, hdu):
    """A COCO JSON file: the one given, or one written in ``folder`` from images."""
    from pathlib import Path

    from astrofm.detect import catalog_to_coco

    if catalog is None:
        return paths[0]
    return catalog_to_coco(paths, catalog, Path(folder) / f"{option}.json", hdu=hdu)


def train_detector(args) -> int:
    """``astrofm train --task detect``: fit a :class:`~astrofm.detect.Detector` and save it.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``train`` command line.

    Returns
    -------
    int
        The exit status, 0.
    """
    import tempfile

    from astrofm.runtime import (
        check_loop,
        check_writable,
        non_negative_float,
        positive_float,
        positive_int,
    )
    from astrofm.trainer import PLACEMENT
    from astrofm.tuning import TUNINGS

    check_writable(args.output, OUTPUT)
    refuse(args, CLASSIFIER_ONLY, "is an option of a classifier, not of --task detect")
    if args.head != "linear":
        raise ConfigError("--head is an option of a classifier, not of --task detect.")
    if args.tuning not in TUNINGS:
        raise ConfigError(f"--tuning {args.tuning}: choose one of {', '.join(TUNINGS)}.")
    fit = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
           "weight_decay": args.weight_decay, "seed": args.seed,
           "precision": args.precision, "max_steps": args.max_steps}
    if args.no_augment:
        fit["augment"] = False
    fit = {**{k: v for k, v in fit.items() if v is not None}, **placement(args)}
    for name in ("epochs", "batch_size", "max_steps"):
        if name in fit:
            positive_int(fit[name], f"--{name.replace('_', '-')}")
    if "lr" in fit:
        positive_float(fit["lr"], "--lr")
    if "weight_decay" in fit:
        non_negative_float(fit["weight_decay"], "--weight-decay")
    check_loop(precision=args.precision, num_workers=args.workers,
               **{k: fit[k] for k in PLACEMENT if k in fit})
    splits = {"train": args.train, "--val": args.val and [args.val],
              "--test": args.test and [args.test]}
    for option, paths in splits.items():
        if paths:
            _check_boxes_input(paths, args.catalog, option)
    from astrofm.detect import Detector

    tuning_options = {k: getattr(args, k) for k in ("lora_rank", "blocks")
                      if getattr(args, k) is not None}
    with tempfile.TemporaryDirectory() as folder:
        data = {option.strip("-"): paths and _boxes_input(paths, args.catalog, folder,
                                                          option.strip("-"), args.hdu)
                for option, paths in splits.items()}
        detector = Detector(args.model, args.tuning, weights=args.weights,
                            tuning_options=tuning_options)
        detector.fit(data["train"], data["val"], num_workers=args.workers,
                     progress=not args.quiet, **fit)
        # Every process of a multi-process job gets here; rank 0 alone writes and prints.
        detector.save(args.output)
        if _global_rank() != 0:
            return 0
        score = detector.history.get("best_val_map_50")
        print(f"{detector!r} trained ({detector.tuning_report}); validation mAP@0.5 "
              + ("not measured (no validation ran)" if score is None else f"{score:.3f}")
              + f" -> {args.output}")
        if data["test"]:
            print(detector.evaluate(data["test"], progress=not args.quiet))
    return 0


def evaluate_detector(args, detector) -> int:
    """``astrofm evaluate`` of a saved detector: print its DetectionReport, write the table.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``evaluate`` command line, its output paths already checked.
    detector : Detector
        The loaded model.

    Returns
    -------
    int
        The exit status, 0.
    """
    import tempfile

    from astrofm.features.store import atomic_path

    if args.confusion:
        raise ConfigError("--confusion is a classifier's figure; for a detector give "
                          "--figure for mAP against IoU.")
    _check_boxes_input(args.test, args.catalog, "test")
    with tempfile.TemporaryDirectory() as folder:
        test = _boxes_input(args.test, args.catalog, folder, "test", args.hdu)
        report = detector.evaluate(
            test, score_threshold=0.5 if args.score is None else args.score,
            iou_threshold=0.5 if args.iou is None else args.iou, progress=not args.quiet)
    print(report)
    if args.output:
        with atomic_path(args.output) as tmp:
            report.to_table().write(tmp, format="ascii.ecsv")
    if args.figure:
        from astrofm.detect.plots import plot_map_vs_iou

        figure = plot_map_vs_iou(report).figure
        with atomic_path(args.figure) as tmp:
            figure.savefig(tmp, bbox_inches="tight")
    return 0


def _global_rank() -> int:
    """This process's rank in a multi-process job (0 alone)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _lightning_placement(args) -> dict:
    """The placement options, with an old torch device such as ``cuda:1`` made Lightning's.

    ``--device`` once named a torch device; ``cuda:N`` still means the N-th GPU.
    """
    where = placement(args)
    kind, _, index = str(where.get("device", "")).partition(":")
    if index.isdigit() and "devices" not in where:
        where.update(device=kind, devices=[int(index)])
    return where


def _detect(args) -> int:
    from astrofm.detect.snr import check_min_snr
    from astrofm.runtime import check_accelerator, check_loop, check_writable, parse_tile

    tile = None if args.tile == "whole" else parse_tile(args.tile, "--tile")
    min_snr = check_min_snr(None if args.min_snr.lower() == "none" else args.min_snr,
                            "--min-snr")
    if args.regions:
        check_writable(args.regions, "--regions")
    from astrofm.detect.catalog import check_catalog_path

    check_catalog_path(args.output, OUTPUT)
    where = _lightning_placement(args)
    if "device" in where:
        check_accelerator(where["device"], "--device")
    check_loop(**where)
    from astrofm.detect import Detector

    detector = load_saved(args.model, Detector, "Detector.save()")
    plane = None if args.plane is None else tuple(args.plane)
    tables = detector.detect(list(args.image), tile=tile, overlap=args.overlap,
                             score_threshold=args.score, min_snr=min_snr,
                             fit_boxes=not args.network_boxes, batch_size=args.batch_size,
                             hdu=args.hdu, plane=plane, progress=not args.quiet,
                             output=args.output, regions=args.regions, **where)
    if _global_rank() == 0:
        tiles = sum(t.meta["tiles"] for t in tables)
        skipped = sum(t.meta.get("skipped", 0) for t in tables)
        what = args.image[0] if len(tables) == 1 else f"{len(tables)} images"
        cuts = f"score >= {args.score:g}" + ("" if min_snr is None else f", S/N >= {min_snr:g}")
        print(f"{sum(len(t) for t in tables)} sources ({cuts}) in {what}, "
              f"{tiles} tiles ({skipped} blank, skipped) -> {args.output}"
              + (f", {args.regions}" if args.regions else ""))
    return 0


def add_parsers(sub) -> None:
    """Add the ``detect`` sub-parser.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    det = sub.add_parser("detect", help="find sources in images or mosaics with a saved "
                         "detector", description="Run a saved detector over images of any "
                         "size in overlapping tiles read through a memory map, and write one "
                         "catalogue (pixel boxes, scores and, with a WCS, RA/Dec). With "
                         "--devices N (under torchrun, srun or alone) N processes share "
                         "the images out; a rerun after a failure skips the images done.")
    det.add_argument("model", help="a saved detector (.astrofm)")
    det.add_argument("image", nargs="+", help="the images or mosaics (FITS, PNG ...)")
    det.add_argument("-o", "--output", required=True,
                     help="catalogue to write (.ecsv, .fits, or .json for COCO); several "
                     "images give one catalogue with an image column")
    det.add_argument("--regions", help="DS9 region file of the boxes to write (.reg); on the "
                     "sky for several images")
    det.add_argument("--tile", default="auto",
                     help="tile side in pixels, 'auto' (default) or 'whole'")
    det.add_argument("--overlap", type=int, help="tile overlap in pixels (default: covers "
                     "the largest training source)")
    det.add_argument("--score", type=float, default=0.5, help="lowest score kept (default 0.5)")
    det.add_argument("--min-snr", default="5", help="lowest peak signal-to-noise kept, "
                     "measured on the image against the local rms (default 5, PyBDSF's "
                     "thresh_pix); 'none' for no S/N cut")
    det.add_argument("--network-boxes", action="store_true", help="keep the network's "
                     "boxes; by default each source is boxed from a Gaussian fitted to its "
                     "pixels, as a catalogue boxes it")
    det.add_argument("--batch-size", type=int, default=2, help="tiles per forward pass")
    det.add_argument("--hdu", type=hdu, help="FITS HDU index or name")
    det.add_argument("--plane", type=int, nargs="+", help="plane of a FITS cube")
    add_placement(det)
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=_detect)
