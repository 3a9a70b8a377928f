"""Generated radio fields with exact boxes, for training and testing detectors.

A field is the sum of elliptical Gaussian sources (photutils'
``make_model_image``) and correlated noise: white Gaussian noise convolved with the
restoring beam and scaled back to the wanted rms, as the noise of a synthesis image is
correlated on the scale of the beam. Point sources have the beam's shape; extended
ones are intrinsic Gaussians convolved with it: their covariances add, so for a
circular beam the axes add in quadrature, :math:`M_\\mathrm{obs} = \\sqrt{M^2 + B^2}`.
Peak signal-to-noise ratios are drawn log-uniformly, so faint sources are as common
per decade as bright ones.

Labels follow a catalogue's selection: a source gets a box only when its peak
signal-to-noise ratio, the injected peak over the local noise rms, is at least
``label_snr`` (5 by default, PyBDSF's ``thresh_pix``); fainter ones stay in the image,
unlabelled, as they are in a real field. Boxes follow :mod:`astrofm.detect.catalog`'s
convention for a Gaussian of known FWHM axes, computed from the true parameters, so
they are exact. :mod:`astrofm.detect.simulate_like` generates fields matched to a
real image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.detect.catalog import FWHM_SCALE, _clip, ellipse_boxes, write_coco
from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = ["simulate_field", "write_simulated", "FWHM_PER_SIGMA", "LABEL_SNR"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Default catalogue threshold on the peak signal-to-noise ratio (PyBDSF's ``thresh_pix``).
LABEL_SNR = 5.0


def _pair(value, name):
    lo, hi = (value, value) if np.isscalar(value) else tuple(value)
    if not 0 <= lo <= hi:
        raise ConfigError(f"{name}={value!r}: give a number or a (low, high) pair, low <= high.")
    return float(lo), float(hi)


def _check_label_snr(label_snr):
    if not (isinstance(label_snr, (int, float, np.number)) and label_snr >= 0):
        raise ConfigError(f"label_snr={label_snr!r}: give the catalogue's peak signal-to-noise "
                          "threshold, a number >= 0 (5 for PyBDSF's default thresh_pix).")
    return float(label_snr)


def _beam_area(major: float, minor: float | None = None) -> float:
    """Area of a Gaussian beam of FWHM axes ``major`` and ``minor`` (circular without it),
    :math:`\\pi M m / (4 \\ln 2)`, in the units of the axes squared."""
    return float(np.pi * major * (major if minor is None else minor) / (4 * np.log(2)))


def _check_fraction(value, name):
    if not (isinstance(value, (int, float, np.number)) and 0 <= value <= 1):
        raise ConfigError(f"{name}={value!r}: give a share of sources, from 0 to 1.")
    return float(value)


def _correlated_noise(shape, beam_fwhm, rms, rng):
    from astropy.convolution import Gaussian2DKernel, convolve_fft

    white = rng.standard_normal(shape)
    kernel = Gaussian2DKernel(beam_fwhm / FWHM_PER_SIGMA)
    noise = convolve_fft(white, kernel, boundary="wrap")
    return noise * (rms / noise.std())


def _covariance(major, minor, theta):
    """``(..., 2, 2)`` matrices of ellipses in FWHM squared (pixels), angle from +x."""
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    return rot @ (np.stack([np.square(major), np.square(minor)], -1)[..., None] *
                  np.swapaxes(rot, -1, -2))


def _ellipse(cov):
    """FWHM ``major, minor`` and ``theta`` (radians from +x, in [0, pi)) of covariances."""
    values, vectors = np.linalg.eigh(cov)
    major, minor = np.sqrt(values[..., 1]), np.sqrt(np.clip(values[..., 0], 0, None))
    theta = np.mod(np.arctan2(vectors[..., 1, 1], vectors[..., 0, 1]), np.pi)
    # A round ellipse has no axis; 0 keeps circular beams as they were drawn before.
    theta = np.where(np.isclose(major, minor, rtol=1e-9), 0.0, theta)
    return major, minor, theta


def _draw_sources(rng, n, shape, beam, snr, extended_fraction, extended_size):
    """Positions, peak S/N and observed ellipses of ``n`` sources seen with ``beam``.

    ``beam`` is ``(major, minor, theta)`` in pixels and radians from +x; intrinsic sizes
    are in units of its major axis.
    """
    h, w = shape
    s_lo, s_hi = snr
    snrs = np.exp(rng.uniform(np.log(max(s_lo, 1e-3)), np.log(max(s_hi, 1e-3)), n))
    x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
    extended = rng.random(n) < extended_fraction
    e_lo, e_hi = extended_size
    major = np.where(extended, rng.uniform(e_lo, e_hi, n) * beam[0], 0.0)
    minor = major * rng.uniform(0.3, 1.0, n)
    theta = np.where(extended, rng.uniform(0, np.pi, n), 0.0)
    major, minor, theta = _ellipse(_covariance(major, minor, theta) + _covariance(*beam))
    return x, y, snrs, major, minor, theta, extended


def _render(shape, x, y, peak, major, minor, theta):
    """The image of Gaussian sources (edge-convention centres, FWHM axes)."""
    from astropy.modeling.models import Gaussian2D
    from photutils.datasets import make_model_image

    if not len(x):
        return np.zeros(shape)
    params = Table({"x_mean": x - 0.5, "y_mean": y - 0.5, "amplitude": peak,
                    "x_stddev": major / FWHM_PER_SIGMA, "y_stddev": minor / FWHM_PER_SIGMA,
                    "theta": theta})
    # make_model_image evaluates at pixel centres, 0-based: edge x - 0.5.
    return make_model_image(shape, Gaussian2D(), params, x_name="x_mean", y_name="y_mean",
                            bbox_factor=10)


def _source_table(shape, parts, peak, entry, *, label_snr, fwhm_scale):
    """One row per catalogue entry: the Gaussians of ``entry`` (see
    :func:`~astrofm.detect.compound.catalogue_entries`) boxed by the union of theirs."""
    n = int(entry.max()) + 1 if len(entry) else 0
    boxes = ellipse_boxes(parts["x"], parts["y"], parts["major"], parts["minor"],
                          parts["theta"], fwhm_scale=fwhm_scale)
    union = np.stack([np.full(n, np.inf), np.full(n, np.inf), np.full(n, -np.inf),
                      np.full(n, -np.inf)], -1)
    for k, combine in enumerate((np.minimum, np.minimum, np.maximum, np.maximum)):
        combine.at(union[:, k], entry, boxes[:, k])
    union, inside = _clip(union, shape)
    # Each entry is described by its brightest Gaussian, placed at the flux centre.
    order = np.lexsort((-parts["snr"], entry))
    brightest = order[np.r_[True, entry[order][1:] != entry[order][:-1]]] if n else order
    weight = np.bincount(entry, peak, n)
    snr = parts["snr"][brightest]
    return Table({"x": np.bincount(entry, peak * parts["x"], n) / weight,
                  "y": np.bincount(entry, peak * parts["y"], n) / weight,
                  "peak": peak[brightest], "snr": snr, "major": parts["major"][brightest],
                  "minor": parts["minor"][brightest], "theta": parts["theta"][brightest],
                  "extended": np.bincount(entry, parts["extended"], n) > 0,
                  "components": np.bincount(entry, minlength=n), "labelled": snr >= label_snr,
                  "x0": union[:, 0], "y0": union[:, 1], "x1": union[:, 2], "y1": union[:, 3]}
                 )[inside]  # a chain's Gaussian that fell apart from it may lie off the field


def _inject(rng, shape, n, beam, rms, options):
    """The noiseless image of ``n`` drawn sources and their catalogue table.

    ``rms`` is a number or an ``(H, W)`` map: a source's peak S/N is against the rms at
    the pixel holding its centre. ``options`` holds ``snr``, ``extended_fraction``,
    ``extended_size``, ``compound_fraction``, ``label_snr`` and ``fwhm_scale``.
    """
    from astrofm.detect.compound import catalogue_entries, chains

    h, w = shape
    parts = chains(rng, *_draw_sources(rng, n, shape, beam, options["snr"],
                                       options["extended_fraction"], options["extended_size"]),
                   options["compound_fraction"])
    rms = np.broadcast_to(np.asarray(rms, dtype=float), shape)
    col = np.clip(parts["x"].astype(int), 0, w - 1)
    row = np.clip(parts["y"].astype(int), 0, h - 1)
    peak = parts["snr"] * rms[row, col]

    def model(which):
        return _render(shape, *(parts[k][which] for k in ("x", "y")), peak[which],
                       *(parts[k][which] for k in ("major", "minor", "theta")))

    entry = catalogue_entries(shape, parts, model, rms)
    return model(np.arange(len(peak))), _source_table(
        shape, parts, peak, entry, label_snr=options["label_snr"],
        fwhm_scale=options["fwhm_scale"])


def simulate_field(shape=64, *, n_sources=(3, 12), beam_fwhm: float = 2.5, snr=(5.0, 300.0),
                   extended_fraction: float = 0.3, extended_size=(1.0, 4.0),
                   compound_fraction: float = 0.0, noise: float = 1.0,
                   label_snr: float = LABEL_SNR, fwhm_scale: float = FWHM_SCALE, seed=None):
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
    compound_fraction : float
        Share of sources made of two or three Gaussians in a chain, one island with
        several peaks, labelled as one catalogue entry (see
        :mod:`astrofm.detect.compound`).
    noise : float
        The rms of the noise.
    label_snr : float
        Catalogue threshold: a source is labelled (gets a box) when its peak
        signal-to-noise ratio, its injected peak amplitude over the noise rms, is at
        least this; fainter sources stay in the image, unlabelled.
    fwhm_scale : float
        Box convention :math:`k` (see :mod:`astrofm.detect.catalog`).
    seed : int or numpy.random.Generator, optional
        Seed of the draw; equal seeds give equal fields.

    Returns
    -------
    image : AstroImage
        The ``(H, W)`` float32 field.
    sources : astropy.table.Table
        One row per source whose box centre falls on the field, labelled or not: ``x``,
        ``y`` (edge convention), ``peak``, ``snr``, ``major``, ``minor`` (observed FWHM,
        pixels), ``theta`` (radians from +x), ``extended``, ``components`` (its
        Gaussians), ``labelled`` and the box ``x0, y0, x1, y1``. A source of several
        Gaussians is placed at their flux centre, described by its brightest one, and
        boxed by the union of their boxes.
    """
    h, w = (shape, shape) if np.isscalar(shape) else tuple(shape)
    if h < 2 or w < 2 or beam_fwhm <= 0 or noise <= 0:
        raise ConfigError(f"simulate_field needs a shape of at least 2 x 2 pixels and a positive "
                          f"beam and noise; got shape={shape!r}, beam_fwhm={beam_fwhm!r}, "
                          f"noise={noise!r}.")
    label_snr = _check_label_snr(label_snr)
    rng = np.random.default_rng(seed)
    lo, hi = _pair(n_sources, "n_sources")
    n = int(rng.integers(int(lo), int(hi) + 1))
    model, sources = _inject(rng, (h, w), n, (beam_fwhm, beam_fwhm, 0.0), noise, {
        "snr": _pair(snr, "snr"), "extended_fraction": extended_fraction,
        "extended_size": _pair(extended_size, "extended_size"),
        "compound_fraction": _check_fraction(compound_fraction, "compound_fraction"),
        "label_snr": label_snr, "fwhm_scale": fwhm_scale})
    data = _correlated_noise((h, w), beam_fwhm, noise, rng) + model
    sources.meta.update(beam_fwhm=float(beam_fwhm), noise=float(noise), fwhm_scale=fwhm_scale,
                        label_snr=label_snr)
    return AstroImage(data.astype(np.float32), source="<simulated>"), sources


