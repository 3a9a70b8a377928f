"""Numbers the study report shows, computed from a run folder's ``results.ecsv``.

Everything here is arithmetic over finished cells (means and ranges over seeds,
differences against the reference configuration); nothing needs a backbone.
"""

from __future__ import annotations

import json

import numpy as np
from astropy.table import Table

from astrofm.classify.metrics import ClassificationReport

__all__ = [
    "METRICS",
    "CHANGES",
    "is_random",
    "select",
    "summarise",
    "reference_pooling",
    "adaptation",
    "per_class_report",
    "detection_summary",
]

#: Classification scores averaged over seeds.
METRICS = ("macro_f1", "macro_precision", "macro_recall", "balanced_accuracy", "accuracy")

#: Settings whose single change against the reference is one line of the adaptation table.
CHANGES = ("head", "tuning", "variant", "pooling")

_CONFIG = ("backbone", "baseline", *CHANGES)


def is_random(weights: str) -> bool:
    """Whether a weights origin (``"pretrained"``, a path, ``"random (seed N)"``) is random."""
    return str(weights).startswith("random")


def select(rows: Table, **settings) -> Table:
    """The rows whose columns equal every given setting."""
    keep = np.ones(len(rows), dtype=bool)
    for name, value in settings.items():
        keep &= np.asarray(rows[name]) == value
    return rows[keep]


def summarise(rows: Table, metrics=METRICS, keys=(*_CONFIG, "fraction")) -> Table:
    """Mean, minimum and maximum of ``metrics`` over the seeds of each configuration.

    Parameters
    ----------
    rows : astropy.table.Table
        Cells of ``results.ecsv``.
    metrics : sequence of str
        Numeric columns to summarise.
    keys : sequence of str
        Columns that make one configuration; the cells sharing them are its seeds.

    Returns
    -------
    astropy.table.Table
        One row per configuration: ``keys``, ``n_seeds`` and ``<metric>_mean``,
        ``<metric>_min``, ``<metric>_max``.
    """
    names = [*keys, "n_seeds"] + [f"{m}_{s}" for m in metrics for s in ("mean", "min", "max")]
    if len(rows) == 0:
        return Table(names=names, dtype=[rows[k].dtype for k in keys] + [int]
                     + [float] * (3 * len(metrics)))
    groups = rows.group_by(list(keys)).groups
    out = []
    for key, group in zip(groups.keys, groups, strict=True):
        values = [key[k] for k in keys] + [len(group)]
        for metric in metrics:
            column = np.asarray(group[metric], dtype=float)
            values += [column.mean(), column.min(), column.max()]
        out.append(values)
    return Table(rows=out, names=names)


def reference_pooling(rows: Table, backbone: str, pooling: str) -> str:
    """The pooling that stands for the reference's ``pooling`` in ``backbone``'s cells.

    The reference names one pooling, but a backbone that lacks it (a CNN has no class
    token) ran with its own default; that default then stands in.
    """
    poolings = set(np.asarray(select(rows, backbone=backbone)["pooling"]).tolist())
    if pooling in poolings:
        return pooling
    from astrofm import backbones
    from astrofm.errors import UnknownNameError

    try:
        default = backbones.get(backbone).default_pooling
    except UnknownNameError:
        return pooling
    return default if default in poolings else pooling


def _size(name: str):
    """Family and (feature dimension, blocks) of a registered backbone, or None."""
    from astrofm import backbones
    from astrofm.errors import UnknownNameError

    try:
        spec = backbones.get(name)
    except UnknownNameError:
        return None
    return spec.family, (spec.feature_dim, spec.num_blocks)


