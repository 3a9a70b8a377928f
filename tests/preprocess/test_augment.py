"""Strong augmentation of sky images: where each perturbation acts and what it keeps."""

import numpy as np
import pytest
import torch
from astropy.stats import mad_std

from astrofm.image import AstroImage
from astrofm.preprocess import Normalize, Pipeline, ResizeForPatch, SigmaClip, Stretch, ToChannels
from astrofm.preprocess.augment import StrongAugment, add_noise


def _noise_image(sigma=2.0, side=256, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, sigma, size=(side, side)).astype(np.float32)
    data[120:136, 120:136] += 200.0  # a bright source, which the robust rms ignores
    return AstroImage(data, source="noise.fits")


@pytest.mark.parametrize("factor", [0.5, 1.0, 2.0])
def test_noise_is_added_at_the_stated_multiple_of_the_images_own_rms(factor):
    image = _noise_image()
    out = add_noise(image, factor, np.random.default_rng(1))
    before, after = mad_std(image.data), mad_std(out.data)
    # independent Gaussian noise adds in quadrature
    assert after == pytest.approx(before * np.sqrt(1 + factor**2), rel=0.05)


def test_strong_physical_step_keeps_pixels_where_they_are():
    image = _noise_image()
    image.mask[0, :5] = True
    augment = StrongAugment(Pipeline([]), noise=(1.0, 1.0), blur=(1.0, 1.0), blur_p=1.0)
    out = augment.physical(image)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out.mask, image.mask)
    assert out.geometry.is_identity and out.wcs is image.wcs
    # the blur spreads the source but keeps its centre: the brightest pixel stays in it
    y, x = np.unravel_index(np.argmax(out.data), out.shape)
    assert 120 <= y < 136 and 120 <= x < 136
    # blurring lowers the pixel-to-pixel noise below the noise-added image's sqrt(2)
    assert mad_std(out.data) < np.sqrt(2) * mad_std(image.data)


def test_clip_and_stretch_limits_vary_within_the_stated_range():
    pipe = Pipeline([SigmaClip(3.0), Stretch("asinh", "zscale", a=0.1)])
    augment = StrongAugment(pipe, limits=0.1, stretch=1.0)
    torch.manual_seed(0)
    drawn = [augment.pipeline() for _ in range(30)]
    sigmas = np.array([p[0].sigma for p in drawn])
    a = np.array([p[1].params["a"] for p in drawn])
    contrast = np.array([p[1].params["contrast"] for p in drawn])
    assert np.all((sigmas >= 2.7) & (sigmas <= 3.3)) and np.ptp(sigmas) > 0.2
    assert np.all((a >= 0.05) & (a <= 0.2)) and np.ptp(a) > 0.05
    assert np.all((contrast >= 0.125) & (contrast <= 0.5)) and np.ptp(contrast) > 0.1
    # the classifier's own pipeline is left as it was
    assert pipe[0].sigma == 3.0 and pipe[1].params["a"] == 0.1


def test_manual_limits_of_display_images_move_by_a_fraction_of_their_span():
    augment = StrongAugment(Pipeline([Stretch("linear", "manual", vmin=0.0, vmax=255.0)]),
                            limits=0.1)
    torch.manual_seed(0)
    limits = np.array([[p[0].params["vmin"], p[0].params["vmax"]]
                       for p in (augment.pipeline() for _ in range(30))])
    assert np.all(np.abs(limits[:, 0]) <= 25.5) and np.all(np.abs(limits[:, 1] - 255) <= 25.5)
    assert np.ptp(limits[:, 0]) > 5 and np.ptp(limits[:, 1]) > 5


def test_no_colour_operation_on_a_single_band_image():
    """A single band replicated into three channels keeps three identical channels."""
    pipe = Pipeline([SigmaClip(3.0, "zero"), Stretch("asinh", "zscale", exclude_zeros=True),
                     ResizeForPatch(None, 32), ToChannels("replicate", n=3), Normalize(0.5, 0.25)])
    augment = StrongAugment(pipe, blur_p=1.0, erase_p=1.0)
    torch.manual_seed(0)
    for _ in range(5):
        view = augment(_noise_image(side=64))
        assert view.shape == (3, 32, 32)
        torch.testing.assert_close(view[1], view[0], rtol=0, atol=0)
        torch.testing.assert_close(view[2], view[0], rtol=0, atol=0)


def test_bad_settings_are_refused():
    from astrofm.errors import ConfigError

    with pytest.raises(ConfigError, match="noise"):
        StrongAugment(Pipeline([]), noise=(1.0, 0.5))
    with pytest.raises(ConfigError, match="erase_p"):
        StrongAugment(Pipeline([]), erase_p=2)
