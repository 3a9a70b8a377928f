"""Bands stacked as channels, reprojected onto the first band's grid when grids differ."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from reproject import reproject_interp

import astrofm
from astrofm.errors import AstrofmWarning, BandMismatchError, ConfigError


def _gaussian_at(wcs, shape, sky, sigma_arcsec=6.0):
    """A Gaussian centred on ``sky`` rendered on the grid of ``wcs``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    pos = wcs.pixel_to_world(xx, yy)
    r = pos.separation(sky).to_value(u.arcsec)
    return np.exp(-0.5 * (r / sigma_arcsec) ** 2).astype(np.float32)


@pytest.fixture
def source_sky():
    return SkyCoord(150.0 + 5 / 3600, 2.0 - 7 / 3600, unit="deg")


def test_same_grid_is_stacked_without_resampling(tmp_path, write_fits, sky_wcs):
    wcs = sky_wcs((20, 30))
    rng = np.random.default_rng(0)
    paths = [write_fits(tmp_path / f"b{i}.fits", rng.random((20, 30), dtype=np.float32), wcs,
                        BUNIT="Jy/beam") for i in range(3)]
    image = astrofm.load(bands=paths)
    assert image.shape == (3, 20, 30)
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(image.data[i], fits.getdata(path))
    assert image.source == str(paths[0]) and image.hdu == 0
    assert image.unit == u.Jy / u.beam and image.wcs is not None


def test_different_pixel_scales_are_reprojected(tmp_path, write_fits, sky_wcs, source_sky):
    fine, coarse = sky_wcs((64, 64), 1.0), sky_wcs((40, 40), 2.0)
    fine_data = _gaussian_at(fine, (64, 64), source_sky)
    coarse_data = _gaussian_at(coarse, (40, 40), source_sky)
    a = write_fits(tmp_path / "fine.fits", fine_data, fine)
    b = write_fits(tmp_path / "coarse.fits", coarse_data, coarse)
    image = astrofm.load(bands=[a, b])
    assert image.shape == (2, 64, 64)
    expected, footprint = reproject_interp((coarse_data, coarse), fine, shape_out=(64, 64))
    np.testing.assert_allclose(image.data[1][footprint > 0], expected[footprint > 0],
                               rtol=1e-5, atol=1e-6)
    # The source lands on the same sky position in both channels.
    x_true, y_true = fine.world_to_pixel(source_sky)
    for channel in image.data:
        yy, xx = np.mgrid[:64, :64]
        weight = np.nan_to_num(channel)
        x = (weight * xx).sum() / weight.sum()
        y = (weight * yy).sum() / weight.sum()
        assert abs(x - x_true) < 0.1 and abs(y - y_true) < 0.1


def test_pixels_outside_footprint_are_masked(tmp_path, write_fits, sky_wcs):
    big, small = sky_wcs((40, 40), 1.0), sky_wcs((10, 10), 1.0)
    a = write_fits(tmp_path / "big.fits", np.ones((40, 40), np.float32), big)
    b = write_fits(tmp_path / "small.fits", np.full((10, 10), 2.0, np.float32), small)
    image = astrofm.load(bands=[a, b])
    assert not image.mask[0].any()
    assert image.mask[1, 0, 0] and not image.mask[1, 20, 20]
    assert image.mask[1].sum() > 40 * 40 - 12 * 12
    np.testing.assert_allclose(image.data[1][~image.mask[1]], 2.0)


def test_different_shapes_without_wcs(tmp_path, write_fits):
    a = write_fits(tmp_path / "a.fits", np.ones((10, 10), np.float32))
    b = write_fits(tmp_path / "b.fits", np.ones((12, 10), np.float32))
    with pytest.raises(BandMismatchError, match=r"a\.fits, 10x10.*b\.fits, 12x10.*no WCS"):
        astrofm.load(bands=[a, b])
    with pytest.raises(BandMismatchError, match=r"<array>"):
        astrofm.load(bands=[np.ones((3, 3)), np.ones((4, 4))])


def test_same_shape_without_wcs_is_stacked():
    image = astrofm.load(bands=[np.zeros((4, 5)), np.ones((4, 5))])
    assert image.shape == (2, 4, 5) and image.source == "<array>"
    assert image.data[1].sum() == 20


def test_band_tuples_choose_hdu_and_plane(tmp_path):
    cube = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    path = tmp_path / "two.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((4, 5), np.float32)), fits.ImageHDU(cube)]).writeto(
        path)
    image = astrofm.load(bands=[path, (path, 1, 2), (path, 1, 0)])
    np.testing.assert_array_equal(image.data[1], cube[2])
    np.testing.assert_array_equal(image.data[2], cube[0])
    # Defaults apply to bands without their own.
    image = astrofm.load(bands=[path, path], hdu=1, plane=1)
    np.testing.assert_array_equal(image.data[0], cube[1])
    with pytest.raises(ConfigError, match="source, hdu"):
        astrofm.load(bands=[(path, 1, 2, 3)])


def test_units_differing_give_none(write_fits, tmp_path):
    a = write_fits(tmp_path / "a.fits", np.ones((3, 3), np.float32), BUNIT="Jy/beam")
    b = write_fits(tmp_path / "b.fits", np.ones((3, 3), np.float32), BUNIT="mJy/beam")
    with pytest.warns(AstrofmWarning, match="different units"):
        assert astrofm.load(bands=[a, b]).unit is None


def test_band_not_overlapping(tmp_path, write_fits, sky_wcs):
    a = write_fits(tmp_path / "here.fits", np.ones((10, 10), np.float32), sky_wcs((10, 10)))
    far = sky_wcs((10, 10), crval=(200.0, -30.0))
    b = write_fits(tmp_path / "there.fits", np.ones((10, 10), np.float32), far)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reproject may warn about the far projection
        with pytest.raises(BandMismatchError, match=r"there\.fits.*does not overlap"):
            astrofm.load(bands=[a, b])


def test_bands_argument_errors(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        astrofm.load(bands=[])
    with pytest.raises(ConfigError, match="not both"):
        astrofm.load(np.ones((2, 2)), bands=[np.ones((2, 2))])
