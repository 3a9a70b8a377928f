"""Figures of classification results: label-fraction sweeps, per-class F1, confusion.

Each function draws on a Matplotlib ``Axes`` (a new figure when none is given) and
returns it, so figures compose and save with the usual Matplotlib calls.
"""

from __future__ import annotations

import numpy as np

from astrofm.errors import ConfigError

__all__ = ["plot_sweep", "plot_per_class_f1", "plot_confusion"]


def _axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize).add_subplot()


def plot_sweep(tables, labels=None, ax=None):
    """Macro F1 against label fraction: mean with the min-max range (paper, Figure 3).

    Parameters
    ----------
    tables : Table or list of Table
        Results of :func:`~astrofm.classify.sweep`, one per configuration.
    labels : list of str, optional
        Legend entries; default each table's ``meta["label"]``.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
    """
    tables = [tables] if hasattr(tables, "colnames") else list(tables)
    labels = labels or [t.meta.get("label", f"run {i}") for i, t in enumerate(tables)]
    if len(labels) != len(tables):
        raise ConfigError(f"{len(labels)} labels for {len(tables)} sweep tables.")
    ax = _axes(ax, (5, 4))
    for table, label in zip(tables, labels, strict=True):
        x = 100 * np.asarray(table["fraction"])
        line, = ax.plot(x, table["macro_f1_mean"], marker="o", label=label)
        ax.fill_between(x, table["macro_f1_min"], table["macro_f1_max"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("labelled training images (%)")
    ax.set_ylabel("macro F1 (mean, min-max)")
    ax.set_ylim(0, 1)
    ax.legend()
    return ax


def plot_per_class_f1(reports, labels=None, ax=None):
    """Per-class F1 as grouped bars, one group per class (paper, Figure 4).

    Parameters
    ----------
    reports : ClassificationReport or list of them
        Reports over the same classes, e.g. one per backbone.
    labels : list of str, optional
        Legend entries, one per report.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
    """
    reports = [reports] if hasattr(reports, "f1") else list(reports)
    classes = reports[0].classes
    if any(r.classes != classes for r in reports):
        raise ConfigError("plot_per_class_f1: the reports cover different classes.")
    labels = labels or [f"model {i}" for i in range(len(reports))]
    ax = _axes(ax, (max(4, 1.2 * len(classes) * len(reports) ** 0.5), 4))
    width = 0.8 / len(reports)
    x = np.arange(len(classes))
    for i, (report, label) in enumerate(zip(reports, labels, strict=True)):
        ax.bar(x + (i - (len(reports) - 1) / 2) * width, report.f1, width, label=label)
    ax.set_xticks(x, classes, rotation=30 if max(map(len, classes)) > 6 else 0)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    if len(reports) > 1:
        ax.legend()
    return ax


def plot_confusion(report, normalize: bool = True, ax=None):
    """The confusion matrix of a report as an image with its counts.

    Parameters
    ----------
    report : ClassificationReport
        The report.
    normalize : bool
        Colour by the share of each true class (row), so rare classes show as clearly
        as common ones; the cells are annotated with counts either way.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes
    """
    counts = np.asarray(report.confusion)
    shown = counts / np.maximum(counts.sum(1, keepdims=True), 1) if normalize else counts
    k = len(report.classes)
    ax = _axes(ax, (1.2 * k + 2, 1.2 * k + 1.5))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                    color="white" if shown[i, j] > 0.6 * shown.max() else "black")
    ax.set_xticks(range(k), report.classes)
    ax.set_yticks(range(k), report.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.figure.colorbar(image, ax=ax, label="share of true class" if normalize else "images")
    return ax
