"""Generated fields matched to a real image: its noise, background, beam and artefacts.

Training on :func:`~astrofm.detect.simulate_field`'s white-noise fields transfers
badly to a survey whose noise, sidelobes and calibration artefacts they lack. Here the
fields are cut from the target image itself. :func:`~astrofm.detect.target.measure_target`
measures its background and rms maps, beam, sources and noise autocorrelation;
:func:`simulate_like` cuts patches whose share of pixels on (dilated) sources is small,
refills those pixels with noise of the measured autocorrelation scaled by the local
rms (white noise filtered by the square root of the power spectrum, the Fourier
transform of the autocorrelation), and injects
:func:`~astrofm.detect.simulate_field`'s sources (point sources of the beam's shape,
extended Gaussians convolved with it) at a peak signal-to-noise ratio relative to the
local rms. Only sources at or above ``label_snr`` get boxes.

When the image holds fewer distinct (non-overlapping) patches than fields asked for,
patches are cut at random offsets and flipped or turned by quarter turns; the beam
of the injected sources and the field's WCS turn with them, so sources and noise keep
one beam and the header describes the field.
"""

from __future__ import annotations

import numpy as np

from astrofm.detect.catalog import FWHM_SCALE
from astrofm.detect.simulate import (
    LABEL_SNR,
    _beam_area,
    _check_fraction,
    _check_label_snr,
    _covariance,
    _ellipse,
    _inject,
    _pair,
    _write_fields,
    check_fields_folder,
)
from astrofm.detect.target import _beam, _load, measure_target
from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = ["MIN_DENSITY", "simulate_like", "write_simulated_like"]

#: Fewest labelled sources per beam area that the default ``n_sources`` generates. A
#: cutout centred on one source (a FIRST or LoTSS cutout) has so few islands per pixel
#: that fields drawn at its density are nearly all empty, and a detector trained on
#: them finds nothing. One per 100 beams is a few per field, a few times the density
#: of a deep survey (LoTSS-DR2 has about one source per 300 beams), far from confusion.
MIN_DENSITY = 0.01


def _noise_filter(acf, shape):
    """Amplitude spectrum that turns white noise on a torus into noise with ``acf``."""
    reach = acf.shape[0] // 2
    grid = (max(shape[0], 2 * reach + 1), max(shape[1], 2 * reach + 1))
    kernel = np.zeros(grid)
    lags = np.arange(-reach, reach + 1)
    kernel[np.ix_(lags % grid[0], lags % grid[1])] = acf
    # A truncated autocorrelation can have a slightly negative spectrum.
    power = np.clip(np.fft.fft2(kernel).real, 0.0, None)
    return np.sqrt(power / power.mean())


def _correlated(amplitude, shape, rng):
    white = rng.standard_normal(amplitude.shape)
    return np.fft.ifft2(np.fft.fft2(white) * amplitude).real[:shape[0], :shape[1]]


def _corners(mask, shape, max_masked):
    """Lower-left corners of every patch, and whether each is usable and distinct."""
    ph, pw = shape
    total = np.pad(mask.astype(float).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    share = (total[ph:, pw:] - total[:-ph, pw:] - total[ph:, :-pw] + total[:-ph, :-pw])
    ok = share / (ph * pw) <= max_masked
    ys, xs = np.nonzero(ok)
    distinct = (ys % ph == 0) & (xs % pw == 0)
    return np.stack([ys, xs], -1), distinct


def _turn(transpose, flip_x, flip_y):
    """The map of a patch to its field, as an array operation and a pixel matrix."""
    matrix = np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0])
    if transpose:
        matrix = matrix @ np.array([[0.0, 1.0], [1.0, 0.0]])

    def apply(a):
        a = a.T if transpose else a
        return a[::(-1 if flip_y else 1), ::(-1 if flip_x else 1)]

    return apply, matrix


def _header(stats, corner, shape, matrix):
    """A FITS header with the field's WCS and the beam, or None when the target has no WCS.

    The WCS is the target's at the patch, with the field's flips and quarter turns
    (``matrix``, patch pixels to field pixels); the beam on the sky is the target's.
    """
    from astropy.wcs import WCS

    if stats.wcs is None:
        return None
    ph, pw = shape
    scale = stats.wcs.pixel_scale_matrix
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = list(stats.wcs.wcs.ctype)
    wcs.wcs.cunit = list(stats.wcs.wcs.cunit)
    wcs.wcs.crval = stats.wcs.wcs_pix2world([[corner[1] + (pw - 1) / 2,
                                              corner[0] + (ph - 1) / 2]], 0)[0]
    wcs.wcs.crpix = (pw + 1) / 2, (ph + 1) / 2
    wcs.wcs.cd = scale @ matrix.T
    header = wcs.to_header()
    values, vectors = np.linalg.eigh(scale @ _covariance(*stats.beam) @ scale.T)
    header["BMAJ"], header["BMIN"] = float(np.sqrt(values[1])), float(np.sqrt(values[0]))
    # The major axis (east, north); BPA turns from north to east.
    header["BPA"] = float(np.rad2deg(np.arctan2(vectors[0, 1], vectors[1, 1])) % 180.0)
    return header


