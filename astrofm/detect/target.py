"""What a real image's simulations must match: noise, background, beam and sources.

:func:`measure_target` measures, on a survey image, what
:func:`~astrofm.detect.simulate_like.simulate_like` needs to generate fields that look
like it:

- the background and rms maps: photutils' ``Background2D``, sigma-clipped at
  :math:`3\\sigma`, in boxes of eight beam FWHMs (at most half the image) with a 3 x 3
  median filter;
- the beam: the header's ``BMAJ``, ``BMIN`` and ``BPA`` (degrees, the angle from north
  through east) mapped to pixels through the WCS's pixel scale matrix, or a circular
  ``beam_fwhm=`` in pixels;
- the sources: photutils' ``detect_sources`` at :math:`3\\sigma` above the background
  with islands of at least half a beam area, the mask dilated by a circle of radius one
  beam FWHM (``SegmentationImage.make_source_mask``);
- the noise's spatial correlation: the autocorrelation of the residual over the rms on
  the unmasked pixels, each lag normalised by its number of unmasked pixel pairs, out
  to three beam FWHMs;
- the number of islands that reach the catalogue threshold per pixel, and the peak
  signal-to-noise ratio of the brightest.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from astrofm.detect.simulate import (
    LABEL_SNR,
    _beam_area,
    _check_label_snr,
    _covariance,
    _ellipse,
)
from astrofm.errors import ConfigError, ImageValueError
from astrofm.image import AstroImage

__all__ = ["TargetStats", "measure_target"]

_MASK_SNR = 3.0
#: Background2D boxes span this many beam FWHMs (at most half the image).
_BOX_BEAMS = 8.0
#: Noise autocorrelation measured out to this many beam FWHMs.
_ACF_BEAMS = 3.0


@dataclass(frozen=True)
class TargetStats:
    """What :func:`measure_target` measures on an image.

    Parameters
    ----------
    data : numpy.ndarray
        The ``(H, W)`` pixels, float64.
    background, rms : numpy.ndarray
        ``Background2D`` maps of the background level and the noise rms.
    mask : numpy.ndarray
        True on invalid pixels and on sources (segmentation at :math:`3\\sigma`) with
        the mask dilated by the beam.
    beam : tuple of float
        ``(major, minor, theta)``: FWHM axes in pixels and the angle of the major axis
        from +x towards +y, in radians.
    acf : numpy.ndarray
        ``(2L + 1, 2L + 1)`` autocorrelation of the noise over rms, 1 at zero lag (the
        centre), with ``L`` three beam FWHMs.
    island_density : float
        Islands whose pixels reach ``label_snr`` times the rms, per valid pixel.
    peak_snr : float
        Peak signal-to-noise ratio of the brightest island (0 when there is none).
    multi_peak_fraction : float
        Share of those islands that hold more than one peak at ``label_snr``: local
        maxima at least half a beam FWHM apart, as
        :func:`~astrofm.detect.radio_galaxies.rgz_label` counts peaks (0 without
        islands).
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the image.
    """

    data: np.ndarray
    background: np.ndarray
    rms: np.ndarray
    mask: np.ndarray
    beam: tuple
    acf: np.ndarray
    island_density: float
    peak_snr: float
    multi_peak_fraction: float
    wcs: object


def _load(image):
    from astrofm.io import load

    image = image if isinstance(image, AstroImage) else load(image)
    if image.data.ndim != 2:
        raise ConfigError(f"image={image.source!r}: the noise, beam and sources are measured "
                          f"on one 2-D image; got shape {image.shape}. Load one plane or band "
                          "(plane=, hdu=).")
    if not (np.isfinite(image.data) & ~image.mask).any():
        raise ImageValueError(f"{image.source}: no valid pixel (every pixel is NaN, infinite "
                              "or masked), so there is no noise or source to measure; give "
                              "an image with data.")
    return image


def _beam(image, beam_fwhm):
    """``(major, minor, theta)`` in pixels of ``beam_fwhm`` or of the header's beam."""
    if beam_fwhm is not None:
        if not (np.isscalar(beam_fwhm) and beam_fwhm > 0):
            raise ConfigError(f"beam_fwhm={beam_fwhm!r}: give the beam FWHM in pixels, > 0.")
        return float(beam_fwhm), float(beam_fwhm), 0.0
    header = image.header if image.header is not None else {}
    if image.wcs is None or "BMAJ" not in header or "BMIN" not in header:
        raise ConfigError(f"{image.source}: the header has no beam (BMAJ, BMIN) with a celestial "
                          "WCS to turn it into pixels; give beam_fwhm= (the beam FWHM in "
                          "pixels).")
    # Intermediate world coordinates run east and north, and BPA turns from north to
    # east: the major axis lies 90 - BPA degrees from the east axis towards north.
    sky = _covariance(float(header["BMAJ"]), float(header["BMIN"]),
                      np.deg2rad(90.0 - float(header.get("BPA", 0.0))))
    to_pixels = np.linalg.inv(image.wcs.pixel_scale_matrix)
    major, minor, theta = _ellipse(to_pixels @ sky @ to_pixels.T)
    return float(major), float(minor), float(theta)


