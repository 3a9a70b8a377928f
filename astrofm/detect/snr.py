"""Peak signal-to-noise of detections, measured on the image against the local noise.

A network score ranks detections but says nothing about how far a source stands above
the noise, which is what a catalogue selects on (PyBDSF keeps islands whose peak is
``thresh_pix = 5`` times the local rms). Each detection therefore gets, from the pixels
of the tile that owns it:

``peak``
    the highest background-subtracted valid pixel inside its box, in image units;
``rms``
    the local noise at that pixel;
``snr``
    ``peak / rms``; NaN when the box holds no valid pixel or the noise cannot be
    measured, so that any S/N cut drops it.

With ``fit_boxes``, each detection also gets the box of a Gaussian fitted to its pixels
on the same background-subtracted tile (:func:`~astrofm.detect.shapes.gaussian_boxes`;
``fit_x0`` ... ``fit_y1``, NaN where no plausible fit was found).

The position of that brightest pixel (``peak_x``, ``peak_y``) is kept too, for
:func:`one_per_peak`: a source has one peak, so two boxes whose brightest pixel is
the same pixel describe the same source, however little the boxes overlap.

Background and noise come from photutils' :class:`~photutils.background.Background2D`
on the tile (the whole image when it runs untiled), so a mosaic is never read whole:
sigma-clipped medians and MAD standard deviations in boxes, median-filtered into smooth
maps, the way SExtractor and PyBDSF map the rms.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SNR_COLUMNS", "PEAK_POSITION", "FITTED_BOX", "background_box", "single_plane",
           "PeakSNR", "one_per_peak", "check_min_snr"]

#: The catalogue columns added by :class:`PeakSNR`, in order.
SNR_COLUMNS = ("peak", "rms", "snr")
#: Whole-image pixel indices (column, row) of each detection's brightest pixel, also
#: measured by :class:`PeakSNR`.
PEAK_POSITION = ("peak_x", "peak_y")
#: Whole-image boxes of the fitted Gaussians, measured by :class:`PeakSNR` with
#: ``fit_boxes``.
FITTED_BOX = ("fit_x0", "fit_y0", "fit_x1", "fit_y1")
#: Background boxes span this many of the largest training sources.
BOX_PER_SOURCE = 4
#: Smallest background box side, pixels: fewer pixels give a noisy rms.
MIN_BOX = 16


def background_box(largest: float, shape) -> tuple[int, int]:
    """The Background2D box for a tile of ``shape``, given the largest source size.

    A box four times the largest training source (in original pixels, at least 16)
    leaves most of its pixels free of any one source, so the sigma-clipped statistics
    are those of the noise, while staying small enough to follow the rms as it rises
    towards the edge of the primary beam and around bright sources (PyBDSF's
    ``rms_box`` is chosen the same way, from the source sizes). It never exceeds the
    tile, which then has a single box: a constant background and rms.

    Parameters
    ----------
    largest : float
        Largest source side in pixels (:attr:`BoxPrior.largest
        <astrofm.detect.anchors.BoxPrior.largest>`).
    shape : tuple of int
        ``(H, W)`` of the tile.

    Returns
    -------
    tuple of int
        ``(rows, columns)`` of the box.
    """
    side = max(MIN_BOX, math.ceil(BOX_PER_SOURCE * float(largest)))
    return min(side, int(shape[0])), min(side, int(shape[1]))


def single_plane(data, mask=None):
    """``(H, W)`` data and validity (finite, unmasked) of an image's pixels.

    A multi-band image (a colour picture) is averaged over its bands: S/N needs one
    number per pixel, and the mean has the noise of all the bands together.

    Parameters
    ----------
    data : numpy.ndarray
        ``(H, W)`` or ``(C, H, W)``.
    mask : numpy.ndarray, optional
        True marks an invalid pixel.
    """
    data = np.asarray(data, dtype=float)
    valid = np.isfinite(data) if mask is None else np.isfinite(data) & ~np.asarray(mask)
    if data.ndim == 3:
        data, valid = data.mean(axis=0), valid.all(axis=0)
    return data, valid


def _noise_maps(data, valid, box):
    """Background and rms maps of a plane, or None when no box has enough valid pixels."""
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground

    try:
        found = Background2D(data, box, mask=~valid, sigma_clip=SigmaClip(sigma=3.0),
                             bkg_estimator=MedianBackground(),
                             bkg_rms_estimator=MADStdBackgroundRMS(),
                             # A box at a blanked border still counts when half valid.
                             exclude_percentile=50.0)
    except ValueError:
        # Every box mostly blank (a sliver of data at a mosaic's edge): no noise to use.
        return None
    return found.background, found.background_rms


class PeakSNR:
    """Measure ``peak``, ``rms`` and ``snr`` of detections on the tile that owns them.

    An instance is the ``measure`` hook of :func:`astrofm.detect.tiling.detect_tiled`.

    Parameters
    ----------
    largest : float
        Largest source side in original pixels; sets the background box (see
        :func:`background_box`).
    fit_boxes : bool
        Also fit a Gaussian to each detection (:data:`FITTED_BOX`).
    fit_snr : float, optional
        Fit only detections with at least this S/N: those below are cut from the
        catalogue, and a tile of an untrained network can hold hundreds of them.
    """

    def __init__(self, largest: float, fit_boxes: bool = False, fit_snr: float | None = None):
        self.largest, self.fit_boxes = float(largest), bool(fit_boxes)
        self.fit_snr = fit_snr

    def __call__(self, image, boxes) -> dict:
        """The columns of :data:`SNR_COLUMNS` for ``boxes`` (whole-image pixels) on ``image``.

        Parameters
        ----------
        image : AstroImage
            A tile as read, whose geometry offset places it in the whole image.
        boxes : numpy.ndarray
            ``(N, 4)`` boxes, edge convention, in the pixels of the whole image.

        Returns
        -------
        dict of numpy.ndarray
            ``peak``, ``rms``, ``snr``, ``peak_x`` and ``peak_y``, each ``(N,)``; the
            positions are NaN where the S/N is. With ``fit_boxes``, also
            :data:`FITTED_BOX`.
        """
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        names = SNR_COLUMNS + PEAK_POSITION + (FITTED_BOX if self.fit_boxes else ())
        out = {name: np.full(len(boxes), np.nan) for name in names}
        if not len(boxes):
            return out
        data, valid = single_plane(image.data, image.mask)
        maps = _noise_maps(data, valid, background_box(self.largest, data.shape))
        if maps is None:
            return out
        background, rms = maps
        residual = np.where(valid, data - background, -np.inf)
        h, w = data.shape
        x0, y0 = image.geometry.offset
        # Pixel i covers [i, i + 1): a box takes every pixel it overlaps.
        cols = np.stack([np.floor(boxes[:, 0] - x0), np.ceil(boxes[:, 2] - x0)], -1)
        rows = np.stack([np.floor(boxes[:, 1] - y0), np.ceil(boxes[:, 3] - y0)], -1)
        cols = np.clip(cols, 0, w).astype(int)
        rows = np.clip(rows, 0, h).astype(int)
        for i, ((c0, c1), (r0, r1)) in enumerate(zip(cols, rows, strict=True)):
            inside = residual[r0:r1, c0:c1]
            if not inside.size or not np.isfinite(inside).any():
                continue
            r, c = np.unravel_index(np.argmax(inside), inside.shape)
            out["peak"][i] = inside[r, c]
            out["rms"][i] = rms[r0 + r, c0 + c]
            out["peak_x"][i], out["peak_y"][i] = x0 + c0 + c, y0 + r0 + r
        with np.errstate(divide="ignore", invalid="ignore"):
            out["snr"] = np.where(out["rms"] > 0, out["peak"] / out["rms"], np.nan)
        if self.fit_boxes:
            from astrofm.detect.shapes import gaussian_boxes

            shift = np.array([x0, y0, x0, y0], dtype=float)
            chosen = None if self.fit_snr is None else out["snr"] >= self.fit_snr
            fitted = gaussian_boxes(np.where(valid, residual, 0.0), valid, boxes - shift,
                                    fit=chosen) + shift
            out.update(zip(FITTED_BOX, fitted.T, strict=True))
        return out


def one_per_peak(scores, measured: dict) -> np.ndarray:
    """Indices of the detections kept when each peak pixel keeps one, its best scored.

    Non-maximum suppression by IoU leaves a small box on a compact source and a larger
    box around it, whose IoU is low; both contain the source's brightest pixel, and on
    a real field such pairs are most of the false detections. A detection whose peak
    (see :class:`PeakSNR`) is the peak of a higher-scoring one is therefore dropped,
    whatever its class, since a catalogue has one row per source. Detections without a
    measured peak are kept.

    Parameters
    ----------
    scores : numpy.ndarray
        ``(N,)`` detection scores.
    measured : dict of numpy.ndarray
        What :class:`PeakSNR` measured for the detections (``peak_x`` and ``peak_y``).

    Returns
    -------
    numpy.ndarray of int
        Indices kept, in their original order.
    """
    scores = np.asarray(scores, dtype=float)
    if not len(scores) or "peak_x" not in measured:
        return np.arange(len(scores))
    order = np.argsort(-scores, kind="stable")
    x, y = measured["peak_x"][order], measured["peak_y"][order]
    placed = np.isfinite(x) & np.isfinite(y)
    # np.unique's first index of each peak, in score order, is that peak's best detection.
    _, first = np.unique(np.stack([x[placed], y[placed]], -1), axis=0, return_index=True)
    return np.sort(np.concatenate([order[placed][first], order[~placed]]))


def check_min_snr(value, option: str = "min_snr"):
    """``value`` as a float, or None; a ConfigError naming ``option`` unless a number >= 0.

    Parameters
    ----------
    value : float or None
        The lowest peak S/N kept; None measures no S/N and keeps every detection.
    option : str
        The option's name in the message (``--min-snr`` on the command line).
    """
    from astrofm.errors import ConfigError

    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number >= 0 or math.isinf(number) or isinstance(value, bool):
        raise ConfigError(f"{option}={value!r}: give a peak signal-to-noise of at least 0 "
                          "(5 is PyBDSF's thresh_pix), or leave the S/N cut out with None.")
    return number
