"""Finding the source nearest the image centre with photutils segmentation.

Shared by :class:`~astrofm.preprocess.CropToSource` and the ``source_size="auto"``
mode of :class:`~astrofm.preprocess.ResizeForPatch`.
"""

from __future__ import annotations

import warnings

import numpy as np
from photutils.segmentation import detect_sources
from photutils.utils import NoDetectionsWarning

from astrofm.preprocess.clip import background_stats

__all__ = ["central_source_box"]


def detection_plane(data: np.ndarray, mask: np.ndarray):
    """The 2-D plane to detect on: the image, or the mean of its channels."""
    if data.ndim == 2:
        return data, mask
    return data.mean(axis=0), mask.any(axis=0)


def central_source_box(data, mask, *, nsigma=3.0, npixels=10, connectivity=8,
                       select="nearest"):
    r"""Bounding box ``(x0, y0, x1, y1)`` (edge convention) of the central source, or None.

    The detection threshold is :math:`\mu + n_\sigma \sigma_\mathrm{rms}` from
    sigma-clipped statistics of the valid pixels; ``photutils.segmentation.
    detect_sources`` finds the connected groups of at least ``npixels`` pixels above
    it. With ``select="nearest"`` the segment holding the pixel nearest the image
    centre is kept (a segment that covers the centre wins outright); with
    ``select="all"`` the box covers every segment, which keeps both lobes of a radio
    double whose core is too faint to join them. None when nothing is detected.
    """
    plane, plane_mask = detection_plane(data, mask)
    valid = plane[~plane_mask] if plane_mask.any() else plane.ravel()
    if valid.size == 0:
        return None
    mean, rms = background_stats(valid)
    with warnings.catch_warnings():
        # The callers say what "no source" means for them, in astrofm's own warning.
        warnings.simplefilter("ignore", NoDetectionsWarning)
        segm = detect_sources(
            np.where(plane_mask, mean, plane) if plane_mask.any() else plane,
            mean + nsigma * rms, npixels, connectivity=connectivity,
            mask=plane_mask if plane_mask.any() else None,
        )
    if segm is None:
        return None
    labels = segm.data
    ys, xs = np.nonzero(labels)
    if select == "nearest":
        h, w = labels.shape
        # Pixel centres are at i + 0.5 in the edge convention; the centre at (w/2, h/2).
        nearest = np.argmin((xs + 0.5 - w / 2) ** 2 + (ys + 0.5 - h / 2) ** 2)
        keep = labels[ys, xs] == labels[ys[nearest], xs[nearest]]
        ys, xs = ys[keep], xs[keep]
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
