"""A classical source finder to compare detectors with: photutils segmentation.

:func:`segmentation_catalog` is the baseline the detection examples print next to a
detector. The image, less its sigma-clipped median, is smoothed with a circular
Gaussian of the beam's FWHM, segmented at ``detect_snr`` times the sigma-clipped rms
of the smoothed image with at least ``n_pixels`` connected pixels, and deblended
(``n_levels`` levels, ``contrast``). Each segment's centroid and second moments on the
unsmoothed image give an ellipse (semi-axes of one FWHM,
:math:`2\\sqrt{2\\ln 2}\\,\\sigma`), which becomes a box in
:mod:`astrofm.detect.catalog`'s convention, the convention of the catalogue boxes the
detector is scored against. A segment's score is its peak signal-to-noise ratio: its
brightest pixel over the sigma-clipped rms of the image.
"""

from __future__ import annotations

import warnings

import numpy as np

from astrofm.detect.catalog import ellipse_boxes, make_catalog
from astrofm.detect.simulate import FWHM_PER_SIGMA
from astrofm.errors import ConfigError

__all__ = ["segmentation_catalog"]


def _positive(value, name, what):
    if not (np.isscalar(value) and np.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={value!r}: give {what}, > 0.")
    return float(value)


def segmentation_catalog(image, *, beam_fwhm: float | None = None, min_snr: float | None = 5.0,
                         detect_snr: float = 3.0, n_pixels: int = 5, n_levels: int = 32,
                         contrast: float = 0.001):
    """Sources by photutils segmentation with deblending, as a catalogue with peak S/N.

    Parameters
    ----------
    image : AstroImage or str or path
        A 2-D image, or a file :func:`astrofm.load` reads.
    beam_fwhm : float, optional
        FWHM of the smoothing kernel in pixels; by default the major axis of the
        header's beam (``BMAJ``, ``BMIN``, ``BPA`` mapped through the WCS).
    min_snr : float or None
        Keep segments whose peak S/N is at least this; None keeps every segment (to
        rank them all, for average precision).
    detect_snr : float
        Segmentation threshold, in units of the smoothed image's rms.
    n_pixels : int
        Least number of connected pixels of a segment, and of a deblended part.
    n_levels, contrast : optional
        photutils ``deblend_sources`` settings.

    Returns
    -------
    astropy.table.Table
        The columns of :func:`~astrofm.detect.catalog.make_catalog`, sorted by
        decreasing ``score``, which is the peak S/N; also ``snr`` (the same),
        ``peak`` (the brightest pixel above the median, in the image's unit) and
        ``rms``.
    """
    from astropy.convolution import convolve
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import (
        SourceCatalog,
        deblend_sources,
        detect_sources,
        make_2dgaussian_kernel,
    )
    from photutils.utils import NoDetectionsWarning

    from astrofm.detect.target import _beam, _load

    if min_snr is not None:
        min_snr = _positive(min_snr, "min_snr", "the least peak S/N of a source, or None")
    detect_snr = _positive(detect_snr, "detect_snr", "the segmentation threshold in rms")
    if not (isinstance(n_pixels, (int, np.integer)) and n_pixels >= 1):
        raise ConfigError(f"n_pixels={n_pixels!r}: give the least number of connected pixels "
                          "of a source, a whole number >= 1.")
    image = _load(image)
    beam = _beam(image, beam_fwhm)[0]
    data, invalid = image.data.astype(float), image.mask
    _, median, rms = sigma_clipped_stats(data, mask=invalid, sigma=3.0)
    data = data - median
    size = 2 * int(np.ceil(2 * beam)) + 1
    smoothed = convolve(data, make_2dgaussian_kernel(beam, size=size), mask=invalid)
    _, _, smoothed_rms = sigma_clipped_stats(smoothed, mask=invalid, sigma=3.0)
    with warnings.catch_warnings():
        # An image without sources gives an empty catalogue.
        warnings.simplefilter("ignore", NoDetectionsWarning)
        segments = detect_sources(smoothed, detect_snr * smoothed_rms, n_pixels=n_pixels,
                                  mask=invalid)
    if segments is None:
        x = y = a = b = theta = peak = np.zeros(0)
    else:
        segments = deblend_sources(smoothed, segments, n_pixels=n_pixels, n_levels=n_levels,
                                   contrast=contrast, progress_bar=False)
        cat = SourceCatalog(data, segments, convolved_data=smoothed, mask=invalid)
        x, y = np.asarray(cat.x_centroid) + 0.5, np.asarray(cat.y_centroid) + 0.5
        a, b = (FWHM_PER_SIGMA * np.asarray(s) for s in (cat.semimajor_axis,
                                                         cat.semiminor_axis))
        theta, peak = np.deg2rad(np.asarray(cat.orientation)), np.asarray(cat.max_value)
    boxes = ellipse_boxes(x, y, a, b, theta).reshape(-1, 4)
    h, w = data.shape
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    snr = peak / rms
    keep = np.ones(len(snr), dtype=bool) if min_snr is None else snr >= min_snr
    order = np.argsort(-snr[keep], kind="stable")
    table = make_catalog(boxes[keep], snr[keep], np.ones(int(keep.sum()), dtype=int),
                         ["source"], wcs=image.wcs, source=image.source,
                         meta={"finder": "photutils segmentation + deblending",
                               "beam_fwhm": beam, "min_snr": min_snr})
    table["snr"] = snr[keep][order]
    table["peak"] = peak[keep][order]
    table["rms"] = np.full(len(table), rms)
    return table
