import numpy as np
import pytest
import torch
import torch.nn.functional as F

from astrofm import AstroImage
from astrofm.errors import ConfigError, ImageShapeError, UnknownNameError
from astrofm.geometry import Geometry
from astrofm.preprocess import ResizeForPatch

from .conftest import radio_like


def _blank(h, w):
    return AstroImage(np.zeros((h, w), np.float32))


@pytest.mark.parametrize(
    ("shape", "kwargs", "expected"),
    [
        ((132, 132), {}, (126, 126)),  # 9.43 patches -> 9
        ((140, 100), {}, (140, 98)),  # 7.14 -> 7 patches
        ((5, 5), {}, (14, 14)),  # never under one patch
        ((132, 132), {"size": 224}, (224, 224)),
        ((50, 80), {"size": (112, 224)}, (112, 224)),
        ((132, 132), {"patch_size": 16}, (128, 128)),
        ((132, 90), {"patch_size": None}, (132, 90)),
        # A 20 px source to span 8 patches of 14 px: x5.6, 739.2 -> 53 patches.
        ((132, 132), {"min_patches_per_source": 8, "source_size": 20}, (742, 742)),
        ((132, 132), {"min_patches_per_source": 8, "source_size": 20, "max_size": 448},
         (448, 448)),
        ((132, 66), {"min_patches_per_source": 2, "source_size": 40}, (126, 70)),  # no shrink
        ((600, 300), {"max_size": 224}, (224, 112)),
    ],
)
def test_output_size_rules(shape, kwargs, expected):
    assert ResizeForPatch(**{"patch_size": 14, **kwargs}).output_shape(_blank(*shape)) == expected


def test_auto_source_size_is_measured_by_segmentation():
    image = AstroImage(radio_like(lobes=((66, 66),)))  # sx=4 px: the source spans ~20 px
    step = ResizeForPatch(14, min_patches_per_source=4, source_size="auto")
    h, w = step.output_shape(image)
    assert h == w and h % 14 == 0
    assert 132 * 56 / 30 <= h <= 132 * 56 / 12


def test_size_must_be_a_multiple_of_the_patch():
    with pytest.raises(ConfigError, match="multiple of patch_size 14"):
        ResizeForPatch(14, size=225)
    with pytest.raises(ConfigError, match="not both"):
        ResizeForPatch(14, size=224, min_patches_per_source=4, source_size=10)
    with pytest.raises(ConfigError, match="source_size"):
        ResizeForPatch(14, min_patches_per_source=4)
    with pytest.raises(UnknownNameError, match="bicubic"):
        ResizeForPatch(14, interpolation="lanczos")


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest", "area"])
@pytest.mark.parametrize("size", [224, 56])
def test_interpolation_matches_torch(interpolation, size):
    x = radio_like()
    out = ResizeForPatch(14, size=size, interpolation=interpolation, clamp=False)(AstroImage(x))
    mode = {"nearest": "nearest-exact"}.get(interpolation, interpolation)
    kwargs = {}
    if interpolation in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": size < 132 or interpolation == "bicubic"}
    expected = F.interpolate(torch.from_numpy(x)[None, None], size=(size, size), mode=mode,
                             **kwargs)[0, 0].numpy()
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-9)
    assert out.geometry == Geometry.resize((132, 132), (size, size))


def test_bicubic_clamp_keeps_the_input_range():
    x = np.zeros((30, 30), np.float32)
    x[10:20, 10:20] = 1.0  # sharp edges make bicubic ring
    raw = ResizeForPatch(14, size=98, clamp=False)(AstroImage(x)).data
    assert raw.min() < 0 or raw.max() > 1
    out = ResizeForPatch(14, size=98)(AstroImage(x)).data
    assert out.min() == 0.0 and out.max() == 1.0


def test_mask_is_resized_by_nearest_and_nans_do_not_spread():
    x = radio_like(shape=(28, 28))
    x[7:14, 7:14] = np.nan
    out = ResizeForPatch(14, size=56)(AstroImage(x))
    assert np.isfinite(out.data).all()
    expected = np.zeros((56, 56), bool)
    expected[14:28, 14:28] = True
    np.testing.assert_array_equal(out.mask, expected)


def test_channels_are_resized_alike():
    a, b = radio_like(seed=1), radio_like(seed=2)
    out = ResizeForPatch(14, size=224)(AstroImage(np.stack([a, b])))
    alone = ResizeForPatch(14, size=224)(AstroImage(b))
    assert out.shape == (2, 224, 224)
    np.testing.assert_allclose(out.data[1], alone.data, rtol=1e-6, atol=1e-9)


def test_degenerate_images():
    with pytest.raises(ImageShapeError, match=r"\(1, 1\)"):
        ResizeForPatch(14)(AstroImage(np.ones((1, 1)), source="one.fits"))
    with pytest.raises(ImageShapeError, match="no pixels"):
        ResizeForPatch(14)(AstroImage(np.ones((0, 0))))
    with pytest.raises(ImageShapeError):
        ResizeForPatch(14)(AstroImage(np.ones((1, 50))))
    small = ResizeForPatch(14)(AstroImage(np.random.default_rng(0).random((3, 5))))
    assert small.shape == (14, 14)


def test_same_size_is_a_no_op_with_history():
    image = AstroImage(radio_like(shape=(28, 42)))
    out = ResizeForPatch(14)(image)
    assert out.data is image.data and out.geometry.is_identity
    assert out.history[-1]["step"] == "ResizeForPatch"
