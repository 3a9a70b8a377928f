import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.stats import sigma_clipped_stats
from photutils.segmentation import detect_sources

from astrofm import AstroImage
from astrofm.errors import AstrofmWarning, BoxError, ConfigError
from astrofm.geometry import Geometry
from astrofm.preprocess import CropToBox, CropToSource, from_dict

from .conftest import gaussian, make_wcs, radio_like


def _image(shape=(60, 80)):
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return AstroImage(data, wcs=make_wcs(shape), source="img.fits")


def test_box_crop_is_a_slice_with_its_geometry():
    image = _image()
    out = CropToBox((10, 5, 30, 25), square=False)(image)
    np.testing.assert_array_equal(out.data, image.data[5:25, 10:30])
    assert out.geometry == Geometry.crop(10, 5)
    assert out.history == [CropToBox((10, 5, 30, 25), square=False).to_dict()]
    # Fractional boxes grow outwards to whole pixels.
    out = CropToBox((10.2, 5.7, 29.5, 24.1), square=False)(image)
    np.testing.assert_array_equal(out.data, image.data[5:25, 10:30])


def test_square_grows_the_short_side_evenly_and_stays_inside():
    image = _image()
    out = CropToBox((10, 20, 30, 30))(image)  # 20 wide, 10 high
    assert out.shape == (20, 20)
    np.testing.assert_array_equal(out.data, image.data[15:35, 10:30])
    # Near the top edge the square is shifted down rather than padded.
    out = CropToBox((10, 0, 30, 4))(image)
    np.testing.assert_array_equal(out.data, image.data[0:20, 10:30])
    assert not out.mask.any()


def test_square_longer_than_the_image_is_padded_with_masked_zeros():
    image = _image((20, 80))
    out = CropToBox((0, 0, 80, 20))(image)
    assert out.shape == (80, 80)
    np.testing.assert_array_equal(out.data[30:50], image.data)
    assert out.mask[:30].all() and out.mask[50:].all() and not out.mask[30:50].any()
    assert not out.data[:30].any()
    assert out.geometry == Geometry.crop(0, -30)


def test_margin_in_pixels_and_as_a_fraction():
    image = _image()
    out = CropToBox((20, 20, 30, 30), margin=3)(image)
    np.testing.assert_array_equal(out.data, image.data[17:33, 17:33])
    out = CropToBox((20, 20, 40, 30), margin=0.25, square=False)(image)
    np.testing.assert_array_equal(out.data, image.data[17:33, 15:45])  # 2.5 px out to 3, 5 px


def test_partly_outside_is_clipped_and_outside_is_an_error():
    image = _image()
    out = CropToBox((70, 50, 100, 90), square=False)(image)
    np.testing.assert_array_equal(out.data, image.data[50:60, 70:80])
    with pytest.raises(BoxError, match=r"box .* outside the image of shape \(60, 80\)"):
        CropToBox((100, 100, 120, 130))(image)
    with pytest.raises(BoxError, match=r"box .*zero .*\(60, 80\)"):
        CropToBox((10, 10, 10, 30))(image)
    with pytest.raises(BoxError, match="zero"):
        CropToBox((10, 30, 20, 5))(image)
    with pytest.raises(BoxError, match=r"\(x0, y0, x1, y1\)"):
        CropToBox((1, 2, 3))


def test_sky_position_and_angular_size():
    image = _image()
    # The centre of pixel (x=50, y=30) in the edge convention is (50.5, 30.5).
    position = image.wcs.pixel_to_world(50, 30)
    step = CropToBox(position=position, size=10 * u.arcsec)
    out = step(image)
    by_pixels = CropToBox(position=(50.5, 30.5), size=10)(image)
    np.testing.assert_array_equal(out.data, by_pixels.data)
    np.testing.assert_array_equal(out.data, image.data[26:36, 46:56])
    centre = out.to_sky(4.5, 4.5)  # pixel (50, 30) of the input
    assert centre.separation(position).arcsec < 1e-6
    d = step.to_dict()
    assert d["size_unit"] == "arcsec" and d["ra"] == pytest.approx(position.ra.deg)
    np.testing.assert_array_equal(from_dict(d)(image).data, out.data)
    with pytest.raises(ConfigError, match="WCS"):
        step(AstroImage(image.data))
    with pytest.raises(ConfigError, match="either box"):
        CropToBox()
    with pytest.raises(ConfigError, match="size"):
        CropToBox(position=SkyCoord(150 * u.deg, 2 * u.deg))


def test_crop_to_source_picks_the_source_nearest_the_centre():
    shape = (100, 100)
    rng = np.random.default_rng(3)
    data = rng.normal(0, 0.01, shape) + gaussian(shape, 58, 45, sx=3, sy=2)
    data += 2 * gaussian(shape, 15, 80, sx=3, sy=3)  # brighter but far from the centre
    image = AstroImage(data, source="two.fits")
    step = CropToSource(nsigma=3, npixels=10, margin=0, square=False)
    box = step.source_box(image)
    mean, _, rms = sigma_clipped_stats(image.data, sigma=3.0, maxiters=5)
    segm = detect_sources(image.data, mean + 3 * rms, 10)
    label = segm.data[45, 58]
    ys, xs = np.nonzero(segm.data == label)
    assert box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # By hand: the Gaussian (sigmas 3 and 2 px) exceeds 3 rms (0.03) out to 2.65 sigma,
    # that is x in [50.06, 65.94] and y in [39.7, 50.3]; noise moves an edge a pixel.
    np.testing.assert_allclose(box, (50, 40, 66, 50), atol=1)
    out = step(image)
    np.testing.assert_array_equal(out.data, image.data[box[1]:box[3], box[0]:box[2]])
    assert out.geometry == Geometry.crop(box[0], box[1])
    both = CropToSource(select="all", margin=0, square=False).source_box(image)
    assert both[0] < 15 < both[2] and both[1] < 45 and both[3] > 80


def test_crop_to_source_square_with_margin():
    image = AstroImage(radio_like(lobes=((66, 66),)))
    out = CropToSource(margin=0.2)(image)
    assert out.height == out.width
    assert 20 < out.height < 60
    peak = np.unravel_index(np.argmax(out.data), out.shape)
    x, y = out.geometry.points_to_original(peak[1] + 0.5, peak[0] + 0.5)
    assert abs(x - 66) < 1.5 and abs(y - 66) < 1.5


def test_crop_to_source_without_a_source_warns_and_keeps_the_image():
    image = AstroImage(np.full((40, 40), 5.0), source="flat.fits")
    with pytest.warns(AstrofmWarning, match="flat.fits.*no source"):
        out = CropToSource()(image)
    assert out.data is image.data
    assert out.geometry.is_identity
    assert out.history == [CropToSource().to_dict()]
