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
    # by hand: 40 x 50 px (w x h) from (7, 11) became 224 x 224, scales 5.6 and 4.48
    xi, yi = 7 + xo / 5.6, 11 + yo / 4.48
    expected = wcs.pixel_to_world(xi - 0.5, yi - 0.5)
    got = new.pixel_to_world(xo - 0.5, yo - 0.5)
    assert np.all(got.separation(expected).arcsec < 1e-6)


def test_bad_box_shape():
    with pytest.raises(BoxError, match=r"\(N, 4\)"):
        Geometry().to_original([1, 2, 3])


def _sip_wcs():
    """A TAN-SIP WCS of a 60 x 50 px image with distortion up to a few pixels."""
    from astropy.wcs import Sip

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [25.0, 30.0]
    w.wcs.cd = [[-2e-4, 1e-5], [1e-5, 2e-4]]
    a, b = np.zeros((4, 4)), np.zeros((4, 4))
    a[2, 0], a[1, 1], a[0, 3] = 1e-3, -5e-4, 2e-5
    b[0, 2], b[2, 1], b[1, 0] = 8e-4, 3e-5, 1e-4
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.wcs.set()
    w.pixel_shape = (60, 50)
    return w


def _check_crop_of(wcs, at, shape):
    """Geometry.crop's WCS maps pixels to the sky as astropy's Cutout2D's does."""
    from astropy.nddata import Cutout2D

    cut = Cutout2D(np.zeros(wcs.pixel_shape[::-1]), at, shape, wcs=wcs, mode="partial")
    x0, y0 = cut.origin_original
    new = Geometry.crop(x0, y0).transform_wcs(wcs, out_shape=cut.shape)
    assert new.pixel_shape == shape[::-1]
    assert new.sip is not None
    xs, ys = np.meshgrid(np.arange(0, shape[1], 5.0), np.arange(0, shape[0], 5.0))
    got, expected = new.pixel_to_world(xs, ys), cut.wcs.pixel_to_world(xs, ys)
    assert np.all(got.separation(expected).arcsec < 1e-6)
    # and the distortion is really there: the SIP-free WCS puts corners elsewhere
    plain = new.deepcopy()
    plain.sip = None
    plain.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    assert plain.pixel_to_world(xs, ys).separation(expected).arcsec.max() > 0.1


def test_transform_wcs_moves_generated_sip_and_sets_shape():
    _check_crop_of(_sip_wcs(), (40.0, 12.0), (16, 24))


def test_transform_wcs_moves_sip_and_sets_shape(shared_data):
    from astropy.io import fits

    path = shared_data / "pip_wheel_real_images" / "astroquery_astrometrynet_eyUMa_thumbnail.fit.gz"
    wcs = WCS(fits.getheader(path))
    assert wcs.sip is not None  # the astrometry.net thumbnail is solved with SIP terms
    _check_crop_of(wcs, (30.0, 20.0), (16, 24))
