import numpy as np
import pytest
from astropy.wcs import WCS

from astrofm.errors import BoxError
from astrofm.geometry import Geometry


def _wcs(shape=(100, 80)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [40.5, 50.5]
    w.wcs.cdelt = [-0.001, 0.001]
    w.pixel_shape = (shape[1], shape[0])
    return w


def test_crop_then_resize_maps_boxes_back():
    g = Geometry.crop(10, 20).then(Geometry.resize((30, 40), (60, 80)))
    out = np.array([[0, 0, 80, 60], [8, 6, 16, 12]])
    back = g.to_original(out)
    np.testing.assert_allclose(back, [[10, 20, 50, 50], [14, 23, 18, 26]])
    np.testing.assert_allclose(g.from_original(back), out)


def test_transform_wcs_agrees_with_geometry():
    wcs = _wcs()
    g = Geometry.crop(7, 11).then(Geometry.resize((50, 40), (224, 224)))
    new = g.transform_wcs(wcs)
    # Centres of a few output pixels, edge convention -> astropy convention is -0.5.
    xo = np.array([0.5, 100.5, 223.5])
    yo = np.array([0.5, 50.5, 223.5])
    xi, yi = g.points_to_original(xo, yo)
    expected = wcs.pixel_to_world(xi - 0.5, yi - 0.5)
    got = new.pixel_to_world(xo - 0.5, yo - 0.5)
    assert np.all(got.separation(expected).arcsec < 1e-6)


def test_bad_box_shape():
    with pytest.raises(BoxError, match=r"\(N, 4\)"):
        Geometry().to_original([1, 2, 3])


def test_transform_wcs_moves_sip_and_sets_shape(shared_data):
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    path = shared_data / "pip_wheel_real_images" / "astroquery_astrometrynet_eyUMa_thumbnail.fit.gz"
    header = fits.getheader(path)
    wcs = WCS(header)
    assert wcs.sip is not None  # the astrometry.net thumbnail is solved with SIP terms
    data = np.zeros((header["NAXIS2"], header["NAXIS1"]))
    cut = Cutout2D(data, (30.0, 20.0), (16, 24), wcs=wcs, mode="partial")
    x0, y0 = cut.origin_original
    new = Geometry.crop(x0, y0).transform_wcs(wcs, out_shape=cut.shape)
    assert new.pixel_shape == (24, 16)
    xs, ys = np.meshgrid(np.arange(0, 24, 5.0), np.arange(0, 16, 5.0))
    got, expected = new.pixel_to_world(xs, ys), cut.wcs.pixel_to_world(xs, ys)
    assert np.all(got.separation(expected).arcsec < 1e-6)
