"""What a fitted :class:`~astrofm.classify.Classifier` says about images: its prediction
table, from images or from the feature table of a frozen backbone, and its scores on a
labelled split."""

from __future__ import annotations

import json

import numpy as np
import torch
from astropy.table import Table

from astrofm.classify.data import codes_for, is_feature_table, labelled, mark_test
from astrofm.errors import ConfigError, DatasetError

__all__ = ["predict", "evaluate"]


def predict(clf, inputs) -> Table:
    """The prediction table of fitted ``clf``; see :meth:`Classifier.predict`."""
    from astrofm.features import as_dataset

    if is_feature_table(inputs):
        from astrofm.classify.features import check_table

        if clf.tuning != "frozen":
            raise ConfigError("a feature table can only be classified by a classifier "
                              "with a frozen backbone; pass the images.")
        check_table(inputs, clf.backbone.spec.name, clf.digest, clf.pooling,
                    clf.preprocessing, "inputs")
        return _from_features(clf, inputs)
    dataset = as_dataset(inputs)
    if clf.tuning == "frozen":
        return _from_features(clf, clf.embed(dataset))
    from astrofm.classify.module import ClassifierModule
    from astrofm.classify.module import predict as run
    from astrofm.features.embed import with_transform

    module = ClassifierModule(clf.net, len(clf.classes))
    out = run(module, with_transform(dataset, clf.preprocessing), clf.options)
    clf.net.eval()
    return _table(clf.classes, dataset.sources, out["probability"], out["error"])


def _from_features(clf, table: Table) -> Table:
    x = torch.as_tensor(np.asarray(table["feature"], dtype=np.float32))
    with torch.no_grad():
        probabilities = clf.net.classify(x).softmax(1).numpy()
    probabilities[~torch.isfinite(x).all(1).numpy()] = np.nan
    errors = table["error"] if "error" in table.colnames else [""] * len(table)
    sources = table["source"] if "source" in table.colnames else [""] * len(table)
    return _table(clf.classes, sources, probabilities, errors)


def _table(classes, sources, probabilities, errors) -> Table:
    probabilities = np.asarray(probabilities, dtype=np.float32)
    readable = np.isfinite(probabilities).all(1)
    labels = np.where(readable, np.nan_to_num(probabilities, nan=-1).argmax(1), -1)
    table = Table()
    table["source"] = [str(s) for s in sources]
    table["label"] = labels.astype(np.int64)
    table["class_name"] = [classes[i] if i >= 0 else "" for i in labels]
    table["probability"] = probabilities
    table["error"] = np.asarray(errors, dtype=str)
    table.meta["CLASSES"] = json.dumps(classes)
    return table


def evaluate(clf, test, *, mark: bool = True):
    """The scores of fitted ``clf`` on a labelled split; see :meth:`Classifier.evaluate`."""
    from astrofm.classify.metrics import classification_report

    items = labelled(test, "test")
    y = codes_for(items.names, clf.classes, "test")
    if "unlabeled_digests" in clf.history and not is_feature_table(items.data):
        from astrofm.classify.semi import check_no_overlap

        check_no_overlap(clf.history["unlabeled_digests"], items.data)
    if mark:
        mark_test(items.data)
    predicted = clf.predict(items.data)
    bad = np.flatnonzero(np.asarray(predicted["error"]) != "")
    if len(bad):
        raise DatasetError(f"test: {len(bad)} images could not be read or preprocessed "
                           f"(first: {list(predicted['source'][bad[:3]])}); scores over "
                           "part of a split would mislead, so remove them first.")
    report = classification_report(y, np.asarray(predicted["label"]), clf.classes)
    report.weights = clf.backbone.weights_origin
    return report
