"""Plots of detection results: mAP against IoU, and boxes over the image."""

from __future__ import annotations

import numpy as np

from astrofm.detect.metrics import IOU_STEPS

__all__ = ["plot_map_vs_iou", "plot_boxes"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_map_vs_iou(reports, *, ious=IOU_STEPS, ax=None):
    """mAP against the IoU threshold, one line per report.

    Parameters
    ----------
    reports : DetectionReport or dict of str to DetectionReport
        One report, or several by label (``{"detector": r1, "photutils": r2}``).
    ious : sequence of float
        Thresholds on the x axis.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(reports, dict):
        reports = {"": reports}
    ax = _axes(ax, (5, 3.5))
    for label, report in reports.items():
        ax.plot(ious, [report.ap_per_iou[round(t, 2)] for t in ious], marker="o",
                label=label or None)
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("mAP")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if any(reports):
        ax.legend()
    return ax


def _boxes(boxes):
    """``(N, 4)`` boxes from an array or a catalogue Table."""
    if hasattr(boxes, "colnames"):
        return np.stack([np.asarray(boxes[c], dtype=float) for c in ("x0", "y0", "x1", "y1")],
                        axis=-1) if len(boxes) else np.zeros((0, 4))
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def plot_boxes(image, predicted=None, true=None, *, ax=None, stretch="asinh", origin=None):
    """Predicted and true boxes over an image.

    Parameters
    ----------
    image : AstroImage, array or path
        What :func:`astrofm.load` takes; shown with an astropy stretch on a zscale
        interval.
    predicted, true : array_like or Table, optional
        ``(N, 4)`` boxes (edge convention) or catalogue Tables; predicted boxes are
        drawn in orange, true ones in cyan.
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    stretch : {"asinh", "sqrt", "linear", "log"}
        Display stretch.
    origin : {"lower", "upper"}, optional
        Row 0 at the bottom (FITS, the default for float data) or at the top (PNG).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from astropy.visualization import (
        AsinhStretch,
        ImageNormalize,
        LinearStretch,
        LogStretch,
        SqrtStretch,
        ZScaleInterval,
    )
    from matplotlib.patches import Rectangle

    from astrofm.io import load

    image = load(image)
    data = image.data if image.data.ndim == 2 else image.data[0]
    stretches = {"asinh": AsinhStretch(), "sqrt": SqrtStretch(), "linear": LinearStretch(),
                 "log": LogStretch()}
    norm = ImageNormalize(data[np.isfinite(data)], interval=ZScaleInterval(),
                          stretch=stretches[stretch])
    ax = _axes(ax, (6, 6))
    h, w = data.shape
    origin = origin or ("upper" if image.display else "lower")
    # extent in the edge convention: pixel i covers [i, i + 1), as the boxes do.
    extent = (0, w, 0, h) if origin == "lower" else (0, w, h, 0)
    ax.imshow(data, origin=origin, cmap="gray", norm=norm, extent=extent)
    for boxes, colour, label in ((true, "cyan", "true"), (predicted, "orange", "predicted")):
        if boxes is None:
            continue
        for i, (x0, y0, x1, y1) in enumerate(_boxes(boxes)):
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colour, lw=1,
                                   label=label if i == 0 else None))
    if predicted is not None or true is not None:
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlim(0, w)
    return ax
