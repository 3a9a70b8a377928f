"""The ``astrofm`` console script.

Each subcommand mirrors a library call; ``astrofm --help`` lists them.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from astrofm import __version__
from astrofm.errors import AstrofmError

__all__ = ["main"]

# Optional parts whose presence changes what astrofm can do; reported by `astrofm info`.
_PARTS = {
    "torch": "backbones, training",
    "timm": "timm backbones (DINOv2, DINOv1, MAE, SigLIP, RADIO, DINOv3)",
    "transformers": "transformers backbones (MSN)",
    "torchvision": "ResNets, Faster R-CNN",
    "peft": "LoRA tuning",
    "lightning": "training and batch prediction",
    "torchmetrics": "metrics",
    "pycocotools": "COCO detection data and mAP",
    "photutils": "background, segmentation, CropToSource",
    "reproject": "stacking bands on different grids",
    "regions": "DS9 region catalogues",
    "h5py": "HDF5 feature tables",
    "astrofm_zoobot": "Zoobot galaxy encoders (plugin)",
}


def _info(args) -> int:
    print(f"astrofm {__version__}")
    print(f"python {sys.version.split()[0]}")
    print("\noptional parts:")
    for module, purpose in _PARTS.items():
        found = importlib.util.find_spec(module) is not None
        print(f"  {'yes' if found else 'no ':3}  {module:15} {purpose}")
    if importlib.util.find_spec("torch") is not None:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        print(f"\ntorch {torch.__version__}, GPU: {gpu}")
    from astrofm import backbones

    names = backbones.list()
    print(f"\nbackbones ({len(names)}):")
    for name in names:
        spec = backbones.get(name)
        patch = f"patch {spec.patch_size}" if spec.patch_size else "CNN"
        native = f" (native {spec.native_size})" if spec.native_size != spec.input_size else ""
        print(f"  {name:28} {spec.family:10} {patch:9} {spec.input_size:4d}px{native:13} "
              f"dim {spec.feature_dim}")
    return 0


_OUTPUT = "-o/--output"


def _embed(args) -> int:
    from astrofm.runtime import check_writable

    check_writable(args.output, _OUTPUT)
    from astrofm.features import embed

    inputs = args.inputs[0] if len(args.inputs) == 1 and args.inputs[0].lower().endswith(
        (".csv", ".ecsv")) else args.inputs
    table = embed(inputs, model=args.model, pooling=args.pooling, weights=args.weights,
                  size=args.size, batch_size=args.batch_size, num_workers=args.workers,
                  device=args.device, precision=args.precision, output=args.output,
                  cache=args.cache, progress=not args.quiet, hdu=args.hdu)
    failed = int((table["error"] != "").sum())
    print(f"{len(table)} images, {table['feature'].shape[1]} features each -> {args.output}"
          + (f" ({failed} could not be read; see the error column)" if failed else ""))
    return 0


def _classifier_options(args) -> dict:
    names = ("size", "pooling", "solver", "epochs", "lr", "batch_size", "blocks",
             "lora_rank", "warmup_epochs", "patience", "seed", "device", "precision",
             "features_cache")
    options = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    # Always passed: None (random) must not fall back to the API's default.
    options["weights"] = args.weights
    if args.hidden:
        options["hidden"] = tuple(args.hidden)
    if args.no_augment:
        options["augment"] = False
    return {**options, "num_workers": args.workers, "progress": not args.quiet}


def _check_test_classes(train, test, path) -> None:
    """Refuse a test split with classes the training split lacks, before any training."""
    from astrofm.classify.data import labelled
    from astrofm.errors import DatasetError

    known = labelled(train, "train").classes
    unknown = sorted(set(labelled(test, "test").names.tolist()) - set(known))
    if unknown:
        raise DatasetError(f"--test {path}: classes {unknown[:5]} are not among the training "
                           f"classes {known}, and a classifier can only score classes it was "
                           "trained on; give a test split of the training classes.")


def _train(args) -> int:
    from astrofm.detect.cli import DETECTOR_ONLY, refuse, train_detector
    from astrofm.errors import ConfigError
    from astrofm.runtime import check_writable

    if args.task == "detect":
        return train_detector(args)
    check_writable(args.output, _OUTPUT)
    refuse(args, DETECTOR_ONLY, "is an option of --task detect")
    if len(args.train) > 1:
        raise ConfigError(f"train: a classifier takes one training split; got "
                          f"{len(args.train)} paths. Give one, or use --task detect with "
                          "--catalog for images.")
    args.train = args.train[0]
    from astrofm.classify import Classifier, mark_test
    from astrofm.data import open_labelled

    def data(path):
        return None if path is None else open_labelled(path, label_column=args.label_column,
                                                       hdu=args.hdu)

    train, val, test = data(args.train), data(args.val), data(args.test)
    if test is not None:
        _check_test_classes(train, test, args.test)
    clf = Classifier(args.model, head=args.head, tuning=args.tuning,
                     **_classifier_options(args))
    clf.fit(train, val)
    clf.save(args.output)
    history = clf.history
    score = history.get("best_val_macro_f1", history.get("final_val_macro_f1"))
    print(f"{clf!r} trained on {len(train)} images ({clf.tuning_report}); "
          f"validation macro F1 {score:.3f} -> {args.output}")
    if test is not None:
        print(clf.evaluate(mark_test(test)))
    return 0


def _load_saved(path, cls, writer: str):
    """The saved model at ``path``, which must be a ``cls`` (a class or a tuple of them)."""
    from astrofm.errors import ConfigError
    from astrofm.io import load

    model = load(path)
    kinds = cls if isinstance(cls, tuple) else (cls,)
    if not isinstance(model, kinds):
        names = " or ".join(k.__name__.lower() for k in kinds)
        raise ConfigError(f"{path}: not a saved {names}; give a file written by {writer}.")
    return model


def _evaluate(args) -> int:
    from astrofm.runtime import check_figure_path, check_writable

    if args.output:
        check_writable(args.output, _OUTPUT)
    for option in ("confusion", "figure"):
        if getattr(args, option):
            check_figure_path(getattr(args, option), f"--{option}")
    from astrofm.classify import Classifier, mark_test
    from astrofm.data import open_labelled
    from astrofm.detect import Detector
    from astrofm.detect.cli import DETECTOR_EVALUATE, evaluate_detector, refuse
    from astrofm.errors import ConfigError
    from astrofm.features.store import atomic_path

    clf = _load_saved(args.model, (Classifier, Detector),
                      "'astrofm train', Classifier.save() or Detector.save()")
    if isinstance(clf, Detector):
        return evaluate_detector(args, clf)
    refuse(args, DETECTOR_EVALUATE, "applies to a saved detector, and this is a classifier")
    if len(args.test) > 1:
        raise ConfigError(f"test: a classifier is scored on one test split; got "
                          f"{len(args.test)} paths; give one.")
    args.test = args.test[0]
    clf.options.progress = not args.quiet
    test = open_labelled(args.test, label_column=args.label_column, hdu=args.hdu)
    report = clf.evaluate(mark_test(test))
    print(report)
    if args.output:
        with atomic_path(args.output) as tmp:
            report.to_table().write(tmp, format="ascii.ecsv")
    if args.confusion:
        from astrofm.classify import plot_confusion

        figure = plot_confusion(report).figure
        with atomic_path(args.confusion) as tmp:
            # The temporary name keeps the suffix, which tells Matplotlib the format.
            figure.savefig(tmp, bbox_inches="tight")
    return 0


def _detect(args) -> int:
    from astrofm.runtime import check_torch_device, check_writable, parse_tile

    tile = None if args.tile == "whole" else parse_tile(args.tile, "--tile")
    if args.regions:
        check_writable(args.regions, "--regions")
    from astrofm.detect.catalog import check_catalog_path

    check_catalog_path(args.output, _OUTPUT)
    if args.device:
        check_torch_device(args.device, "--device")
    from astrofm.detect import Detector

    detector = _load_saved(args.model, Detector, "Detector.save()")
    if args.device:
        detector.to(args.device)
    plane = None if args.plane is None else tuple(args.plane)
    table = detector.detect(args.image, tile=tile, overlap=args.overlap,
                            score_threshold=args.score, batch_size=args.batch_size, hdu=args.hdu,
                            plane=plane, progress=not args.quiet, output=args.output,
                            regions=args.regions)
    skipped = table.meta.get("skipped", 0)
    print(f"{len(table)} sources (score >= {args.score:g}) in {args.image}, "
          f"{table.meta['tiles']} tiles ({skipped} blank, skipped) -> {args.output}"
          + (f", {args.regions}" if args.regions else ""))
    return 0


def _study(args) -> int:
    from pathlib import Path

    from astrofm.errors import ConfigError
    from astrofm.runtime import check_loop, check_writable

    if (args.study is None) == (not args.demo):
        raise ConfigError("study: give a study file (STUDY.toml) or --demo, not both and "
                          "not neither.")
    out = Path(args.output)
    check_writable(out / "results.ecsv", _OUTPUT)
    given = {k: v for k, v in (("device", args.device), ("devices", args.devices),
                               ("precision", args.precision),
                               ("num_workers", args.workers)) if v is not None}
    check_loop(**{k: v for k, v in given.items() if k != "devices"})
    from astrofm.study import load_study, run_study
    from astrofm.study.demo import demo_study

    study = demo_study(out) if args.demo else load_study(args.study)
    study.run.update(given, progress=not args.quiet)
    run_study(study, out, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"results: {out / 'results.ecsv'}\nreport: {out / 'report.html'}")
    return 0


def _report(args) -> int:
    from astrofm.study.report import render

    print(render(args.dir))
    return 0


def _similar(args) -> int:
    from astrofm.discover.commands import similar

    return similar(args)


def _anomalies(args) -> int:
    from astrofm.discover.commands import anomalies

    return anomalies(args)


def _hdu(value: str):
    return int(value) if value.lstrip("-").isdigit() else value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as astrofm's own errors are."""

    def error(self, message):
        message = " ".join(message.split())
        self.exit(2, f"astrofm: error: {message} (see '{self.prog} --help')\n")


