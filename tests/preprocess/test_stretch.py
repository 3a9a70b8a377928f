import numpy as np
import pytest
from astropy import visualization as vis

from astrofm import AstroImage
from astrofm.errors import ConfigError, ImageValueError, UnknownNameError
from astrofm.preprocess import INTERVALS, STRETCHES, SigmaClip, Stretch

from .conftest import radio_like

PARAMS = {"power": {"a": 2.0}, "manual": {"vmin": -1e-4, "vmax": 2e-3}}


def _by_hand(kind, interval, x):
    """astropy's stretch(interval(x)) built independently of Stretch."""
    interval_obj = {
        "minmax": vis.MinMaxInterval(),
        "percentile": vis.PercentileInterval(99.5),
        "asymmetric": vis.AsymmetricPercentileInterval(1.0, 99.0),
        "zscale": vis.ZScaleInterval(),
        "manual": vis.ManualInterval(-1e-4, 2e-3),
    }[interval]
    scaled = interval_obj(x.astype(float), clip=True)
    stretch_obj = {
        "linear": vis.LinearStretch(),
        "sqrt": vis.SqrtStretch(),
        "log": vis.LogStretch(),
        "asinh": vis.AsinhStretch(),
        "sinh": vis.SinhStretch(),
        "power": vis.PowerStretch(2.0),
        "histeq": vis.HistEqStretch(scaled),
    }[kind]
    return stretch_obj(scaled, clip=True)


@pytest.mark.parametrize("kind", list(STRETCHES))
@pytest.mark.parametrize("interval", list(INTERVALS))
def test_stretch_matches_astropy(kind, interval):
    x = radio_like()
    params = {**PARAMS.get(kind, {}), **PARAMS.get(interval, {})}
    if interval == "asymmetric":
        params.update(lower_percentile=1.0, upper_percentile=99.0)
    out = Stretch(kind, interval, **params)(AstroImage(x))
    # histeq maps values to ranks, and float32 rounding can move a value by a rank or two.
    atol = 1e-3 if kind == "histeq" else 2e-5
    np.testing.assert_allclose(out.data, _by_hand(kind, interval, x), atol=atol)
    assert out.data.dtype == np.float32
    assert out.data.min() >= 0 and out.data.max() <= 1


def test_masked_pixels_are_excluded_and_zeroed():
    x = radio_like()
    mask = np.zeros(x.shape, bool)
    mask[:5, :5] = True
    x_bad = x.copy()
    x_bad[:5, :5] = 1e6  # would dominate a min-max interval if it were used
    out = Stretch("linear", "minmax")(AstroImage(x_bad, mask=mask))
    vmin, vmax = x[~mask].min(), x[~mask].max()
    expected = np.clip((x - vmin) / (vmax - vmin), 0, 1)
    expected[mask] = 0
    np.testing.assert_allclose(out.data, expected, atol=1e-6)
    assert out.mask[:5, :5].all()


def test_per_channel():
    a, b = radio_like(seed=1), 10 * radio_like(seed=2) + 3
    out = Stretch("sqrt", "percentile", percentile=98)(AstroImage(np.stack([a, b])))
    for channel, x in zip(out.data, (a, b), strict=True):
        alone = Stretch("sqrt", "percentile", percentile=98)(AstroImage(x)).data
        np.testing.assert_allclose(channel, alone)


@pytest.mark.parametrize("kind", list(STRETCHES))
def test_constant_image_gives_zeros(kind):
    params = PARAMS.get(kind, {})
    for interval in INTERVALS:
        extra = {"vmin": 2.0, "vmax": 2.0} if interval == "manual" else {}
        out = Stretch(kind, interval, **params, **extra)(AstroImage(np.full((16, 16), 2.0)))
        assert np.array_equal(out.data, np.zeros((16, 16))), interval


def test_all_nan_is_an_image_value_error():
    with pytest.raises(ImageValueError, match="every pixel is masked"):
        Stretch()(AstroImage(np.full((8, 8), np.nan), source="empty.fits"))


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownNameError, match="asinh"):
        Stretch("asinhh")
    with pytest.raises(UnknownNameError, match="zscale"):
        Stretch("asinh", "z-scale")
    with pytest.raises(ConfigError, match="percentile"):
        Stretch("asinh", "zscale", percentile=99)
    with pytest.raises(ConfigError, match="needs the parameter"):
        Stretch("power", "minmax")


def test_astropy_objects_are_accepted_and_serialised():
    step = Stretch(vis.AsinhStretch(0.05), vis.PercentileInterval(98.0))
    assert step.to_dict() == {
        "step": "Stretch", "kind": "asinh", "interval": "percentile", "a": 0.05,
        "percentile": 98.0,
    }
    assert step == Stretch("asinh", "percentile", a=0.05, percentile=98.0)
    with pytest.raises(ConfigError, match="kind='histeq'"):
        Stretch(vis.HistEqStretch(np.arange(5.0)))
    with pytest.raises(ConfigError, match="cannot|not one"):
        Stretch(vis.ContrastBiasStretch(1, 0.5))


def test_exclude_zeros_keeps_clipped_emission():
    image = SigmaClip(3)(AstroImage(radio_like()))
    assert np.count_nonzero(image.data) < 0.1 * image.data.size
    # zscale on a mostly-zero image collapses to (0, 0): the whole image is blanked.
    assert not Stretch("asinh", "zscale")(image).data.any()
    kept = Stretch("asinh", "zscale", exclude_zeros=True)(image).data
    nonzero = image.data[image.data != 0]
    lo, hi = vis.ZScaleInterval().get_limits(nonzero)
    expected = vis.AsinhStretch()(np.clip((image.data - lo) / (hi - lo), 0, 1))
    np.testing.assert_allclose(kept, expected, atol=1e-6)
    # asinh(1) / asinh(1) is 1 up to float32 rounding, which differs between CPUs
    assert kept.max() == pytest.approx(1.0, abs=1e-6)
    assert not Stretch(exclude_zeros=True)(AstroImage(np.zeros((8, 8)))).data.any()
