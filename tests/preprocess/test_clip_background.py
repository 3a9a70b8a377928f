import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats
from photutils.background import Background2D, MedianBackground, SExtractorBackground
from photutils.datasets import make_100gaussians_image

from astrofm import AstroImage
from astrofm.errors import ConfigError, ImageValueError, UnknownNameError
from astrofm.preprocess import SigmaClip, SubtractBackground

from .conftest import radio_like


@pytest.mark.parametrize("mode", ["zero", "floor"])
def test_sigma_clip_threshold_matches_sigma_clipped_stats(mode):
    x = radio_like()
    mean, _, std = sigma_clipped_stats(x)
    t = np.float32(mean + 2.5 * std)
    out = SigmaClip(2.5, mode)(AstroImage(x)).data
    expected = np.where(x < t, 0.0 if mode == "zero" else t, x)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32


def test_sigma_clip_per_channel_and_mask():
    a, b = radio_like(seed=1), 100 * radio_like(seed=2)
    mask = np.zeros((2, *a.shape), bool)
    mask[1, :10] = True
    data = np.stack([a, b])
    data[1, :10] = np.nan
    out = SigmaClip(3)(AstroImage(data, mask=mask))
    for channel, x, m in zip(out.data, (a, b), mask, strict=True):
        mean, _, std = sigma_clipped_stats(x[~m])
        expected = np.where((x < mean + 3 * std) | m, 0.0, x)
        np.testing.assert_allclose(channel, expected, rtol=1e-6)
    assert np.isfinite(out.data).all()
    assert out.mask[1, :10].all() and not out.mask[0].any()


def test_sigma_clip_subsamples_large_images_deterministically():
    x = radio_like(shape=(400, 400), lobes=((200, 200),))
    full = SigmaClip(3).threshold(x, np.zeros(x.shape, bool))
    sub = SigmaClip(3, max_samples=10_000)
    assert sub.threshold(x, np.zeros(x.shape, bool)) == pytest.approx(full, rel=0.05)
    assert np.array_equal(sub(AstroImage(x)).data, sub(AstroImage(x)).data)


def test_sigma_clip_bad_input():
    with pytest.raises(ImageValueError, match="nan.fits"):
        SigmaClip()(AstroImage(np.full((10, 10), np.nan), source="nan.fits"))
    with pytest.raises(UnknownNameError, match="floor"):
        SigmaClip(mode="clip")
    constant = SigmaClip()(AstroImage(np.full((10, 10), 4.0)))
    assert np.array_equal(constant.data, np.full((10, 10), 4.0))


def test_background_matches_background2d():
    data = make_100gaussians_image().astype(np.float32)  # AstroImage holds float32
    out = SubtractBackground(50, filter_size=3)(AstroImage(data))
    bkg = Background2D(data, (50, 50), filter_size=(3, 3),
                       bkg_estimator=MedianBackground())
    np.testing.assert_allclose(out.data, data - bkg.background, rtol=1e-5, atol=1e-4)
    sex = SubtractBackground((25, 40), 5, estimator="sextractor")(AstroImage(data))
    bkg = Background2D(data, (25, 40), filter_size=(5, 5), bkg_estimator=SExtractorBackground())
    np.testing.assert_allclose(sex.data, data - bkg.background, rtol=1e-5, atol=1e-4)


def test_background_box_larger_than_image_is_clipped():
    data = radio_like(shape=(40, 60)) + 7.0
    out = SubtractBackground(500)(AstroImage(data))
    bkg = Background2D(data, (40, 60), filter_size=(1, 1),
                       bkg_estimator=MedianBackground())
    np.testing.assert_allclose(out.data, data - bkg.background, atol=1e-5)
    assert abs(np.median(out.data)) < 1e-3


def test_background_bad_input():
    with pytest.raises(ConfigError, match="box_size"):
        SubtractBackground(0)
    with pytest.raises(ConfigError, match="box_size"):
        SubtractBackground((10, 10, 10))
    mostly_masked = np.where(np.arange(2500).reshape(50, 50) % 7 == 0, np.nan, 1.0)
    with pytest.raises(ImageValueError, match="box_size"):
        SubtractBackground(16)(AstroImage(mostly_masked))
