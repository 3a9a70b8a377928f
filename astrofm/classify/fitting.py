"""How a :class:`~astrofm.classify.Classifier` trains: its splits checked and coded, then
a head on cached features of a frozen backbone, or backbone and head end to end on
Lightning."""

from __future__ import annotations

import numpy as np
import torch

from astrofm.classify.data import (
    Labelled,
    class_weights,
    codes_for,
    is_feature_table,
    is_test,
    labelled,
)
from astrofm.errors import ConfigError, DatasetError, SplitError

__all__ = ["fit_classifier", "as_features", "fit_on_features", "fit_end_to_end", "MEMOIZE_BYTES"]

#: Largest size of preprocessed images kept in memory between epochs by default.
MEMOIZE_BYTES = 2 * 1024**3


def fit_classifier(clf, train, val=None, unlabeled=None) -> None:
    """Train ``clf`` in place; see :meth:`Classifier.fit`.

    Sets its ``classes``, its network (head, and the backbone when it trains) and its
    ``history``.
    """
    from astrofm.data import train_val_split

    for where, data in (("train", train), ("val", val)):
        if data is not None and is_test(data):
            raise SplitError(f"{where} is marked as the test split; the test split must "
                             "never train a model or select one. Pass the training split "
                             "(and, optionally, a validation split taken from it).")
    from astrofm.classify.semi import fit_semi, prepare_unlabeled

    unlabeled, digests = prepare_unlabeled(clf.options.semi, unlabeled)
    frozen = clf.tuning == "frozen"
    items = labelled(train, "train")
    if frozen:
        items = as_features(clf, items, "train")
    classes = items.classes
    y = codes_for(items.names, classes, "train")
    present = np.unique(y)
    if len(present) < 2:
        raise SplitError(f"train: all {len(y)} images are of class "
                         f"{classes[present[0]]!r}; a classifier needs at least two classes.")
    if val is None:
        keep, held = train_val_split(y, clf.options.val_fraction, clf.options.seed)
        items, val_items = items.take(keep), items.take(held)
    else:
        val_items = labelled(val, "val")
        if frozen:
            val_items = as_features(clf, val_items, "val")
    y = codes_for(items.names, classes, "train")
    yv = codes_for(val_items.names, classes, "val")
    clf.classes = list(classes)
    if unlabeled is None:
        fit = fit_on_features if frozen else fit_end_to_end
        clf.net, clf.history = fit(clf, items, y, val_items, yv)
    else:
        clf.net, clf.history = fit_semi(clf, items, y, val_items, yv, unlabeled)
        clf.history["unlabeled_digests"] = digests
    clf.net.eval()


def as_features(clf, items: Labelled, where: str) -> Labelled:
    """``items`` with a feature table of ``clf``'s frozen backbone as their data.

    A table given by the user is checked against the classifier's configuration;
    images are embedded (or found in the cache). Images that could not be read are
    refused: training on part of a split would change it silently.
    """
    from astrofm.classify.features import check_table
    from astrofm.features.embed import failed_rows

    if is_feature_table(items.data):
        check_table(items.data, clf.backbone.spec.name, clf.digest, clf.pooling,
                    clf.preprocessing, where)
        table = items.data
    else:
        table = clf.embed(items.data)
    bad = failed_rows(table)
    if len(bad):
        raise DatasetError(f"{where}: {len(bad)} images could not be read or preprocessed "
                           f"(first: {[str(table['source'][i]) for i in bad[:3]]}; see "
                           "clf.embed(data)['error']); remove them from the split.")
    return Labelled(table, items.names, items.classes)


def fit_on_features(clf, items: Labelled, y, val_items: Labelled, yv):
    """Fit ``clf``'s head on feature tables with its solver.

    With several processes each one fits the head on the same full feature tables
    (every process's embedding returns all rows), single-threaded, so that the fits
    agree; then global rank 0's head replaces the others', so that the weights are
    identical even where two machines' floating point would differ in the last bit.
    Fitting everywhere rather than on rank 0 alone keeps the processes in step without
    relying on a process group, which does not exist yet when the features came from
    memory or a table and no Lightning loop has run.

    Returns
    -------
    net : ClassifierNet
    history : dict
    """
    from astrofm.classify.heads import build_head
    from astrofm.classify.module import ClassifierNet, placed_trainer
    from astrofm.classify.solvers import fit_head

    x = torch.as_tensor(np.asarray(items.data["feature"], dtype=np.float32))
    xv = torch.as_tensor(np.asarray(val_items.data["feature"], dtype=np.float32))
    k = len(clf.classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(clf.options.seed)
        head = build_head(clf.head_name, x.shape[1], k, **clf.options.head_options)
    head, scaler, history = fit_head(head, x, torch.as_tensor(y), xv, torch.as_tensor(yv),
                                     clf.options, k)
    head, scaler, history = placed_trainer(clf.options).strategy.broadcast(
        (head, scaler, history))
    return ClassifierNet(clf.backbone, head, clf.pooling, scaler), history


def fit_end_to_end(clf, items: Labelled, y, val_items: Labelled, yv, unlabeled=None):
    """Train ``clf``'s tuned backbone and head together on images.

    Preprocessed images are kept in memory between epochs when ``memoize`` says so
    (by default when they fit in :data:`MEMOIZE_BYTES`); augmentation comes after,
    on each batch. With an ``unlabeled`` data set, ``clf.options.semi`` says how it
    trains too (:mod:`astrofm.classify.semi`).

    Returns
    -------
    net : ClassifierNet
    history : dict
    """
    from astrofm.classify.augment import SkyAugment
    from astrofm.classify.heads import build_head
    from astrofm.classify.module import ClassifierModule, ClassifierNet, CodedItems, train
    from astrofm.features.embed import with_transform

    if is_feature_table(items.data) or is_feature_table(val_items.data):
        raise ConfigError(f"a feature table trains only the head of a frozen backbone; "
                          f"with tuning={clf.tuning!r} pass the images.")
    o, k = clf.options, len(clf.classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(o.seed)
        head = build_head(clf.head_name, clf.feature_dim, k, **o.head_options)
    net = ClassifierNet(clf.backbone, head, clf.pooling)
    semi = {}
    if unlabeled is not None:
        from astrofm.classify.semi import SemiModule, Views
        from astrofm.preprocess.augment import StrongAugment

        strong = StrongAugment(clf.preprocessing) if o.semi == "fixmatch" else None
        unlabeled = with_transform(unlabeled, Views(clf.preprocessing, strong))
        semi = {"semi": o.semi, "threshold": o.threshold, "lambda_u": o.lambda_u}
    module = (ClassifierModule if unlabeled is None else SemiModule)(
        net, k, **semi, weight=class_weights(y, k) if o.class_weights else None,
        augment=SkyAugment() if o.augment else None,
        optimizer="sgd" if o.solver == "paper" else "adamw", lr=o.lr,
        weight_decay=float(o.weight_decay), layer_decay=o.layer_decay, epochs=o.epochs)
    train_data = with_transform(items.data, clf.preprocessing)
    val_data = with_transform(val_items.data, clf.preprocessing)
    memoize = o.memoize
    if memoize is None:
        first = train_data[0][0]
        memoize = first.numel() * first.element_size() * (len(y) + len(yv)) <= MEMOIZE_BYTES
    history = train(module, CodedItems(train_data, y, memoize), CodedItems(val_data, yv, memoize),
                    o, warmup=o.warmup_epochs, unlabeled_items=unlabeled)
    return net, history