def _field(stats, corner, shape, turn, amplitude, rng, options):
    """One field: the patch refilled, turned, with sources injected; and its sources."""
    from astropy.wcs import WCS

    (y0, x0), (ph, pw) = corner, shape
    window = np.s_[y0:y0 + ph, x0:x0 + pw]
    background, rms, mask = stats.background[window], stats.rms[window], stats.mask[window]
    fill = background + rms * _correlated(amplitude, shape, rng)
    apply, matrix = _turn(*turn)
    patch = apply(np.where(mask, fill, stats.data[window]))
    rms = apply(rms)
    beam = _ellipse(matrix @ _covariance(*stats.beam) @ matrix.T)
    n_sources = options["n_sources"]
    if n_sources is None:
        n = int(rng.poisson(options["mean_sources"]))
    else:
        n = int(rng.integers(int(n_sources[0]), int(n_sources[1]) + 1))
    model, sources = _inject(rng, shape, n, beam, rms, options)
    data = patch + model
    header = _header(stats, corner, shape, matrix)
    sources.meta.update(beam=tuple(float(b) for b in beam), label_snr=options["label_snr"],
                        fwhm_scale=options["fwhm_scale"], origin=(int(x0), int(y0)),
                        turn=tuple(bool(t) for t in turn), rms=float(np.median(rms)))
    wcs = None if header is None else WCS(header)
    return AstroImage(data.astype(np.float32), wcs=wcs, header=header,
                      source="<simulated like>"), sources


def _labelled_density(stats) -> float:
    """Labelled sources per pixel to generate: the image's, or :data:`MIN_DENSITY`."""
    major, minor, _ = stats.beam
    return max(stats.island_density, MIN_DENSITY / _beam_area(major, minor))


