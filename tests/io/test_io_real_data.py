"""Real survey images: ../shared/data, and the images that ship inside installed packages."""

import warnings
from pathlib import Path

import astropy
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import astrofm
from astrofm.errors import AstrofmError, HeaderWarning


def test_every_mirabest_fits_loads_with_a_header_warning(shared_data):
    paths = sorted((shared_data / "mirabest" / "FITS_subset").glob("*.fits"))
    assert paths, "the MiraBest FITS subset is empty"
    for path in paths:
        image = astrofm.load(path)
        # The bad cards are verified when the WCS is built, on its first access.
        with pytest.warns(HeaderWarning, match=path.name.replace("+", r"\+")):
            wcs = image.wcs
        assert image.shape == (300, 300), path.name
        assert image.unit == u.Jy / u.beam, path.name
        assert wcs.has_celestial and wcs.naxis == 2, path.name
        assert image.valid.size > 0


def test_wsrt_4d_image(shared_data):
    path = shared_data / "pybdsf_wsrt_abell2255" / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits"
    image = astrofm.load(path)
    assert image.shape == (129, 129) and image.hdu == 0
    assert image.wcs.naxis == 2 and image.wcs.has_celestial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's own unit fix ('HZ' -> 'Hz')
        full = WCS(fits.getheader(path))
    x, y = np.meshgrid([0, 64, 128], [0, 17, 128])
    zero = np.zeros_like(x)
    ra4, dec4, _, _ = full.pixel_to_world_values(x, y, zero, zero)
    ra2, dec2 = image.wcs.pixel_to_world_values(x, y)
    np.testing.assert_allclose(ra2, ra4, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dec2, dec4, rtol=0, atol=1e-10)
    assert np.array_equal(image.data, fits.getdata(path)[0, 0])


PIP_WHEEL = {
    "astropy_dss_14.29.56-62.41.05.fits.gz": ((100, 100), 0),
    "astropy_m13.fits": ((300, 300), 0),
    "astropy_m13_rice_tilecompressed.fits": ((300, 300), 1),
    "astropy_ngc1316_compressed.fits": ((300, 440), 1),
    "astroquery_astrometrynet_eyUMa_thumbnail.fit.gz": ((256, 256), 0),
    "astroquery_cadc_CFHT_megaprime.fits": ((101, 101), 0),
    "astroquery_first_J105007+304037_33x33.fits": ((33, 33), 0),
    "astroquery_magpis_G10.5+0.0_radio.fits": ((300, 300), 0),
    "astroquery_ned_M1_POSS.fits": ((177, 177), 0),
    "astroquery_ukidss_image.fits": ((300, 300), 1),
    "skimage_hubble_deep_field.jpg": ((3, 872, 1000), None),
}


@pytest.mark.parametrize(("name", "expected"), PIP_WHEEL.items(), ids=list(PIP_WHEEL))
def test_pip_wheel_images(shared_data, name, expected):
    shape, hdu = expected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeaderWarning)  # the DSS header has a bad SKEW card
        image = astrofm.load(shared_data / "pip_wheel_real_images" / name)
        wcs = image.wcs
    assert image.shape == shape and image.hdu == hdu
    assert image.display is (hdu is None)
    assert image.valid.size > 0
    if name.endswith(".jpg"):
        assert wcs is None
    elif "ned_M1" not in name:  # the POSS plate has no WCS keywords
        assert wcs is not None and wcs.has_celestial


def test_tile_compressed_equals_plain(shared_data):
    folder = shared_data / "pip_wheel_real_images"
    plain = astrofm.load(folder / "astropy_m13.fits")
    packed = astrofm.load(folder / "astropy_m13_rice_tilecompressed.fits")
    np.testing.assert_array_equal(plain.data, packed.data)


def test_radio_units_parse(shared_data):
    path = shared_data / "pip_wheel_real_images" / "astroquery_magpis_G10.5+0.0_radio.fits"
    assert astrofm.load(path).unit == u.Jy / u.beam


def test_skimage_shipped_images_match_skimage_data():
    import skimage.data

    folder = Path(skimage.__file__).parent / "data"
    if not (folder / "hubble_deep_field.jpg").exists():
        pytest.skip("scikit-image ships without its data files here")
    hubble = astrofm.load(folder / "hubble_deep_field.jpg")
    np.testing.assert_array_equal(hubble.data, np.moveaxis(skimage.data.hubble_deep_field(), -1, 0))
    camera = astrofm.load(folder / "camera.png")
    np.testing.assert_array_equal(camera.data, skimage.data.camera())
    assert camera.display is True
    chessboard = astrofm.load(folder / "chessboard_RGB.png")  # 16-bit RGB PNG
    assert chessboard.shape[0] == 3 and chessboard.data.max() == 65535
    assert chessboard.display is False


def _package_files():
    root = Path(astropy.__file__).parent
    files = sorted((root / "io" / "fits" / "tests" / "data").glob("*.fits"))
    files += sorted((root / "wcs" / "tests" / "data").glob("*.fits*"))
    return files


@pytest.mark.skipif(not _package_files(), reason="astropy ships without its test data here")
def test_astropy_test_files_load_or_give_astrofm_errors():
    """astropy's own test files (tables, random groups, odd headers) never crash load."""
    loaded = 0
    for path in _package_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                image = astrofm.load(path)
            except AstrofmError:
                continue
        assert image.data.dtype == np.float32 and image.valid.size > 0, path.name
        loaded += 1
    assert loaded >= 5


@pytest.mark.skipif(not _package_files(), reason="astropy ships without its test data here")
def test_astropy_compressed_and_sip_files():
    root = Path(astropy.__file__).parent
    comp = astrofm.load(root / "io" / "fits" / "tests" / "data" / "comp.fits")
    assert comp.shape == (300, 440) and comp.hdu == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lookup = astrofm.load(root / "wcs" / "tests" / "data" / "dist_lookup.fits.gz")
    assert lookup.wcs is not None


def test_cutout_of_sip_image_keeps_sky_positions(shared_data):
    path = shared_data / "pip_wheel_real_images" / "astroquery_astrometrynet_eyUMa_thumbnail.fit.gz"
    image = astrofm.load(path)
    assert image.wcs.sip is not None
    out = astrofm.cutout(image, (200, 40), 30)
    x0, y0 = out.geometry.offset
    np.testing.assert_allclose(out.wcs.pixel_to_world_values(5, 7),
                               image.wcs.pixel_to_world_values(5 + x0, 7 + y0),
                               rtol=0, atol=1e-10)
    assert out.wcs.pixel_shape == (30, 30)
