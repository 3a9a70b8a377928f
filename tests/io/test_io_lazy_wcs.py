"""The WCS of a FITS image is built from its header only when something reads it."""

import pickle

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import astrofm
import astrofm.io.headers
from astrofm.preprocess import CropToBox, Pipeline, ResizeForPatch, default_pipeline


@pytest.fixture
def count_wcs(monkeypatch):
    """Counts the WCS objects astrofm builds from headers."""
    built = []

    def counting(*args, **kwargs):
        built.append(args)
        return WCS(*args, **kwargs)

    monkeypatch.setattr(astrofm.io.headers, "WCS", counting)
    return built


@pytest.fixture
def sky_fits(tmp_path, write_fits, sky_wcs):
    data = np.random.default_rng(1).normal(0, 1, (40, 60)).astype(np.float32)
    data[18:22, 28:32] += 50
    wcs = sky_wcs(data.shape, scale_arcsec=2.0)
    wcs.wcs.crpix = [20.3, 17.8]  # off-centre, so an error in the shift shows
    return write_fits(tmp_path / "sky.fits", data, wcs, BUNIT="Jy/beam")


def test_wcs_is_not_built_unless_read(sky_fits, count_wcs):
    image = default_pipeline("fits", size=28, patch_size=14)(astrofm.load(sky_fits))
    assert image.shape == (3, 28, 28)
    assert count_wcs == []
    assert image.wcs is not None
    assert image.original_wcs is not None
    assert len(count_wcs) == 1  # the loaded WCS, built once and shared


def test_deferred_wcs_equals_astropy_on_a_processed_image(sky_fits):
    pipe = Pipeline([CropToBox((10, 5, 50, 35), square=False), ResizeForPatch(None, (45, 60))])
    image = pipe(astrofm.load(sky_fits))
    truth = WCS(fits.getheader(sky_fits))
    # Output pixel centres (i + 0.5, edge convention) map to input pixels by hand:
    # a crop from (10, 5), then 40 x 30 input pixels spread over 60 x 45 output pixels.
    x_out, y_out = np.array([0.5, 30.5, 59.5]), np.array([0.5, 22.5, 44.5])
    x_in, y_in = 10 + x_out * 40 / 60, 5 + y_out * 30 / 45
    expected = truth.pixel_to_world(x_in - 0.5, y_in - 0.5)
    got = image.wcs.pixel_to_world(x_out - 0.5, y_out - 0.5)
    assert got.separation(expected).max().arcsec < 1e-6
    centre = image.to_sky(30, 22.5)
    assert centre.separation(truth.pixel_to_world(10 + 20 - 0.5, 5 + 15 - 0.5)).arcsec < 1e-6
    assert image.wcs.pixel_shape == (60, 45)


def test_deferred_wcs_survives_pickling(sky_fits):
    image = default_pipeline("fits", size=28, patch_size=14)(astrofm.load(sky_fits))
    copy = pickle.loads(pickle.dumps(image))
    truth = WCS(fits.getheader(sky_fits))
    assert copy.to_sky(14, 14).separation(truth.pixel_to_world(29.5, 19.5)).arcsec < 1e-6


def test_lookup_table_distortion_is_read_while_the_file_is_open(tmp_path, sky_wcs):
    # A D2IM lookup table lives in another HDU, so the WCS cannot wait for the file
    # to be closed.
    wcs = sky_wcs((16, 16))
    header = wcs.to_header()
    header["D2IMDIS1"] = "LOOKUP"
    header["D2IM1.EXTVER"] = 1
    header["D2IM1.NAXES"] = 2
    header["D2IM1.AXIS.1"] = 1
    header["D2IM1.AXIS.2"] = 2
    table = fits.ImageHDU(np.full((4, 4), 0.25, np.float32), name="D2IMARR")
    table.header["EXTVER"] = 1
    table.header["CRPIX1"], table.header["CRPIX2"] = 1.0, 1.0
    table.header["CRVAL1"], table.header["CRVAL2"] = 1.0, 1.0
    table.header["CDELT1"], table.header["CDELT2"] = 5.0, 5.0
    path = tmp_path / "d2im.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((16, 16), np.float32), header), table]).writeto(path)
    with fits.open(path) as hdul:
        truth = WCS(hdul[0].header, hdul)
    assert truth.det2im1 is not None
    image = astrofm.load(path)
    assert image.wcs.det2im1 is not None
    np.testing.assert_allclose(image.wcs.all_pix2world([[3.0, 4.0]], 0),
                               truth.all_pix2world([[3.0, 4.0]], 0), rtol=0, atol=1e-10)
