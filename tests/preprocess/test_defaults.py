import numpy as np
import pytest
from photutils.datasets import make_4gaussians_image

from astrofm import AstroImage
from astrofm.errors import ConfigError, ImageShapeError, ImageValueError, UnknownNameError
from astrofm.preprocess import IMAGENET_MEAN, IMAGENET_STD, default_pipeline

from .conftest import radio_like


def _names(pipe):
    return [type(s).__name__ for s in pipe]


def test_float_and_display_pipelines():
    fits = default_pipeline("fits")
    assert _names(fits) == ["SigmaClip", "Stretch", "ResizeForPatch", "ToChannels", "Normalize"]
    assert fits[1].to_dict() == {"step": "Stretch", "kind": "asinh", "interval": "zscale",
                                 "exclude_zeros": True}
    png = default_pipeline("png")
    assert _names(png) == ["Stretch", "ResizeForPatch", "ToChannels", "Normalize"]
    assert png[0].to_dict() == {"step": "Stretch", "kind": "linear", "interval": "manual",
                                "vmin": 0.0, "vmax": 255.0}
    assert default_pipeline(AstroImage(np.zeros((4, 4)), display=True)) == png
    assert default_pipeline(AstroImage(np.zeros((4, 4)))) == fits
    with pytest.raises(UnknownNameError, match="fits"):
        default_pipeline("tiff-ish")


def test_backbone_declaration_is_passed_through():
    pipe = default_pipeline("fits", patch_size=16, size=(224, 448), mean=0.5, std=0.25,
                            channels=1)
    out = pipe(AstroImage(radio_like()))
    assert out.shape == (1, 224, 448)
    assert pipe[-1].to_dict() == {"step": "Normalize", "mean": 0.5, "std": 0.25}
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        default_pipeline("fits", patch_size=14, size=100)
    with pytest.raises(ConfigError, match="mean and std"):
        default_pipeline("fits", channels=4)


def test_display_image_is_only_scaled():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 56, 56)).astype(np.float32)
    out = default_pipeline("png", size=56)(AstroImage(rgb, display=True))
    expected = (rgb / 255 - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(
        IMAGENET_STD)[:, None, None]
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-5)


def test_radio_source_survives_the_default_pipeline():
    image = AstroImage(radio_like())
    out = default_pipeline("fits", mean=0.0, std=1.0)(image).data
    assert out.max() == pytest.approx(1.0)
    assert (out[0] > 0.1).sum() > 100  # both lobes, upsampled
    assert np.median(out) == 0.0  # the noise is gone


@pytest.mark.parametrize(
    "data",
    [
        np.full((64, 64), 3.0),
        np.zeros((64, 64)),
        np.where(np.eye(64, dtype=bool), np.nan, radio_like(shape=(64, 64))),
        make_4gaussians_image(),
        np.full((5, 7), -2.0),
    ],
    ids=["constant", "zeros", "nan-diagonal", "4gaussians", "smaller-than-a-patch"],
)
@pytest.mark.parametrize("kind", ["fits", "png"])
def test_no_nan_or_inf_anywhere(data, kind):
    image = AstroImage(data, display=kind == "png")
    pipe = default_pipeline(kind)
    for step in pipe:
        image = step(image)
        assert np.isfinite(image.data).all(), type(step).__name__
    assert image.shape == (3, 224, 224)


def test_bad_images():
    pipe = default_pipeline("fits")
    with pytest.raises(ImageValueError, match="all_nan.fits"):
        pipe(AstroImage(np.full((32, 32), np.nan), source="all_nan.fits"))
    with pytest.raises(ImageShapeError, match="one.fits"):
        pipe(AstroImage(np.ones((1, 1)), source="one.fits"))
    with pytest.raises(ImageShapeError, match="no pixels"):
        pipe(AstroImage(np.ones((0, 5))))
