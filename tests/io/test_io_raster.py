"""Raster images: PNG, JPEG and TIFF at 8 and 16 bits, grey, RGB and with alpha."""

import numpy as np
import pytest
import tifffile
from PIL import Image

import astrofm
from astrofm.errors import ConfigError


@pytest.fixture
def ramp():
    """An 8-bit (H, W) = (6, 10) ramp whose rows differ, to catch flips."""
    return (np.arange(60).reshape(6, 10) * 4).astype(np.uint8)


def test_png_8bit_grey_keeps_range_and_row_order(tmp_path, ramp):
    path = tmp_path / "grey.png"
    Image.fromarray(ramp).save(path)
    image = astrofm.load(path)
    assert image.shape == (6, 10) and image.data.dtype == np.float32
    np.testing.assert_array_equal(image.data, ramp)  # row 0 stays the top row
    assert image.display is True
    assert image.wcs is None and image.header is None and image.unit is None
    assert image.source == str(path) and image.hdu is None


def test_png_16bit_grey_is_not_display(tmp_path):
    data = (np.arange(20).reshape(4, 5) * 3000 + 5).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(data).save(path)
    image = astrofm.load(path)
    np.testing.assert_array_equal(image.data, data)
    assert image.display is False


def test_png_rgb_is_channel_first(tmp_path, ramp):
    rgb = np.stack([ramp, 255 - ramp, ramp // 2], axis=-1)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    image = astrofm.load(path)
    assert image.shape == (3, 6, 10) and image.display is True
    for c in range(3):
        np.testing.assert_array_equal(image.data[c], rgb[..., c])


def test_png_rgba_alpha_goes_to_mask(tmp_path, ramp):
    alpha = np.full_like(ramp, 255)
    alpha[0, :3] = 0
    alpha[1, 0] = 128  # partly transparent pixels stay valid
    rgba = np.stack([ramp, ramp, ramp, alpha], axis=-1)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(path)
    image = astrofm.load(path)
    assert image.shape == (3, 6, 10)
    assert image.mask.sum() == 3 * 3 and image.mask[:, 0, :3].all()
    assert not image.mask[:, 1, 0].any()


def test_png_grey_alpha(tmp_path, ramp):
    alpha = np.full_like(ramp, 255)
    alpha[5, 9] = 0
    path = tmp_path / "la.png"
    Image.fromarray(np.stack([ramp, alpha], axis=-1), mode="LA").save(path)
    image = astrofm.load(path)
    assert image.shape == (6, 10) and image.mask.sum() == 1 and image.mask[5, 9]


def test_png_16bit_rgb_keeps_all_bits(tmp_path, write_png16_rgb):
    data = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1001).astype(np.uint16)
    image = astrofm.load(write_png16_rgb(tmp_path / "rgb16.png", data))
    assert image.shape == (3, 4, 5) and image.display is False
    np.testing.assert_array_equal(image.data, np.moveaxis(data, -1, 0))


def test_palette_png_becomes_rgb(tmp_path, ramp):
    path = tmp_path / "palette.png"
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).convert("P").save(path)
    image = astrofm.load(path)
    assert image.shape == (3, 6, 10) and image.display is True


def test_jpeg_rgb(tmp_path, ramp):
    rgb = np.stack([ramp, ramp, ramp], axis=-1)
    path = tmp_path / "image.jpg"
    Image.fromarray(rgb).save(path, quality=100)
    image = astrofm.load(path)
    assert image.shape == (3, 6, 10) and image.display is True
    assert np.abs(image.data - np.moveaxis(rgb, -1, 0)).max() <= 8  # lossy


@pytest.mark.parametrize(
    ("array", "display"),
    [
        (np.arange(12, dtype=np.uint8).reshape(3, 4), True),
        (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000, False),
        (np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), False),
    ],
)
def test_tiff_grey(tmp_path, array, display):
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, array)
    image = astrofm.load(path)
    np.testing.assert_array_equal(image.data, array.astype(np.float32))
    assert image.display is display


def test_tiff_16bit_rgb(tmp_path):
    data = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 1001).astype(np.uint16)
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, data, photometric="rgb")
    image = astrofm.load(path)
    np.testing.assert_array_equal(image.data, np.moveaxis(data, -1, 0))
    assert image.display is False


def test_multipage_tiff_needs_plane(tmp_path):
    pages = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, pages, photometric="minisblack")
    with pytest.raises(ConfigError, match=r"pages\.tif.*3 planes.*plane="):
        astrofm.load(path)
    np.testing.assert_array_equal(astrofm.load(path, plane=2).data, pages[2])


def test_hdu_is_refused_for_rasters(tmp_path, ramp):
    path = tmp_path / "grey.png"
    Image.fromarray(ramp).save(path)
    with pytest.raises(ConfigError, match=r"grey\.png.*FITS sources only"):
        astrofm.load(path, hdu=1)


def test_tiff_alpha_only_when_marked_as_alpha(tmp_path):
    rgba = np.full((4, 5, 4), 200, np.uint8)
    rgba[0, 0, 3] = 0
    alpha = tmp_path / "rgba.tif"
    tifffile.imwrite(alpha, rgba, photometric="rgb", extrasamples=["unassalpha"])
    image = astrofm.load(alpha)
    assert image.shape == (3, 4, 5) and image.mask[:, 0, 0].all() and image.mask.sum() == 3
    extra = tmp_path / "rgbx.tif"
    tifffile.imwrite(extra, rgba, photometric="rgb", extrasamples=["unspecified"])
    image = astrofm.load(extra)
    assert image.shape == (4, 4, 5) and not image.mask.any()
