"""Generated radio fields with exact boxes, for training and testing detectors.

A field is the sum of elliptical Gaussian sources (photutils'
``make_model_image``) and correlated noise: white Gaussian noise convolved with the
restoring beam and scaled back to the wanted rms, as the noise of a synthesis image is
correlated on the scale of the beam. Point sources have the beam's shape; extended
ones are intrinsic Gaussians convolved with it, whose axes add in quadrature,
:math:`M_\\mathrm{obs} = \\sqrt{M^2 + B^2}`. Peak signal-to-noise ratios are drawn
log-uniformly, so faint sources are as common per decade as bright ones.

Boxes follow :mod:`astrofm.detect.catalog`'s convention for a Gaussian of known FWHM
axes, computed from the true parameters, so they are exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.detect.catalog import FWHM_SCALE, _clip, ellipse_boxes, write_coco
from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = ["simulate_field", "write_simulated", "FWHM_PER_SIGMA"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _pair(value, name):
    lo, hi = (value, value) if np.isscalar(value) else tuple(value)
    if not 0 <= lo <= hi:
        raise ConfigError(f"{name}={value!r}: give a number or a (low, high) pair, low <= high.")
    return float(lo), float(hi)


def _correlated_noise(shape, beam_fwhm, rms, rng):
    from astropy.convolution import Gaussian2DKernel, convolve_fft

    white = rng.standard_normal(shape)
    kernel = Gaussian2DKernel(beam_fwhm / FWHM_PER_SIGMA)
    noise = convolve_fft(white, kernel, boundary="wrap")
    return noise * (rms / noise.std())


def simulate_field(shape=64, *, n_sources=(3, 12), beam_fwhm: float = 2.5, snr=(5.0, 300.0),
                   extended_fraction: float = 0.3, extended_size=(1.0, 4.0), noise: float = 1.0,
                   fwhm_scale: float = FWHM_SCALE, seed=None):
    """One generated radio field and its sources.

    Parameters
    ----------
    shape : int or (int, int)
        ``(H, W)`` in pixels.
    n_sources : int or (int, int)
        Number of sources, or the range it is drawn from (inclusive).
    beam_fwhm : float
        FWHM of the circular restoring beam in pixels.
    snr : float or (float, float)
        Peak signal-to-noise range, drawn log-uniformly.
    extended_fraction : float
        Share of sources that are resolved.
    extended_size : (float, float)
        Range of the intrinsic major FWHM of resolved sources, in beams; the minor axis
        is 0.3 to 1 times the major.
    noise : float
        The rms of the noise.
    fwhm_scale : float
        Box convention :math:`k` (see :mod:`astrofm.detect.catalog`).
    seed : int or numpy.random.Generator, optional
        Seed of the draw; equal seeds give equal fields.

    Returns
    -------
    image : AstroImage
        The ``(H, W)`` float32 field.
    sources : astropy.table.Table
        One row per source whose centre falls on the field: ``x``, ``y`` (edge
        convention), ``peak``, ``snr``, ``major``, ``minor`` (observed FWHM, pixels),
        ``theta`` (radians from +x), ``extended`` and the box ``x0, y0, x1, y1``.
    """
    from astropy.modeling.models import Gaussian2D
    from photutils.datasets import make_model_image

    h, w = (shape, shape) if np.isscalar(shape) else tuple(shape)
    if h < 2 or w < 2 or beam_fwhm <= 0 or noise <= 0:
        raise ConfigError(f"simulate_field needs a shape of at least 2 x 2 pixels and a positive "
                          f"beam and noise; got shape={shape!r}, beam_fwhm={beam_fwhm!r}, "
                          f"noise={noise!r}.")
    rng = np.random.default_rng(seed)
    lo, hi = _pair(n_sources, "n_sources")
    n = int(rng.integers(int(lo), int(hi) + 1))
    s_lo, s_hi = _pair(snr, "snr")
    snrs = np.exp(rng.uniform(np.log(max(s_lo, 1e-3)), np.log(max(s_hi, 1e-3)), n))
    x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
    extended = rng.random(n) < extended_fraction
    e_lo, e_hi = _pair(extended_size, "extended_size")
    major = np.where(extended, rng.uniform(e_lo, e_hi, n) * beam_fwhm, 0.0)
    minor = major * rng.uniform(0.3, 1.0, n)
    major, minor = np.hypot(major, beam_fwhm), np.hypot(minor, beam_fwhm)
    theta = np.where(extended, rng.uniform(0, np.pi, n), 0.0)
    data = _correlated_noise((h, w), beam_fwhm, noise, rng)
    if n:
        params = Table({"x_mean": x - 0.5, "y_mean": y - 0.5, "amplitude": snrs * noise,
                        "x_stddev": major / FWHM_PER_SIGMA, "y_stddev": minor / FWHM_PER_SIGMA,
                        "theta": theta})
        # make_model_image evaluates at pixel centres, 0-based: edge x - 0.5.
        data = data + make_model_image((h, w), Gaussian2D(), params, x_name="x_mean",
                                       y_name="y_mean", bbox_factor=10)
    boxes, _ = _clip(ellipse_boxes(x, y, major, minor, theta, fwhm_scale=fwhm_scale), (h, w))
    sources = Table({"x": x, "y": y, "peak": snrs * noise, "snr": snrs, "major": major,
                     "minor": minor, "theta": theta, "extended": extended,
                     "x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 2], "y1": boxes[:, 3]})
    sources.meta.update(beam_fwhm=float(beam_fwhm), noise=float(noise), fwhm_scale=fwhm_scale)
    return AstroImage(data.astype(np.float32), source="<simulated>"), sources


def write_simulated(folder, n: int, *, seed: int = 0, name: str = "fields", **options) -> Path:
    """Write ``n`` generated fields as FITS files with a COCO JSON of their boxes.

    Parameters
    ----------
    folder : str or path
        Created if needed; gets ``<name>_00000.fits`` ... and ``<name>.json``.
    n : int
        Number of fields.
    seed : int
        Field ``i`` uses seed ``(seed, i)``, so sets of different sizes share fields.
    name : str
        Stem of the file names.
    **options
        :func:`simulate_field` arguments (``shape``, ``beam_fwhm``, ``snr`` ...).

    Returns
    -------
    pathlib.Path
        The COCO JSON file, ready for :class:`astrofm.data.CocoDataset`.
    """
    from astropy.io import fits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(int(n)):
        image, sources = simulate_field(seed=np.random.default_rng([seed, i]), **options)
        file_name = f"{name}_{i:05d}.fits"
        fits.PrimaryHDU(image.data).writeto(folder / file_name, overwrite=True)
        entries.append({"file_name": file_name, "height": image.height, "width": image.width,
                        "boxes": np.stack([sources[c] for c in ("x0", "y0", "x1", "y1")], -1),
                        "labels": np.ones(len(sources), dtype=int)})
    return write_coco(folder / f"{name}.json", entries, classes=["source"])