def simulate_like(image, n: int, *, shape=64, n_sources=None, snr=None,
                  extended_fraction: float = 0.3, extended_size=(1.0, 4.0),
                  compound_fraction: float | None = None,
                  label_snr: float = LABEL_SNR, beam_fwhm: float | None = None,
                  max_masked: float = 0.25, box_size: int | None = None,
                  fwhm_scale: float = FWHM_SCALE, seed=None):
    """Generated fields matched to a real image, with catalogue-selection labels.

    Parameters
    ----------
    image : AstroImage or str or path
        The target survey image, 2-D (see :func:`measure_target`).
    n : int
        Number of fields.
    shape : int or (int, int)
        ``(H, W)`` of a field, at most the image's.
    n_sources : int or (int, int), optional
        Number of sources per field, or the range it is drawn from. By default a
        Poisson draw whose mean makes the expected number of labelled sources per
        field equal to the image's number of islands at ``label_snr`` per pixel
        times the field's area, or :data:`MIN_DENSITY` per beam area where the image
        is sparser.
    snr : (float, float), optional
        Peak signal-to-noise range, drawn log-uniformly; by default from 2, below the
        catalogue threshold so that faint unlabelled sources exist, to the image's
        brightest island (at least 50).
    extended_fraction : float
        Share of sources that are resolved.
    extended_size : (float, float)
        Range of the intrinsic major FWHM of resolved sources, in beam major axes; the
        minor axis is 0.3 to 1 times the major.
    compound_fraction : float, optional
        Share of sources made of two or three Gaussians in one island, labelled as one
        catalogue entry (see :mod:`astrofm.detect.compound`); by default the share of
        the image's islands that hold more than one peak
        (``multi_peak_fraction`` of :class:`~astrofm.detect.TargetStats`).
    label_snr : float
        Catalogue threshold: a source is labelled (gets a box) when its peak
        signal-to-noise ratio, its injected peak amplitude over the local rms (the
        rms map at the pixel holding its centre), is at least this.
    beam_fwhm : float, optional
        Circular beam FWHM in pixels, for images whose header has no beam or no WCS;
        it takes precedence over the header's.
    max_masked : float
        Largest share of a patch's pixels on masked sources; they are refilled.
    box_size : int, optional
        ``Background2D`` box side (see :func:`measure_target`).
    fwhm_scale : float
        Box convention :math:`k` (see :mod:`astrofm.detect.catalog`).
    seed : int or numpy.random.Generator, optional
        Seed of the draw; equal seeds give equal fields.

    Returns
    -------
    list of (AstroImage, astropy.table.Table)
        Each field, float32 with a header holding the beam (``BMAJ``, ``BMIN``,
        ``BPA``) and a WCS of the target's pixel scale when the target has a WCS, and
        its sources, labelled or not, with the columns of
        :func:`~astrofm.detect.simulate_field`. ``meta`` holds the field's ``beam`` in
        pixels, ``origin`` (the patch's lower-left pixel ``x, y`` on the target),
        ``turn`` (transpose, flip x, flip y, applied in that order) and median ``rms``.
    """
    image = _load(image)
    h, w = (shape, shape) if np.isscalar(shape) else tuple(shape)
    if not all(isinstance(s, (int, np.integer)) for s in (h, w)) or not (
            1 <= h <= image.height and 1 <= w <= image.width):
        raise ConfigError(f"shape={shape!r}: a field is a patch of the image, so at most "
                          f"{image.height} x {image.width} pixels here.")
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ConfigError(f"n={n!r}: give the number of fields, a whole number >= 0.")
    if not 0 <= max_masked <= 1:
        raise ConfigError(f"max_masked={max_masked!r}: give a share of pixels from 0 to 1.")
    label_snr = _check_label_snr(label_snr)
    if compound_fraction is not None:
        _check_fraction(compound_fraction, "compound_fraction")
    options = {"label_snr": label_snr, "fwhm_scale": fwhm_scale,
               "extended_fraction": float(extended_fraction),
               "extended_size": _pair(extended_size, "extended_size"),
               "n_sources": None if n_sources is None else _pair(n_sources, "n_sources")}
    if snr is not None and _pair(snr, "snr")[0] <= 0:
        raise ConfigError(f"snr={snr!r}: signal-to-noise ratios are drawn log-uniformly, so "
                          "the range must start above 0.")
    _beam(image, beam_fwhm)
    stats = measure_target(image, beam_fwhm=beam_fwhm, box_size=box_size, label_snr=label_snr)
    lo, hi = _pair(snr, "snr") if snr is not None else (2.0, max(stats.peak_snr, 50.0))
    options["snr"] = lo, hi
    options["compound_fraction"] = (stats.multi_peak_fraction if compound_fraction is None
                                    else compound_fraction)
    # Scaled so that the expected number above the threshold matches the image's.
    above = np.log(hi / max(lo, label_snr)) / np.log(hi / lo) if hi > max(lo, label_snr) else 0
    options["mean_sources"] = _labelled_density(stats) * h * w / (above if above > 0 else 1.0)
    corners, distinct = _corners(stats.mask, (h, w), max_masked)
    if not len(corners):
        raise ConfigError(f"max_masked={max_masked!r}: no {h} x {w} patch of {image.source} "
                          "has so small a share of its pixels on sources; raise max_masked or "
                          "ask for a smaller shape.")
    rng = np.random.default_rng(seed)
    if n <= distinct.sum():
        picks = corners[distinct][rng.choice(int(distinct.sum()), n, replace=False)]
        turns = np.zeros((n, 3), dtype=bool)
    else:
        picks = corners[rng.integers(0, len(corners), n)]
        turns = rng.random((n, 3)) < 0.5
        turns[:, 0] &= h == w  # only a square patch can be transposed
    amplitude = _noise_filter(stats.acf, (h, w))
    return [_field(stats, corner, (h, w), turn, amplitude, child, options)
            for corner, turn, child in zip(picks, turns, rng.spawn(n), strict=True)]


def write_simulated_like(folder, image, n: int, *, seed: int = 0, name: str = "fields",
                         **options):
    """Write ``n`` fields matched to ``image`` as FITS files with a COCO JSON of their boxes.

    Parameters
    ----------
    folder : str or path
        Created if needed; gets ``<name>_00000.fits`` ... and ``<name>.json``.
    image : AstroImage or str or path
        The target survey image.
    n : int
        Number of fields.
    seed : int
        Seed of the draw.
    name : str
        Stem of the file names.
    **options
        :func:`simulate_like` arguments (``shape``, ``snr``, ``label_snr`` ...); only
        labelled sources get boxes.

    Returns
    -------
    pathlib.Path
        The COCO JSON file, ready for :class:`astrofm.data.CocoDataset`.
    """
    check_fields_folder(folder, name)
    return _write_fields(folder, name, simulate_like(image, n, seed=seed, **options))
