import numpy as np
import pytest

from astrofm import AstroImage
from astrofm.preprocess import CropToBox, CropToSource, Pipeline, ResizeForPatch, SigmaClip

from .conftest import gaussian, make_wcs

TRUTH = (71.3, 42.8)  # edge convention: inside pixel (71, 42)


def _peak(data):
    """Intensity-weighted centroid of the 5x5 pixels around the maximum (edge convention)."""
    iy, ix = np.unravel_index(np.argmax(data), data.shape)
    ys, xs = np.mgrid[iy - 2 : iy + 3, ix - 2 : ix + 3]
    w = data[iy - 2 : iy + 3, ix - 2 : ix + 3]
    return (w * (xs + 0.5)).sum() / w.sum(), (w * (ys + 0.5)).sum() / w.sum()


@pytest.fixture
def star():
    shape = (120, 160)
    data = gaussian(shape, *TRUTH, sx=2.0, sy=2.0)
    return AstroImage(data, wcs=make_wcs(shape), source="star.fits")


@pytest.mark.parametrize(
    "pipe",
    [
        Pipeline([CropToBox((50, 20, 110, 70)), ResizeForPatch(14, size=224)]),
        Pipeline([CropToBox((60, 30, 90, 50), square=False), ResizeForPatch(14, size=(112, 56))]),
        Pipeline([CropToBox((0, 30, 160, 60)), ResizeForPatch(16, size=128)]),  # padded square
        Pipeline([SigmaClip(), CropToSource(margin=5), ResizeForPatch(14, size=98)]),
    ],
)
def test_peak_maps_back_to_pixels_and_sky(star, pipe):
    out = pipe(star)
    x_out, y_out = _peak(out.data)
    x_in, y_in = out.geometry.points_to_original(x_out, y_out)
    assert abs(x_in - TRUTH[0]) < 1 and abs(y_in - TRUTH[1]) < 1
    truth_sky = star.wcs.pixel_to_world(TRUTH[0] - 0.5, TRUTH[1] - 0.5)
    pixel_scale = 1.0  # arcsec
    assert out.to_sky(x_out, y_out).separation(truth_sky).arcsec < pixel_scale
    # The transformed WCS of the output grid agrees with the geometry.
    on_grid = out.wcs.pixel_to_world(x_out - 0.5, y_out - 0.5)
    assert on_grid.separation(out.to_sky(x_out, y_out)).arcsec < 1e-6


def test_boxes_round_trip_exactly(star):
    out = Pipeline([CropToBox((50, 20, 110, 70)), ResizeForPatch(14, size=224)])(star)
    # The crop is 60x60 (square grown from 60x50 about its centre: y from 15 to 75).
    np.testing.assert_allclose(out.to_original([[0, 0, 224, 224]]), [[50, 15, 110, 75]])
    boxes = np.array([[10.0, 20.0, 30.5, 44.0], [100, 100, 200, 150]])
    back = out.to_original(boxes)
    np.testing.assert_allclose(out.geometry.from_original(back), boxes)
    np.testing.assert_allclose(back[0], [50 + 10 * 60 / 224, 15 + 20 * 60 / 224,
                                         50 + 30.5 * 60 / 224, 15 + 44 * 60 / 224])