def adaptation(summary: Table, reference: dict, order) -> Table:
    """Change in mean macro F1 from each single change to the reference, per backbone.

    Parameters
    ----------
    summary : astropy.table.Table
        :func:`summarise` of the classification cells at one label fraction.
    reference : dict
        ``study.json``'s reference (``head``, ``tuning``, ``variant``, ``pooling``).
    order : sequence of str
        The study's backbones, in the order to report them.

    Returns
    -------
    astropy.table.Table
        One row per (backbone, change): ``backbone``, ``change`` (the setting:
        ``head``, ``tuning``, ``variant``, ``pooling`` or ``bigger model``), ``value``
        (what it was changed to), ``reference_f1``, ``macro_f1``, ``delta`` and
        ``n_seeds``. A "bigger model" is another backbone of the same family with a
        larger feature dimension (or as large, with more blocks), run with the
        reference settings.
    """
    summary = select(summary, baseline=False)
    out = []
    references = {}
    for backbone in order:
        own = select(summary, backbone=backbone)
        settings = {k: reference[k] for k in CHANGES}
        settings["pooling"] = reference_pooling(own, backbone, reference["pooling"])
        ref = select(own, **settings)
        if len(ref) == 0:
            continue
        references[backbone] = ref[0]
        for row in own:
            changed = [k for k in CHANGES if row[k] != settings[k]]
            if len(changed) == 1:
                out.append((backbone, changed[0], str(row[changed[0]]), row["n_seeds"],
                            ref[0]["macro_f1_mean"], row["macro_f1_mean"]))
    for backbone, ref in references.items():
        size = _size(backbone)
        for other, other_ref in references.items():
            bigger = _size(other)
            if size and bigger and bigger[0] == size[0] and bigger[1] > size[1]:
                out.append((backbone, "bigger model", other, other_ref["n_seeds"],
                            ref["macro_f1_mean"], other_ref["macro_f1_mean"]))
    table = Table(rows=out or None, names=("backbone", "change", "value", "n_seeds",
                                           "reference_f1", "macro_f1"),
                  dtype=(str, str, str, int, float, float))
    table["delta"] = table["macro_f1"] - table["reference_f1"]
    return table


def per_class_report(rows: Table, classes) -> ClassificationReport:
    """The scores of one configuration's seeds as one :class:`ClassificationReport`.

    Per-class precision, recall and F1 are means over the seeds (the rows); the
    confusion matrix is their sum, so its counts stay whole images.

    Parameters
    ----------
    rows : astropy.table.Table
        Classification cells of one configuration at one label fraction.
    classes : list of str
        Class names in the order of the per-class columns.

    Returns
    -------
    ClassificationReport
    """
    per_class = {k: np.mean([json.loads(v) for v in rows[f"{k}_per_class"]], axis=0)
                 for k in ("f1", "precision", "recall")}
    confusion = np.sum([json.loads(v) for v in rows["confusion"]], axis=0).astype(int)
    return ClassificationReport(
        classes=list(classes), macro_f1=float(np.mean(rows["macro_f1"])),
        support=confusion.sum(axis=1), confusion=confusion,
        balanced_accuracy=float(np.mean(rows["balanced_accuracy"])),
        accuracy=float(np.mean(rows["accuracy"])), weights=str(rows["weights"][0]),
        **per_class)


def detection_summary(rows: Table, n_ious: int) -> Table:
    """Detection scores per configuration at its largest fraction, over seeds.

    Returns
    -------
    astropy.table.Table
        :func:`summarise` of ``map_50``, ``map_50_95``, ``det_precision`` and
        ``det_recall`` per (backbone, baseline, tuning, variant, pooling), plus
        ``map_per_iou`` (mean over seeds, one value per IoU threshold) and ``weights``.
    """
    keys = ("backbone", "baseline", "tuning", "variant", "pooling")
    largest = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        largest[key] = max(largest.get(key, -np.inf), row["fraction"])
    top = rows[np.array([row["fraction"] == largest[tuple(row[k] for k in keys)]
                         for row in rows], dtype=bool)]
    summary = summarise(top, ("map_50", "map_50_95", "det_precision", "det_recall"),
                        (*keys, "fraction"))
    curves, weights = [], []
    for row in summary:
        group = select(top, **{k: row[k] for k in keys})
        curves.append(np.mean([json.loads(v) or [np.nan] * n_ious
                               for v in group["map_per_iou"]], axis=0))
        weights.append(str(group["weights"][0]) if len(group) else "")
    summary["map_per_iou"] = np.array(curves, dtype=float).reshape(len(summary), n_ious)
    summary["weights"] = np.array(weights, dtype=str)
    return summary