def check_fields_folder(folder, name: str) -> Path:
    """Check, before any field is drawn, that ``folder`` can take the fields' files.

    Raises
    ------
    ConfigError
        Naming ``folder`` (a file, or not writable).
    """
    from astrofm.runtime import check_writable

    return check_writable(Path(folder) / f"{name}.json", "folder")


def _write_fields(folder, name: str, fields) -> Path:
    """Write ``(image, sources)`` pairs as FITS files (with their headers) and a COCO JSON
    of the boxes of their labelled sources."""
    from astropy.io import fits

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (image, sources) in enumerate(fields):
        file_name = f"{name}_{i:05d}.fits"
        fits.PrimaryHDU(image.data, header=image.header).writeto(folder / file_name,
                                                                 overwrite=True)
        labelled = sources[sources["labelled"]]
        entries.append({"file_name": file_name, "height": image.height, "width": image.width,
                        "boxes": np.stack([labelled[c] for c in ("x0", "y0", "x1", "y1")], -1),
                        "labels": np.ones(len(labelled), dtype=int)})
    return write_coco(folder / f"{name}.json", entries, classes=["source"])


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
        :func:`simulate_field` arguments (``shape``, ``beam_fwhm``, ``snr``,
        ``label_snr`` ...); only labelled sources get boxes.

    Returns
    -------
    pathlib.Path
        The COCO JSON file, ready for :class:`astrofm.data.CocoDataset`.
    """
    check_fields_folder(folder, name)
    fields = (simulate_field(seed=np.random.default_rng([seed, i]), **options)
              for i in range(int(n)))
    return _write_fields(folder, name, fields)
