import importlib

import numpy as np
import pytest
import torch
from PIL import Image

import astrofm
from astrofm.errors import ConfigError, UnknownNameError
from astrofm.features import adapt, default_preprocessing
from astrofm.preprocess import CropToBox, Pipeline, ResizeForPatch, Stretch, ToChannels


def test_float_fits_is_clipped_and_stretched(tiny_vit, fits_files):
    batch = adapt(fits_files[:2], model=tiny_vit, size=56)
    assert batch.tensor.shape == (2, 3, 56, 56)
    steps = [s["step"] for s in batch.meta[0]["steps"]]
    assert steps == ["SigmaClip", "Stretch", "ResizeForPatch", "ToChannels", "Normalize"]
    assert batch.meta[1]["source"] == str(fits_files[1])


def test_display_png_is_not_stretched_again(tiny_vit, tmp_path, fits_files):
    png = tmp_path / "a.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)).save(png)
    batch = adapt([png, fits_files[0]], model=tiny_vit, size=56)
    png_steps = batch.meta[0]["steps"]
    assert "SigmaClip" not in [s["step"] for s in png_steps]
    assert png_steps[0] == {"step": "Stretch", **Stretch("linear", "manual", vmin=0.0,
                                                          vmax=255.0).get_config()}
    # the un-normalised PNG pixels are x / 255: undo Normalize and compare
    spec = tiny_vit.spec
    raw = batch.tensor[0] * torch.tensor(spec.std)[:, None, None] + torch.tensor(
        spec.mean)[:, None, None]
    assert float(raw.min()) >= -1e-5 and float(raw.max()) <= 1 + 1e-5


def test_features_match_the_backbone(tiny_vit, fits_files):
    batch = adapt(fits_files, model=tiny_vit, size=56)
    with torch.inference_mode():
        direct = tiny_vit.features(batch.tensor, pooling="mean")
    torch.testing.assert_close(batch.features(pooling="mean", batch_size=2), direct)
    assert batch.features().shape == (5, tiny_vit.spec.feature_dim)


def test_geometry_maps_back_to_pixels_and_sky(tiny_vit, fits_files, sky_wcs):
    crop = CropToBox((16, 8, 48, 40))
    pipe = Pipeline([crop, ResizeForPatch(14, 56), ToChannels("replicate")])
    batch = adapt(fits_files[0], model=tiny_vit, preprocessing=pipe)
    np.testing.assert_allclose(batch.to_original([[0, 0, 56, 56]]), [[16, 8, 48, 40]])
    centre = batch.to_sky(28, 28)
    expected = sky_wcs(ra=150.0).pixel_to_world(32 - 0.5, 24 - 0.5)
    assert centre.separation(expected).arcsec < 1e-6


def test_replace_and_drop_steps(tiny_vit, fits_files):
    pre = default_preprocessing(tiny_vit.spec, size=28,
                                replace={"Stretch": Stretch("sqrt", "minmax"), "SigmaClip": None})
    steps = [s["step"] for s in pre.float.to_dict()["steps"]]
    assert steps[0] == "Stretch" and "SigmaClip" not in steps
    assert pre.float[0].get_config()["kind"] == "sqrt"
    assert astrofm.preprocess.from_dict(pre.to_dict()) == pre
    with pytest.raises(ConfigError, match="no step"):
        default_preprocessing(tiny_vit.spec, replace={"Blur": None})


def test_bad_arguments(tiny_vit, fits_files):
    with pytest.raises(UnknownNameError, match="dinov9"):
        adapt(fits_files[0], model="dinov9", weights=None)
    with pytest.raises(ConfigError, match="either"):
        adapt(fits_files[0], model=tiny_vit, size=56, preprocessing=Pipeline([]))
    with pytest.raises(ConfigError, match="backbone name"):
        adapt(fits_files[0], model=object())
    with pytest.raises(ConfigError, match="no input"):
        adapt([], model=tiny_vit)
    with pytest.raises(ConfigError, match="channel"):
        adapt(fits_files[0], model=tiny_vit, preprocessing=Pipeline([ResizeForPatch(14, 28)]))
    with pytest.raises(astrofm.errors.InputFileError, match="nothere.fits"):
        adapt("nothere.fits", model=tiny_vit)


@pytest.mark.parametrize("bad", [np.full((32, 32), np.nan), np.zeros((1, 1))])
def test_bad_images(tiny_vit, bad):
    with pytest.raises(astrofm.errors.AstrofmError):
        adapt(bad, model=tiny_vit, size=28)


def test_constant_image_gives_finite_tensor(tiny_vit):
    batch = adapt(np.full((40, 40), 3.0), model=tiny_vit, size=28)
    assert torch.isfinite(batch.tensor).all()
    assert torch.isfinite(batch.features()).all()


@pytest.fixture
def empty_backbone_cache():
    """The by-name backbone cache, empty before and after the test."""
    adapt_module = importlib.import_module("astrofm.features.adapt")
    adapt_module._backbone.cache_clear()
    yield
    adapt_module._backbone.cache_clear()


def test_by_name_uses_the_cache(monkeypatch, fits_files, tmp_path, empty_backbone_cache):
    weights_file = astrofm.backbones.load("resnet18", weights=None, seed=3).save_weights(
        tmp_path / "r18.safetensors")
    real, built = astrofm.backbones.load, []

    def counting(name, **options):
        built.append((name, options.get("weights")))
        return real(name, **options)

    monkeypatch.setattr(astrofm.backbones, "load", counting)
    spec = astrofm.backbones.get("resnet18")
    for weights in (None, "random"):  # two spellings of the same random network
        batch = adapt(fits_files[0], model="resnet18", weights=weights, size=32)
        assert batch.features().shape == (1, spec.feature_dim)
    assert len(built) == 1
    first = adapt(fits_files[0], model="resnet18", weights=weights_file, size=32).features()
    again = adapt(fits_files[0], model="resnet18", weights=weights_file, size=32).features()
    assert len(built) == 2 and str(built[1][1]) == str(weights_file)
    torch.testing.assert_close(first, again)
