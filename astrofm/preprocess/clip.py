"""Noise removal by a sigma-clipped threshold, the radio-astronomy practice."""

from __future__ import annotations

import math

import numpy as np
from astropy.stats import SigmaClippedStats

from astrofm.errors import ConfigError, ImageValueError
from astrofm.preprocess.base import Step, check_choice, per_plane, valid_values

__all__ = ["SigmaClip", "background_stats"]

# The values reaching the clipping loop are finite (astropy drops NaN and inf before
# iterating, and callers pass unmasked pixels), so plain numpy reductions give the
# same numbers as the NaN-aware ones astropy picks for the string names, faster.
_FAST = {"median": np.median, "mean": np.mean, "std": np.std}


def background_stats(values, *, sigma=3.0, maxiters=5, cenfunc="median", stdfunc="std",
                     max_samples=250_000):
    """Sigma-clipped ``(mean, rms)`` of 1-D finite ``values`` (astropy.stats.SigmaClippedStats).

    The same numbers as ``astropy.stats.sigma_clipped_stats`` without its median,
    which is not needed here.

    Arrays longer than ``max_samples`` are subsampled with a regular stride first: the
    clipped statistics of a quarter of a million pixels are as good as those of a whole
    mosaic and the cost stays bounded. The stride is deterministic, so the result does
    not depend on the batch the image came in.
    """
    if max_samples and values.size > max_samples:
        values = values[:: math.ceil(values.size / max_samples)]
    stats = SigmaClippedStats(
        values, sigma=sigma, maxiters=maxiters, cenfunc=_FAST.get(cenfunc, cenfunc),
        stdfunc=_FAST.get(stdfunc, stdfunc),
    )
    return float(stats.mean()), float(stats.std())


class SigmaClip(Step):
    r"""Remove noise: pixels below a sigma-clipped threshold become 0 or the threshold.

    For each channel, with :math:`\mu` and :math:`\sigma_\mathrm{rms}` the mean and
    standard deviation of the valid pixels from astropy's sigma-clipped statistics,

    .. math:: t = \mu + n_\sigma\,\sigma_\mathrm{rms}, \qquad
              y = \begin{cases} x & x \ge t \\ f & x < t \end{cases}

    with :math:`f = 0` for ``mode="zero"`` and :math:`f = t` for ``mode="floor"``.
    Masked pixels get :math:`f` too, so no NaN survives the step; they stay masked.

    Parameters
    ----------
    sigma : float
        :math:`n_\sigma`, the threshold in units of the clipped rms.
    mode : {"zero", "floor"}
        Value given to the pixels below the threshold.
    maxiters : int or None
        Clipping iterations of the statistics (None: until convergence).
    clip_sigma : float
        Clipping limit used while computing :math:`\mu` and :math:`\sigma_\mathrm{rms}`.
    cenfunc, stdfunc : str
        Centre and width functions of ``sigma_clipped_stats`` (``"median"``/``"mean"``,
        ``"std"``/``"mad_std"``).
    max_samples : int or None
        Images with more valid pixels are subsampled with a regular stride for the
        statistics (see :func:`background_stats`); None uses every pixel.

    Raises
    ------
    ImageValueError
        When a channel has no valid pixel (an all-NaN image).
    """

    def __init__(self, sigma=3.0, mode="zero", *, maxiters=5, clip_sigma=3.0,
                 cenfunc="median", stdfunc="std", max_samples=250_000):
        check_choice("SigmaClip mode", mode, ("zero", "floor"))
        check_choice("SigmaClip cenfunc", cenfunc, ("median", "mean"))
        check_choice("SigmaClip stdfunc", stdfunc, ("std", "mad_std"))
        if not np.isfinite(sigma) or not np.isfinite(clip_sigma) or clip_sigma <= 0:
            raise ConfigError(
                f"SigmaClip needs finite sigma and a positive clip_sigma; got sigma={sigma}, "
                f"clip_sigma={clip_sigma}."
            )
        self.sigma = float(sigma)
        self.mode = mode
        self.maxiters = None if maxiters is None else int(maxiters)
        self.clip_sigma = float(clip_sigma)
        self.cenfunc = cenfunc
        self.stdfunc = stdfunc
        self.max_samples = None if max_samples is None else int(max_samples)

    def get_config(self):
        return {
            "sigma": self.sigma, "mode": self.mode, "maxiters": self.maxiters,
            "clip_sigma": self.clip_sigma, "cenfunc": self.cenfunc, "stdfunc": self.stdfunc,
            "max_samples": self.max_samples,
        }

    def threshold(self, plane, mask, source="<array>"):
        """The threshold :math:`t` of one 2-D plane."""
        valid = valid_values(plane, mask)
        if valid.size == 0:
            raise ImageValueError(
                f"{source}: every pixel is masked (NaN, inf or BLANK), so no background "
                "level can be measured; check the file or the mask."
            )
        mean, rms = background_stats(
            valid, sigma=self.clip_sigma, maxiters=self.maxiters, cenfunc=self.cenfunc,
            stdfunc=self.stdfunc, max_samples=self.max_samples,
        )
        return mean + self.sigma * rms

    def apply(self, image):
        def clip(plane, mask):
            t = np.float32(self.threshold(plane, mask, image.source))
            fill = np.float32(0.0) if self.mode == "zero" else t
            below = plane < t
            if mask.any():
                below |= mask
            return np.where(below, fill, plane)

        return self._record(image, per_plane(clip, image.data, image.mask))
