"""``astrofm train`` and ``astrofm evaluate``: fit a model and save it, score a saved one.

Both take a classifier by default; ``train --task detect`` and ``evaluate`` of a saved
detector hand over to :mod:`astrofm.cli.detect`. The options of one kind of model are
refused for the other, and every option and output path is checked before any image is
read or any network built.
"""

from __future__ import annotations

from astrofm.cli.common import (
    DATA_HELP,
    OUTPUT,
    WEIGHTS_HELP,
    add_placement,
    hdu,
    load_saved,
    placement,
)
from astrofm.cli.detect import (
    DETECTOR_EVALUATE,
    DETECTOR_ONLY,
    evaluate_detector,
    refuse,
    train_detector,
)

__all__ = ["add_parsers", "classifier_options"]


def classifier_options(args) -> dict:
    """The keyword arguments of :class:`~astrofm.classify.Classifier` that ``args`` gives.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``train`` command line.

    Returns
    -------
    dict
        The options given on the command line (the placement ones of
        :func:`~astrofm.cli.common.add_placement` among them), with ``weights``,
        ``num_workers`` and ``progress`` always present.
    """
    names = ("size", "pooling", "solver", "epochs", "lr", "batch_size", "blocks",
             "lora_rank", "warmup_epochs", "patience", "seed", "precision", "features_cache",
             "semi", "threshold", "unlabeled_ratio")
    options = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    # Always passed: None (random) must not fall back to the API's default.
    options["weights"] = args.weights
    if args.hidden:
        options["hidden"] = tuple(args.hidden)
    if args.no_augment:
        options["augment"] = False
    return {**options, **placement(args), "num_workers": args.workers,
            "progress": not args.quiet}


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


def _unlabeled(args, test):
    """The ``--unlabeled`` images as a data set, refused when they share an image with ``--test``.

    One ``.npz`` file is an array of images (its labels, if any, are ignored); other
    paths are image files.
    """
    from pathlib import Path

    from astrofm.classify.semi import check_no_overlap, unlabeled_dataset
    from astrofm.data import ArrayDataset
    from astrofm.errors import ConfigError, InputFileError
    from astrofm.features.fingerprint import image_digests

    if (args.unlabeled is None) != (args.semi is None):
        raise ConfigError("--unlabeled and --semi go together: give --semi fixmatch (or "
                          "pseudo-label) with --unlabeled PATH..., or neither.")
    if args.unlabeled is None:
        return None
    missing = [p for p in args.unlabeled if not Path(p).exists()]
    if missing:
        raise InputFileError(f"--unlabeled {missing[0]}: no such file; give existing image "
                             "files or one .npz file of images.")
    paths = args.unlabeled
    if len(paths) == 1 and paths[0].lower().endswith(".npz"):
        dataset = ArrayDataset(paths[0], labels=None)
    else:
        dataset = unlabeled_dataset(list(paths))
        dataset.hdu = args.hdu
    if test is not None:
        check_no_overlap(image_digests(dataset), test, f"--test {args.test}")
    return dataset


def _train(args) -> int:
    from astrofm.errors import ConfigError
    from astrofm.runtime import check_writable

    if args.task == "detect":
        return train_detector(args)
    check_writable(args.output, OUTPUT)
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
    unlabeled = _unlabeled(args, test)
    clf = Classifier(args.model, head=args.head, tuning=args.tuning,
                     **classifier_options(args))
    clf.fit(train, val, unlabeled=unlabeled)
    clf.save(args.output)
    history = clf.history
    score = history.get("best_val_macro_f1", history.get("final_val_macro_f1"))
    print(f"{clf!r} trained on {len(train)} images ({clf.tuning_report}); "
          f"validation macro F1 {score:.3f} -> {args.output}")
    if test is not None:
        print(clf.evaluate(mark_test(test)))
    return 0


def _evaluate(args) -> int:
    from astrofm.runtime import check_figure_path, check_writable

    if args.output:
        check_writable(args.output, OUTPUT)
    for option in ("confusion", "figure"):
        if getattr(args, option):
            check_figure_path(getattr(args, option), f"--{option}")
    from astrofm.classify import Classifier, mark_test
    from astrofm.data import open_labelled
    from astrofm.detect import Detector
    from astrofm.errors import ConfigError
    from astrofm.features.store import atomic_path

    clf = load_saved(args.model, (Classifier, Detector),
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


def add_parsers(sub) -> None:
    """Add the ``train`` and ``evaluate`` sub-parsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    trn = sub.add_parser("train", help="train a classifier or a detector and save it "
                         "(.astrofm)", description="Train a classifier (or, with --task "
                         "detect, a source detector) on a backbone; the validation split "
                         "comes from --val or from the training data, never the test.")
    trn.add_argument("train", nargs="+", help=f"training split: {DATA_HELP}; for --task "
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
    trn.add_argument("--weights", default="pretrained", help=WEIGHTS_HELP)
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
    trn.add_argument("--no-augment", action="store_true", help="train without augmentation "
                     "(flips, rotations, shifts; for --task detect also blur, contrast, "
                     "noise and background)")
    trn.add_argument("--unlabeled", nargs="+", metavar="PATH", help="unlabelled images for "
                     "--semi: image files, or one .npz of images (refused if they share an "
                     "image with --test)")
    trn.add_argument("--semi", help="semi-supervised training: fixmatch (lora/partial/full) "
                     "or pseudo-label (also self-training of a frozen head)")
    trn.add_argument("--threshold", type=float, help="--semi: confidence of a pseudo-label "
                     "(default 0.95)")
    trn.add_argument("--unlabeled-ratio", type=int, help="--semi: unlabelled images per "
                     "labelled image in a batch (default 7)")
    trn.add_argument("--seed", type=int)
    trn.add_argument("--features-cache", help="folder that keeps frozen features between runs "
                     "(with several processes, on a file system they all reach)")
    add_placement(trn)
    trn.add_argument("--precision", help="e.g. 32-true, bf16-mixed")
    trn.set_defaults(func=_train)

    evl = sub.add_parser("evaluate", help="score a saved classifier or detector on a test "
                         "split", description="Macro F1, per-class scores and the confusion "
                         "matrix of a saved classifier on a test split; mAP at IoU 0.1 to "
                         "0.9 and P/R/F1 of a saved detector.")
    evl.add_argument("model", help="a saved classifier or detector (.astrofm)")
    evl.add_argument("test", nargs="+", help=f"test split: {DATA_HELP}; for a detector a "
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
        command.add_argument("--hdu", type=hdu, help="FITS HDU index or name")
        command.add_argument("--workers", type=int, default=0, help="DataLoader workers")
        command.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