_WEIGHTS_HELP = ("'pretrained' (default: downloaded or cached), 'random' (random "
                 "initialisation) or a local weights file or folder")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astrofm`` command, with one sub-parser per subcommand."""
    parser = _Parser(
        prog="astrofm",
        description="Adapt astronomical images to vision foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"astrofm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="version, known backbones and optional parts")
    info.set_defaults(func=_info)

    emb = sub.add_parser("embed", help="feature vectors of many images, as a table",
                         description="Embed images with a backbone into a FITS or HDF5 "
                         "table; an interrupted run resumes where it stopped.")
    emb.add_argument("inputs", nargs="+",
                     help="image files, or one .csv/.ecsv catalogue with a path column")
    emb.add_argument("-o", "--output", required=True, help="table to write (.fits or .h5)")
    emb.add_argument("-m", "--model", default="dinov2", help="backbone name (astrofm info)")
    emb.add_argument("--pooling", help="cls, mean, cls+mean or pooler (default: the model's)")
    emb.add_argument("--weights", default="pretrained", help=_WEIGHTS_HELP)
    emb.add_argument("--size", type=int, help="input side in pixels (default: the model's)")
    emb.add_argument("--batch-size", type=int, default=32)
    emb.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    emb.add_argument("--device", default="auto", help="auto, cpu, gpu/cuda, mps or tpu")
    emb.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed")
    emb.add_argument("--cache", help="folder of partial results (default: <output>.parts)")
    emb.add_argument("--hdu", type=_hdu, help="FITS HDU index or name")
    emb.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    emb.set_defaults(func=_embed)

    data_help = "a .npz file (images, labels), a folder with one sub-folder per class, or " \
        "a catalogue (.csv/.ecsv/.fits) with path and label columns"
    trn = sub.add_parser("train", help="train a classifier or a detector and save it "
                         "(.astrofm)", description="Train a classifier (or, with --task "
                         "detect, a source detector) on a backbone; the validation split "
                         "comes from --val or from the training data, never the test.")
    trn.add_argument("train", nargs="+", help=f"training split: {data_help}; for --task "
                     "detect a COCO JSON file, or images with --catalog")
    trn.add_argument("--task", choices=("classify", "detect"), default="classify",
                     help="what to train (default: classify)")
    trn.add_argument("--catalog", help="--task detect: catalogue of the images' sources "
                     "(.ecsv/.fits/.csv; RA, DEC, Maj, Min, PA, or pixel x, y, major, minor, "
                     "theta for one image)")
    trn.add_argument("--weight-decay", type=float, help="--task detect: AdamW weight decay")
    trn.add_argument("--max-steps", type=int, help="--task detect: stop after this many steps")
    trn.add_argument("-o", "--output", required=True, help="model file to write (.astrofm)")
    trn.add_argument("-m", "--model", default="dinov2", help="backbone name (astrofm info)")
    trn.add_argument("--head", default="linear", help="linear, mlp, whitening or knn")
    trn.add_argument("--tuning", default="frozen", help="frozen, lora, partial or full")
    trn.add_argument("--val", help="validation split (default: 10%% of the training split)")
    trn.add_argument("--test", help="test split to score once training is done")
    trn.add_argument("--weights", default="pretrained", help=_WEIGHTS_HELP)
    trn.add_argument("--size", type=int, help="input side in pixels (default: the model's)")
    trn.add_argument("--pooling", help="cls, mean, cls+mean or pooler (default: the model's)")
    trn.add_argument("--solver", help="fast, paper or adamw")
    trn.add_argument("--epochs", type=int)
    trn.add_argument("--lr", type=float)
    trn.add_argument("--batch-size", type=int)
    trn.add_argument("--hidden", type=int, nargs="+", help="hidden widths of the mlp head")
    trn.add_argument("--blocks", type=int, help="top blocks that train with --tuning partial")
    trn.add_argument("--lora-rank", type=int)
    trn.add_argument("--warmup-epochs", type=int, help="head-only epochs of --tuning full")
    trn.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    trn.add_argument("--no-augment", action="store_true", help="no flips, rotations, shifts")
    trn.add_argument("--seed", type=int)
    trn.add_argument("--features-cache", help="folder that keeps frozen features between runs")
    trn.add_argument("--device", help="auto, cpu, gpu/cuda, mps or tpu")
    trn.add_argument("--precision", help="e.g. 32-true, bf16-mixed")
    trn.set_defaults(func=_train)

    evl = sub.add_parser("evaluate", help="score a saved classifier or detector on a test "
                         "split", description="Macro F1, per-class scores and the confusion "
                         "matrix of a saved classifier on a test split; mAP at IoU 0.1 to "
                         "0.9 and P/R/F1 of a saved detector.")
    evl.add_argument("model", help="a saved classifier or detector (.astrofm)")
    evl.add_argument("test", nargs="+", help=f"test split: {data_help}; for a detector a "
                     "COCO JSON file, or images with --catalog")
    evl.add_argument("-o", "--output", help="per-class table, or a detector's mAP against "
                     "IoU, to write (.ecsv)")
    evl.add_argument("--confusion", help="confusion-matrix figure to write (.png, .pdf)")
    evl.add_argument("--catalog", help="detector: catalogue of the test images' sources")
    evl.add_argument("--figure", help="detector: mAP-against-IoU figure to write (.png, .pdf)")
    evl.add_argument("--score", type=float, help="detector: lowest score counted for P/R/F1 "
                     "(default 0.5)")
    evl.add_argument("--iou", type=float, help="detector: IoU of a match for P/R/F1 "
                     "(default 0.5)")
    evl.set_defaults(func=_evaluate)
    for command in (trn, evl):
        command.add_argument("--label-column", default="label",
                             help="label column of a catalogue (default: label)")
        command.add_argument("--hdu", type=_hdu, help="FITS HDU index or name")
        command.add_argument("--workers", type=int, default=0, help="DataLoader workers")
        command.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    det = sub.add_parser("detect", help="find sources in an image or mosaic with a saved "
                         "detector", description="Run a saved detector over an image of any "
                         "size in overlapping tiles read through a memory map, and write a "
                         "catalogue (pixel boxes, scores and, with a WCS, RA/Dec).")
    det.add_argument("model", help="a saved detector (.astrofm)")
    det.add_argument("image", help="the image or mosaic (FITS, PNG ...)")
    det.add_argument("-o", "--output", required=True,
                     help="catalogue to write (.ecsv, .fits, or .json for COCO)")
    det.add_argument("--regions", help="DS9 region file of the boxes to write (.reg)")
    det.add_argument("--tile", default="auto",
                     help="tile side in pixels, 'auto' (default) or 'whole'")
    det.add_argument("--overlap", type=int, help="tile overlap in pixels (default: covers "
                     "the largest training source)")
    det.add_argument("--score", type=float, default=0.5, help="lowest score kept (default 0.5)")
    det.add_argument("--batch-size", type=int, default=2, help="tiles per forward pass")
    det.add_argument("--hdu", type=_hdu, help="FITS HDU index or name")
    det.add_argument("--plane", type=int, nargs="+", help="plane of a FITS cube")
    det.add_argument("--device", help="cpu or cuda (default: cpu)")
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=_detect)

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
    stu.add_argument("--device", help="Lightning accelerator: auto, cpu, gpu ...")
    stu.add_argument("--devices", help="Lightning devices (a count or 'auto')")
    stu.add_argument("--precision", help="Lightning precision, e.g. 32-true, bf16-mixed")
    stu.add_argument("--workers", type=int, help="DataLoader workers")
    stu.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    stu.set_defaults(func=_study)

    rep = sub.add_parser("report", help="render the report of a study run folder",
                         description="Write DIR/report.html (self-contained, opens offline) "
                         "with figures/ and tables/ from the results of 'astrofm study'.")
    rep.add_argument("dir", metavar="DIR", help="run folder written by 'astrofm study'")
    rep.set_defaults(func=_report)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AstrofmError as err:
        print(f"astrofm: error: {err}", file=sys.stderr)
        return 2
