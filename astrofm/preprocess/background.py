"""Background subtraction with photutils' Background2D."""

from __future__ import annotations

import numpy as np
from astropy.stats import SigmaClip as AstropySigmaClip
from photutils import background as pb

from astrofm.errors import ConfigError, ImageValueError
from astrofm.preprocess.base import Step, check_choice, per_plane

__all__ = ["SubtractBackground"]

#: Estimator name -> photutils background estimator class.
ESTIMATORS = {
    "median": pb.MedianBackground,
    "mean": pb.MeanBackground,
    "sextractor": pb.SExtractorBackground,
    "mmm": pb.MMMBackground,
    "biweight": pb.BiweightLocationBackground,
    "mode": pb.ModeEstimatorBackground,
}


def _pair(value, name):
    """``(ny, nx)`` from an int or a pair of positive ints."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ConfigError(f"{name} must be a positive int or a pair (ny, nx); got {value!r}.")
    return int(pair[0]), int(pair[1])


class SubtractBackground(Step):
    r"""Subtract a smooth 2-D background estimated by ``photutils.background.Background2D``.

    The image is divided into boxes of ``box_size`` pixels; in each box the
    sigma-clipped ``estimator`` gives a background level; the grid of levels is
    median-filtered over ``filter_size`` boxes and interpolated back to every pixel,
    giving :math:`B(x, y)`. The output is

    .. math:: y = x - B.

    Per channel for ``(C, H, W)`` images; masked pixels are excluded from the
    estimate, keep their mask and are set to 0.

    A ``box_size`` larger than the image is clipped to the image size (one box, a
    constant background) and the filter to the number of boxes, so small cutouts
    work with the same settings as large fields.

    Parameters
    ----------
    box_size : int or (int, int)
        Box size ``(ny, nx)`` in pixels.
    filter_size : int or (int, int)
        Median filter size, in boxes.
    sigma : float
        Sigma-clipping limit inside each box.
    estimator : str
        ``"median"``, ``"mean"``, ``"sextractor"``, ``"mmm"``, ``"biweight"`` or
        ``"mode"`` (the photutils estimators of those names).
    exclude_percentile : float
        Boxes with more than this percentage of masked pixels are excluded.
    """

    def __init__(self, box_size=64, filter_size=3, *, sigma=3.0, estimator="median",
                 exclude_percentile=10.0):
        self.box_size = _pair(box_size, "SubtractBackground box_size")
        self.filter_size = _pair(filter_size, "SubtractBackground filter_size")
        check_choice("background estimator", estimator, ESTIMATORS)
        self.sigma = float(sigma)
        self.estimator = estimator
        self.exclude_percentile = float(exclude_percentile)

    def get_config(self):
        return {
            "box_size": list(self.box_size), "filter_size": list(self.filter_size),
            "sigma": self.sigma, "estimator": self.estimator,
            "exclude_percentile": self.exclude_percentile,
        }

    def background(self, plane, mask, source="<array>"):
        """The ``Background2D`` of one 2-D plane, with the box and filter clipped to fit."""
        box = tuple(min(b, n) for b, n in zip(self.box_size, plane.shape, strict=True))
        nboxes = [-(-n // b) for n, b in zip(plane.shape, box, strict=True)]
        # The median filter must have an odd size no larger than the grid of boxes.
        filt = tuple(
            max(1, min(f, g) if min(f, g) % 2 else min(f, g) - 1)
            for f, g in zip(self.filter_size, nboxes, strict=True)
        )
        try:
            return pb.Background2D(
                plane, box, mask=mask if mask.any() else None, filter_size=filt,
                sigma_clip=AstropySigmaClip(sigma=self.sigma, maxiters=10),
                bkg_estimator=ESTIMATORS[self.estimator](),
                exclude_percentile=self.exclude_percentile,
            )
        except ValueError as exc:
            raise ImageValueError(
                f"{source}: SubtractBackground(box_size={list(self.box_size)}) could not "
                f"estimate a background ({exc}); use a larger box_size or a higher "
                "exclude_percentile."
            ) from exc

    def apply(self, image):
        def subtract(plane, mask):
            background = self.background(plane, mask, image.source).background
            out = plane - background.astype(np.float32)
            if mask.any():
                out[mask] = 0.0
            return out

        return self._record(image, per_plane(subtract, image.data, image.mask))
