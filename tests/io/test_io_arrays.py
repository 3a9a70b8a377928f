"""Arrays and NDData: axis rules, dtypes, masks, WCS and units."""

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, NDData

import astrofm
from astrofm import AstroImage
from astrofm.errors import AstrofmWarning, ConfigError, ImageShapeError, ImageValueError
from astrofm.io import from_array


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16, np.int64, np.float64])
def test_numeric_dtypes_become_float32(dtype):
    array = (np.arange(12).reshape(3, 4) % 2).astype(dtype)
    image = astrofm.load(array)
    assert image.data.dtype == np.float32 and image.shape == (3, 4)
    np.testing.assert_array_equal(image.data, array.astype(np.float32))
    assert image.source == "<array>" and image.display is False


def test_channel_first_is_kept():
    array = np.random.default_rng(0).random((5, 8, 9))
    np.testing.assert_array_equal(astrofm.load(array).data, array.astype(np.float32))


@pytest.mark.parametrize("channels", [3, 4])
def test_channel_last_is_moved_first(channels):
    array = np.random.default_rng(0).random((8, 9, channels))
    image = astrofm.load(array)
    assert image.shape == (channels, 8, 9)
    np.testing.assert_array_equal(image.data[1], array[..., 1].astype(np.float32))


def test_ambiguous_small_array_is_channel_first():
    # First axis <= 4: the channel-last rule does not apply.
    assert astrofm.load(np.ones((4, 4, 3))).shape == (4, 4, 3)


def test_degenerate_axes_are_dropped():
    array = np.arange(20.0).reshape(1, 1, 4, 5)
    assert astrofm.load(array).shape == (4, 5)
    assert astrofm.load(array[0]).shape == (4, 5)


def test_five_d_array_needs_plane():
    array = np.zeros((2, 3, 1, 4, 5))
    array[1, 2, 0, 0, 0] = 1
    with pytest.raises(ImageShapeError, match=r"<array>.*\(2, 3, 1, 4, 5\).*plane="):
        astrofm.load(array)
    assert astrofm.load(array, plane=(1, 2)).data[0, 0] == 1


def test_plane_picks_one_channel():
    array = np.arange(3 * 4 * 5.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(astrofm.load(array, plane=2).data, array[2])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_is_refused(dtype):
    with pytest.raises(ImageShapeError, match=r"<array>.*complex.*np\.abs"):
        astrofm.load(np.ones((3, 3), dtype=dtype))


@pytest.mark.parametrize("value", [np.array([["a", "b"], ["c", "d"]]),
                                   np.array([[None, 1], [2, 3]], dtype=object)])
def test_non_numeric_is_refused(value):
    with pytest.raises(ImageShapeError, match="dtype"):
        astrofm.load(value)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (3, 0, 4), (0,)])
def test_zero_pixels_is_refused(shape):
    with pytest.raises(ImageShapeError, match=r"<array>.*0 pixels"):
        astrofm.load(np.zeros(shape))


def test_one_dimensional_is_refused():
    with pytest.raises(ImageShapeError, match=r"<array>.*two axes"):
        astrofm.load(np.ones(5))


def test_one_pixel_image_loads():
    image = astrofm.load(np.array([[3.0]]))
    assert image.shape == (1, 1) and image.data[0, 0] == 3.0


def test_all_nan_is_refused():
    with pytest.raises(ImageValueError, match=r"<array>.*no finite"):
        astrofm.load(np.full((4, 4), np.nan))


def test_constant_image_loads():
    image = astrofm.load(np.full((4, 4), 7.0))
    assert not image.mask.any() and (image.data == 7).all()


def test_float64_overflow_is_masked_with_warning():
    array = np.ones((3, 3))
    array[0, 0] = 1e300
    with pytest.warns(AstrofmWarning, match="float32 range"):
        image = astrofm.load(array)
    assert image.mask[0, 0] and image.mask.sum() == 1


def test_from_array_with_mask_wcs_and_unit(sky_wcs):
    mask = np.zeros((6, 7), bool)
    mask[2, 3] = True
    image = from_array(np.ones((6, 7)), mask=mask, wcs=sky_wcs((6, 7)), unit="Jy/beam")
    assert image.mask[2, 3] and image.mask.sum() == 1
    assert image.data[2, 3] == 1.0  # a given mask marks pixels; it does not erase them
    assert image.unit == u.Jy / u.beam and image.wcs is not None


def test_nddata_uses_mask_wcs_unit(sky_wcs):
    data = np.arange(42.0).reshape(6, 7)
    mask = data > 40
    nd = NDData(data, mask=mask, wcs=sky_wcs((6, 7)), unit="mJy")
    image = astrofm.load(nd)
    assert image.source == "<NDData>"
    assert image.unit == u.mJy and image.mask.sum() == 1
    np.testing.assert_allclose(image.wcs.wcs.crval, [150.0, 2.0])


def test_ccddata_keeps_header(sky_wcs):
    header = fits.Header({"OBJECT": "M13"})
    ccd = CCDData(np.ones((6, 7)), unit="adu", meta=header, wcs=sky_wcs((6, 7)))
    image = astrofm.load(ccd)
    assert image.source == "<CCDData>" and image.header["OBJECT"] == "M13"
    assert image.unit == u.adu


def test_astroimage_passes_through():
    image = AstroImage(np.ones((2, 2)))
    assert astrofm.load(image) is image
    with pytest.raises(ConfigError, match="already loaded"):
        astrofm.load(image, plane=0)


def test_list_source_points_to_bands():
    with pytest.raises(ConfigError, match=r"bands=\[\.\.\.\]"):
        astrofm.load([np.ones((2, 2)), np.ones((2, 2))])


def test_unknown_object_is_refused():
    with pytest.raises(ConfigError, match="cannot load a dict"):
        astrofm.load({"a": 1})


def test_hdu_is_refused_for_arrays():
    with pytest.raises(ConfigError, match=r"<ndarray>.*FITS sources only"):
        astrofm.load(np.ones((2, 2)), hdu=0)


def test_no_source():
    with pytest.raises(ConfigError, match="no source"):
        astrofm.load()
