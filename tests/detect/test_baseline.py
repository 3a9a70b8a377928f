"""The photutils baseline: segmentation + deblending, boxes from second moments."""

import numpy as np
import pytest

from astrofm.errors import ConfigError


@pytest.fixture(scope="module")
def field():
    """A 64 px field of four bright point sources, well apart, beam 3 px, noise rms 1."""
    from astrofm.detect import simulate_field

    return simulate_field(64, n_sources=(4, 4), beam_fwhm=3.0, snr=(60.0, 60.0),
                          extended_fraction=0.0, seed=10)


def test_boxes_are_photutils_second_moment_ellipses(field):
    from astropy.convolution import convolve
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import (
        SourceCatalog,
        deblend_sources,
        detect_sources,
        make_2dgaussian_kernel,
    )

    from astrofm.detect.baseline import segmentation_catalog

    image, sources = field
    found = segmentation_catalog(image, beam_fwhm=3.0, min_snr=None)
    # photutils run by hand, with the documented settings.
    data = image.data.astype(float)
    _, median, rms = sigma_clipped_stats(data, sigma=3.0)
    data = data - median
    smoothed = convolve(data, make_2dgaussian_kernel(3.0, size=13))
    _, _, smoothed_rms = sigma_clipped_stats(smoothed, sigma=3.0)
    segments = detect_sources(smoothed, 3.0 * smoothed_rms, n_pixels=5)
    segments = deblend_sources(smoothed, segments, n_pixels=5, n_levels=32, contrast=0.001,
                               progress_bar=False)
    cat = SourceCatalog(data, segments, convolved_data=smoothed)
    assert len(found) == len(cat)
    order = np.argsort(-np.asarray(cat.max_value))
    # The box of an ellipse of semi-axes a, b at angle t spans
    # sqrt(a^2 cos^2 t + b^2 sin^2 t) either side of the centre along x.
    a = 2.3548 * np.asarray(cat.semimajor_axis)[order]
    b = 2.3548 * np.asarray(cat.semiminor_axis)[order]
    t = np.deg2rad(np.asarray(cat.orientation))[order]
    half_x = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    half_y = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    x = np.asarray(cat.x_centroid)[order] + 0.5
    y = np.asarray(cat.y_centroid)[order] + 0.5
    tol = {"rtol": 1e-3, "atol": 1e-3}
    assert np.allclose(found["x0"], np.clip(x - half_x, 0, 64), **tol)
    assert np.allclose(found["x1"], np.clip(x + half_x, 0, 64), **tol)
    assert np.allclose(found["y0"], np.clip(y - half_y, 0, 64), **tol)
    assert np.allclose(found["y1"], np.clip(y + half_y, 0, 64), **tol)
    assert np.allclose(found["snr"], np.asarray(cat.max_value)[order] / rms, rtol=1e-6)
    assert np.allclose(found["score"], found["snr"])
    # Every injected source is found within half a pixel of where it was put.
    offsets = np.hypot(found["x"][:, None] - sources["x"][None, :],
                       found["y"][:, None] - sources["y"][None, :])
    assert offsets.min(axis=0) == pytest.approx(np.zeros(len(sources)), abs=0.5)


def test_min_snr_cuts_on_peak_snr(field):
    from astrofm.detect.baseline import segmentation_catalog

    image, _ = field
    every = segmentation_catalog(image, beam_fwhm=3.0, min_snr=None)
    bright = segmentation_catalog(image, beam_fwhm=3.0, min_snr=30.0)
    assert len(bright) == np.sum(np.asarray(every["snr"]) >= 30.0) == 4
    assert np.all(np.asarray(bright["snr"]) >= 30.0)


def test_noise_alone_gives_an_empty_catalogue():
    from astrofm.detect.baseline import segmentation_catalog

    noise = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    empty = segmentation_catalog(noise, beam_fwhm=2.0, min_snr=50.0, detect_snr=50.0)
    assert len(empty) == 0 and "snr" in empty.colnames


@pytest.mark.parametrize("option", [{"min_snr": 0}, {"detect_snr": -1.0}, {"n_pixels": 0},
                                    {"beam_fwhm": 0.0}])
def test_bad_options_raise_config_error(option):
    from astrofm.detect.baseline import segmentation_catalog

    options = {"beam_fwhm": 2.0, **option}
    with pytest.raises(ConfigError, match=next(iter(option))):
        segmentation_catalog(np.zeros((16, 16), dtype=np.float32), **options)
