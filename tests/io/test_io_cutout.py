"""Cutouts: agreement with Cutout2D, geometry and WCS, sky positions, errors."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D

import astrofm
from astrofm import AstroImage
from astrofm.errors import BoxError, ConfigError


@pytest.fixture
def image(gaussians, sky_wcs):
    return AstroImage(gaussians, wcs=sky_wcs(gaussians.shape), source="gauss.fits")


def test_pixel_cutout_matches_cutout2d(image):
    # astrofm positions use the edge convention; Cutout2D puts pixel centres at integers.
    out = astrofm.cutout(image, (60.0, 40.0), (20, 30))
    ref = Cutout2D(image.data, (59.5, 39.5), (20, 30), wcs=image.wcs)
    np.testing.assert_array_equal(out.data, ref.data)
    assert out.shape == (20, 30)
    np.testing.assert_allclose(out.wcs.wcs.crpix, ref.wcs.wcs.crpix)
    assert out.wcs.pixel_shape == (30, 20)
    assert out.geometry.offset == tuple(float(v) for v in ref.origin_original)
    assert out.history[-1]["step"] == "Cutout"
    assert out.history[-1]["box"] == [45, 30, 75, 50]
    assert out.source == "gauss.fits" and out.original_shape == image.shape


def test_even_cutout_is_centred_on_the_position(image):
    out = astrofm.cutout(image, (100, 50), 10)
    assert out.geometry.offset == (95.0, 45.0)


def test_geometry_maps_back_to_pixels_and_sky(image):
    out = astrofm.cutout(image, (60.0, 40.0), (20, 30))
    np.testing.assert_allclose(out.to_original([[0, 0, 30, 20]]), [[45, 30, 75, 50]])
    np.testing.assert_allclose(out.data[5, 7], image.data[35, 52])
    here = out.to_sky(7.5, 5.5)
    there = image.to_sky(52.5, 35.5)
    assert here.separation(there).arcsec < 1e-6
    # with_step's WCS transform and Cutout2D's agree on the sky.
    via_geometry = out.geometry.transform_wcs(image.wcs)
    np.testing.assert_allclose(via_geometry.pixel_to_world_values(3, 4),
                               out.wcs.pixel_to_world_values(3, 4))


def test_sky_position_and_angular_size(image):
    centre = image.wcs.pixel_to_world(99.5, 49.5)
    out = astrofm.cutout(image, centre, 20 * u.arcsec)
    ref = Cutout2D(image.data, centre, 20 * u.arcsec, wcs=image.wcs)
    np.testing.assert_array_equal(out.data, ref.data)
    assert out.shape == (20, 20)
    out = astrofm.cutout(image, centre, (10 * u.arcsec, 30 * u.arcsec))
    assert out.shape == (10, 30)


def test_channels_are_cut_alike(image):
    cube = AstroImage(np.stack([image.data, 2 * image.data]), wcs=image.wcs)
    out = astrofm.cutout(cube, (60, 40), 8)
    assert out.shape == (2, 8, 8)
    np.testing.assert_array_equal(out.data[1], 2 * out.data[0])
    assert out.mask.shape == (2, 8, 8)


def test_partial_mode_pads_and_masks(image):
    out = astrofm.cutout(image, (2, 2), 10, mode="partial")
    assert out.shape == (10, 10)
    assert out.geometry.offset == (-3.0, -3.0)
    assert out.mask[:3].all() and out.mask[:, :3].all() and not out.mask[3:, 3:].any()
    assert np.isnan(out.data[0, 0])
    np.testing.assert_array_equal(out.data[3:, 3:], image.data[:7, :7])


def test_trim_mode_at_the_edge(image):
    out = astrofm.cutout(image, (2, 2), 10)
    assert out.shape == (7, 7) and out.geometry.offset == (0.0, 0.0)


def test_cutout_accepts_anything_load_accepts(fits_path):
    out = astrofm.cutout(fits_path, (100, 50), 16)
    assert out.shape == (16, 16) and out.source == str(fits_path)


def test_position_outside(image):
    with pytest.raises(BoxError, match=r"gauss\.fits.*position=.*outside.*\(100, 200\)"):
        astrofm.cutout(image, (500, 40), 10)
    with pytest.raises(BoxError, match=r"gauss\.fits.*position=.*outside"):
        astrofm.cutout(image, SkyCoord(330, -2, unit="deg"), 10)  # behind the projection


@pytest.mark.parametrize("size", [0, (0, 5), -3, 0.2, 0 * u.arcsec])
def test_zero_size(image, size):
    with pytest.raises(BoxError, match=r"gauss\.fits.*size="):
        astrofm.cutout(image, (60, 40), size)


def test_strict_mode_partial_overlap(image):
    with pytest.raises(BoxError, match="not wholly inside"):
        astrofm.cutout(image, (2, 2), 10, mode="strict")


def test_bad_position_and_mode(image):
    with pytest.raises(BoxError, match="position="):
        astrofm.cutout(image, (1, 2, 3), 4)
    with pytest.raises(ConfigError, match="mode="):
        astrofm.cutout(image, (10, 10), 4, mode="pad")


def test_sky_arguments_need_wcs(gaussians):
    plain = AstroImage(gaussians, source="plain.png")
    with pytest.raises(ConfigError, match=r"plain\.png.*no WCS"):
        astrofm.cutout(plain, SkyCoord(150, 2, unit="deg"), 10)
    with pytest.raises(ConfigError, match=r"plain\.png.*no WCS"):
        astrofm.cutout(plain, (10, 10), 5 * u.arcsec)