def _noise_acf(residual, valid, reach):
    """Autocorrelation of ``residual`` over the ``valid`` pixels, lags up to ``reach``."""
    from scipy.signal import correlate

    r = np.where(valid, residual, 0.0)
    pairs = correlate(valid.astype(float), valid.astype(float), method="fft")
    acf = correlate(r, r, method="fft") / np.maximum(np.round(pairs), 1.0)
    cy, cx = np.array(residual.shape) - 1
    acf = acf[cy - reach:cy + reach + 1, cx - reach:cx + reach + 1]
    return acf / acf[reach, reach]


def measure_target(image, *, beam_fwhm: float | None = None, box_size: int | None = None,
                   label_snr: float = LABEL_SNR) -> TargetStats:
    """Measure the noise, background, beam and sources of a real image.

    Parameters
    ----------
    image : AstroImage or str or path
        The target, a 2-D image or a file :func:`astrofm.load` reads.
    beam_fwhm : float, optional
        FWHM of a circular beam in pixels; by default the header's ``BMAJ``, ``BMIN``
        and ``BPA`` (degrees) mapped through the WCS.
    box_size : int, optional
        ``Background2D`` box side in pixels; by default eight beam FWHMs, at most half
        the image's shorter side.
    label_snr : float
        Threshold of the islands counted in :attr:`TargetStats.island_density`.

    Returns
    -------
    TargetStats
        The maps, beam, noise autocorrelation and island statistics.
    """
    image = _load(image)
    label_snr = _check_label_snr(label_snr)
    beam = _beam(image, beam_fwhm)
    h, w = image.shape
    if box_size is None:
        box_size = max(4, min(math.ceil(_BOX_BEAMS * beam[0]), min(h, w) // 2))
    if not (isinstance(box_size, (int, np.integer)) and 2 <= box_size <= min(h, w)):
        raise ConfigError(f"box_size={box_size!r}: give a whole number of pixels from 2 to "
                          f"the image's shorter side, {min(h, w)}.")
    from astropy.stats import SigmaClip
    from photutils.background import Background2D
    from photutils.segmentation import detect_sources
    from photutils.utils import NoDetectionsWarning, circular_footprint

    data, invalid = image.data.astype(float), image.mask
    bkg = Background2D(data, box_size, mask=invalid, filter_size=3,
                       sigma_clip=SigmaClip(sigma=3.0))
    residual = np.where(invalid, 0.0, data - bkg.background)
    n_pixels = max(1, math.ceil(_beam_area(beam[0], beam[1]) / 2))
    with warnings.catch_warnings():
        # An image without sources is a valid target: None says so.
        warnings.simplefilter("ignore", NoDetectionsWarning)
        sources, islands = (detect_sources(residual, level * bkg.background_rms,
                                           n_pixels=n_pixels, mask=invalid)
                            for level in (_MASK_SNR, label_snr))
    mask = invalid.copy()
    if sources is not None:
        footprint = circular_footprint(max(1, math.ceil(beam[0])))
        mask |= sources.make_source_mask(footprint=footprint)
    snr = residual / bkg.background_rms
    reach = min(math.ceil(_ACF_BEAMS * beam[0]), min(h, w) // 2 - 1)
    return TargetStats(
        data=data, background=bkg.background, rms=bkg.background_rms, mask=mask, beam=beam,
        acf=_noise_acf(snr, ~mask, reach),
        island_density=(0 if islands is None else islands.n_labels) / max(1, (~invalid).sum()),
        peak_snr=0.0 if islands is None else float(snr[islands.data > 0].max()),
        multi_peak_fraction=_multi_peak_fraction(snr, islands, label_snr, beam[0]),
        wcs=image.wcs)


def _multi_peak_fraction(snr, islands, level, beam_fwhm) -> float:
    """Share of ``islands`` holding more than one local maximum of ``snr`` >= ``level``."""
    if islands is None:
        return 0.0
    from astrofm.detect.radio_galaxies import island_peaks

    peaks = island_peaks(snr, level, islands, beam_fwhm)
    per_island = np.bincount(islands.data[tuple(peaks.T)], minlength=islands.n_labels + 1)[1:]
    return float(np.mean(per_island > 1))


