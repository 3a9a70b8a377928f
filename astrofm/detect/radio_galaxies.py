"""Simulated radio galaxies labelled in the Radio Galaxy Zoo scheme.

Radio Galaxy Zoo (RGZ) classes a radio source by its number of components, separate
islands of emission above :math:`3\\sigma`, and of peaks, local maxima of the
emission above :math:`3\\sigma`: ``"2C-3P"`` is two islands holding three peaks, a
core joined to one lobe and a detached second lobe, say.

A galaxy here is a few elliptical Gaussians (a core, lobes, a jet) laid along a
random axis, observed with a circular restoring beam (intrinsic axes add to the beam
in quadrature, as in :mod:`astrofm.detect.simulate`), plus the same correlated noise
as the generated fields. Separations are drawn relative to the components' widths
and brightnesses so that the layout gives its class, but the label is *measured*: a
draw whose :func:`rgz_label` differs from the asked class is redrawn, so every image
carries a label that the measurement on the final, noisy image confirms.

The measurement (:func:`rgz_label`) is photutils' ``detect_sources`` at
:math:`3\\sigma` with islands of at least half a beam area, 8-connected, and
scikit-image's ``peak_local_max`` inside each island, with a minimum distance of half
a beam FWHM (at least one pixel).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from astrofm.detect.simulate import FWHM_PER_SIGMA, _beam_area, _correlated_noise, _pair
from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = ["RGZ_KINDS", "island_peaks", "rgz_label", "simulate_radio_galaxy",
           "write_radio_galaxies"]

#: Classes :func:`simulate_radio_galaxy` draws, with the layout of each: ``"C"`` a
#: component on its own island, ``"="`` a component joined to the one before it.
RGZ_KINDS = {"1C-1P": "C", "1C-2P": "C=", "1C-3P": "C==", "2C-2P": "CC", "2C-3P": "C=C",
             "3C-3P": "CCC"}
_SIGMAS = 3.0


def island_peaks(data, threshold: float, islands, beam_fwhm: float) -> np.ndarray:
    """Peaks as Radio Galaxy Zoo counts them: ``(K, 2)`` row, column of each.

    Pixels at or above ``threshold`` that are the largest of their island (a label of
    ``islands``, a photutils segmentation image) within ``max(1, round(beam_fwhm / 2))``
    pixels, a square window; scikit-image's ``peak_local_max``.
    """
    from skimage.feature import peak_local_max

    return peak_local_max(data, min_distance=max(1, round(beam_fwhm / 2)),
                          threshold_abs=threshold, labels=islands.data, exclude_border=False)


def rgz_label(image, rms: float, beam_fwhm: float) -> str:
    """Measure the RGZ class of a cutout: ``"NC-MP"``, N islands holding M peaks.

    Parameters
    ----------
    image : AstroImage or array_like
        The ``(H, W)`` cutout.
    rms : float
        Its noise rms, in the units of the pixels.
    beam_fwhm : float
        FWHM of the restoring beam in pixels.

    Returns
    -------
    str
        ``f"{components}C-{peaks}P"``: components are 8-connected islands of pixels above
        ``3 * rms`` of at least half a beam area; peaks are pixels above ``3 * rms``
        that are the largest of their island within ``max(1, round(beam_fwhm / 2))``
        pixels (a square window).
    """
    from photutils.segmentation import detect_sources

    data = np.asarray(getattr(image, "data", image), dtype=float)
    if data.ndim != 2 or not rms > 0 or not beam_fwhm > 0:
        raise ConfigError(f"rgz_label needs a 2-D image, rms > 0 and beam_fwhm > 0; got shape "
                          f"{data.shape}, rms={rms!r}, beam_fwhm={beam_fwhm!r}.")
    npixels = max(1, math.ceil(_beam_area(beam_fwhm) / 2))
    islands = detect_sources(data, _SIGMAS * rms, n_pixels=npixels, connectivity=8)
    if islands is None:
        return "0C-0P"
    peaks = island_peaks(data, _SIGMAS * rms, islands, beam_fwhm)
    return f"{islands.n_labels}C-{len(peaks)}P"


def _layout(kind, rng, beam, snr):
    """Components ``(offset along the axis, peak in rms, major, minor, angle to the axis)``."""
    log_lo, log_hi = np.log(snr[0]), np.log(snr[1])
    brightest = np.exp(rng.uniform(log_lo, log_hi))
    parts = []
    for i, link in enumerate(RGZ_KINDS[kind]):
        # A lone 1C-1P source may be a resolved jet; lobes stay within about a beam.
        size = rng.uniform(0.0, 2.0 if kind == "1C-1P" else 1.0) * beam
        major, minor = np.hypot(size, beam), np.hypot(size * rng.uniform(0.3, 1.0), beam)
        peak = brightest if i == 0 else max(brightest * rng.uniform(0.5, 1.0), snr[0])
        sigma, offset = major / FWHM_PER_SIGMA, 0.0
        if parts:
            prev_offset, prev_peak, prev_major = parts[-1][:3]
            prev_sigma = prev_major / FWHM_PER_SIGMA
            if link == "=":
                # Over about 3 sigma apart two Gaussians of similar peaks show two maxima,
                # and their sum between them stays well above 3 rms.
                gap = rng.uniform(1.25, 1.6) * max(major, prev_major)
            else:
                # Each falls to half the rms before the other begins: separate islands.
                reach = [s * np.sqrt(2 * np.log(2 * p)) for s, p in
                         ((sigma, peak), (prev_sigma, prev_peak))]
                gap = sum(reach) * rng.uniform(1.05, 1.3)
            offset = prev_offset + gap
        parts.append((offset, peak, major, minor, rng.normal(0.0, 0.2)))
    return np.array(parts)


def _render(parts, shape, beam, rms, rng):
    """The image of a layout, or None when the source does not fit the frame."""
    from astropy.modeling.models import Gaussian2D
    from astropy.table import Table
    from photutils.datasets import make_model_image

    h, w = shape
    offset, peak, major, minor, tilt = parts.T
    reach = major / FWHM_PER_SIGMA * np.sqrt(2 * np.log(peak / _SIGMAS))
    offset = offset - (offset.min() + offset.max()) / 2
    angle = rng.uniform(0, np.pi)
    cx, cy = (w - 1) / 2 + rng.uniform(-2, 2), (h - 1) / 2 + rng.uniform(-2, 2)
    x, y = cx + offset * np.cos(angle), cy + offset * np.sin(angle)
    if np.any((x - reach < 0) | (x + reach > w - 1) | (y - reach < 0) | (y + reach > h - 1)):
        return None
    params = Table({"x_mean": x, "y_mean": y, "amplitude": peak * rms,
                    "x_stddev": major / FWHM_PER_SIGMA, "y_stddev": minor / FWHM_PER_SIGMA,
                    "theta": angle + tilt})
    model = make_model_image((h, w), Gaussian2D(), params, x_name="x_mean", y_name="y_mean",
                             bbox_factor=10)
    return model + _correlated_noise((h, w), beam, rms, rng)


def _header(shape, beam, pixel_scale, centre, kind):
    from astropy.wcs import WCS

    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = list(centre)
    wcs.wcs.crpix = [(w + 1) / 2, (h + 1) / 2]
    wcs.wcs.cdelt = [-pixel_scale / 3600, pixel_scale / 3600]
    header = wcs.to_header()
    header["BMAJ"] = (beam * pixel_scale / 3600, "beam major axis FWHM [deg]")
    header["BMIN"] = (beam * pixel_scale / 3600, "beam minor axis FWHM [deg]")
    header["BPA"] = (0.0, "beam position angle [deg]")
    header["BUNIT"] = "Jy/beam"
    header["RGZCLASS"] = (kind, "Radio Galaxy Zoo class, measured")
    return wcs, header


def _check_options(kind, shape, beam_fwhm, snr, rms, pixel_scale):
    if kind not in RGZ_KINDS:
        raise ConfigError(f"kind={kind!r}: not a simulated RGZ class; choose one of "
                          f"{list(RGZ_KINDS)}.")
    h, w = (shape, shape) if np.isscalar(shape) else tuple(shape)
    if not (isinstance(beam_fwhm, int | float) and beam_fwhm > 0 and rms > 0
            and pixel_scale > 0):
        raise ConfigError(f"beam_fwhm={beam_fwhm!r}, rms={rms!r}, pixel_scale={pixel_scale!r}: "
                          "give positive numbers.")
    if min(h, w) < 8 * beam_fwhm:
        raise ConfigError(f"shape={shape!r}: a cutout must span at least 8 beams "
                          f"({math.ceil(8 * beam_fwhm)} pixels for beam_fwhm={beam_fwhm}) to "
                          "hold a radio galaxy; enlarge shape or shrink beam_fwhm.")
    lo, hi = _pair(snr, "snr")
    if lo < 2 * _SIGMAS:
        raise ConfigError(f"snr={snr!r}: components fainter than {2 * _SIGMAS:g} rms barely "
                          "rise above the 3 sigma islands; give a lowest snr of at least "
                          f"{2 * _SIGMAS:g}.")
    return (int(h), int(w)), (lo, hi)


def simulate_radio_galaxy(kind: str, *, shape=64, beam_fwhm: float = 3.0, snr=(20.0, 200.0),
                          rms: float = 1e-4, pixel_scale: float = 1.8,
                          centre=(150.0, 2.0), max_tries: int = 200,
                          seed=None) -> AstroImage:
    """One radio galaxy of an RGZ class, on correlated noise, as a radio cutout.

    Parameters
    ----------
    kind : str
        The class: a key of :data:`RGZ_KINDS` (``"1C-1P"``, ``"1C-2P"``, ``"1C-3P"``,
        ``"2C-2P"``, ``"2C-3P"``, ``"3C-3P"``).
    shape : int or (int, int)
        ``(H, W)`` in pixels; at least 8 beams.
    beam_fwhm : float
        FWHM of the circular restoring beam in pixels.
    snr : float or (float, float)
        Peak signal-to-noise of the brightest component, drawn log-uniformly; the
        others have 0.5 to 1 times its peak, and no less than the lowest snr (at
        least 6).
    rms : float
        Noise rms in Jy/beam.
    pixel_scale : float
        Arcseconds per pixel (FIRST's 1.8 by default, whose 5.4 arcsec beam spans
        the default 3 pixels).
    centre : (float, float)
        RA and Dec of the cutout centre, degrees.
    max_tries : int
        Draws before giving up when the measured class keeps differing from ``kind``.
    seed : int or numpy.random.Generator, optional
        Seed of the draw; equal seeds give equal images.

    Returns
    -------
    AstroImage
        ``(H, W)`` float32 in Jy/beam, with a TAN WCS and a header holding ``BMAJ``,
        ``BMIN``, ``BPA``, ``BUNIT`` and the measured class as ``RGZCLASS``.

    Raises
    ------
    ConfigError
        For an unknown kind or impossible options, or when ``max_tries`` draws give
        no image whose :func:`rgz_label` is ``kind``.
    """
    import astropy.units as u

    shape, snr = _check_options(kind, shape, beam_fwhm, snr, rms, pixel_scale)
    rng = np.random.default_rng(seed)
    for _ in range(int(max_tries)):
        data = _render(_layout(kind, rng, beam_fwhm, snr), shape, beam_fwhm, rms, rng)
        if data is not None and rgz_label(data, rms, beam_fwhm) == kind:
            wcs, header = _header(shape, beam_fwhm, pixel_scale, centre, kind)
            return AstroImage(data.astype(np.float32), wcs=wcs, header=header,
                              unit=u.Jy / u.beam, source=f"<simulated {kind}>")
    raise ConfigError(f"kind={kind!r}: no draw in {max_tries} measured as {kind} with "
                      f"shape={shape}, beam_fwhm={beam_fwhm}, snr={snr}; enlarge shape, "
                      "raise snr or shrink beam_fwhm.")


def write_radio_galaxies(folder, n_per_class: int, *, kinds=("1C-1P", "1C-2P", "2C-2P",
                                                             "2C-3P"),
                         seed: int = 0, **options) -> Path:
    """Write simulated radio galaxies as FITS files, one sub-folder per class.

    Parameters
    ----------
    folder : str or path
        Created if needed; gets ``<kind>/<i>.fits`` (``i`` zero-padded), the layout of
        :class:`astrofm.data.FolderDataset`, whose classes are then the kinds, sorted.
    n_per_class : int
        Images per class.
    kinds : sequence of str
        Classes to write (keys of :data:`RGZ_KINDS`).
    seed : int
        Image ``i`` of a class uses a seed made of ``seed``, the class and ``i``, so
        sets of different sizes or classes share images.
    **options
        :func:`simulate_radio_galaxy` arguments (``shape``, ``beam_fwhm``, ``snr`` ...).

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    from astropy.io import fits

    from astrofm.runtime import positive_int

    n = positive_int(n_per_class, "n_per_class")
    kinds = list(kinds)
    if not kinds:
        raise ConfigError(f"kinds=(): give at least one of {list(RGZ_KINDS)}.")
    for kind in kinds:
        # Checked for every class before the first file is written.
        _check_options(kind, options.get("shape", 64), options.get("beam_fwhm", 3.0),
                       options.get("snr", (20.0, 200.0)), options.get("rms", 1e-4),
                       options.get("pixel_scale", 1.8))
    folder = Path(folder)
    for kind in kinds:
        (folder / kind).mkdir(parents=True, exist_ok=True)
        code = list(RGZ_KINDS).index(kind)
        for i in range(n):
            image = simulate_radio_galaxy(kind, seed=np.random.default_rng([seed, code, i]),
                                          **options)
            fits.PrimaryHDU(image.data, header=image.header).writeto(
                folder / kind / f"{i:05d}.fits", overwrite=True)
    return folder
