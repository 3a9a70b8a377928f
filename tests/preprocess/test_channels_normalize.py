import numpy as np
import pytest

from astrofm import AstroImage
from astrofm.errors import ConfigError, UnknownNameError
from astrofm.preprocess import Normalize, Stretch, ToChannels, default_channel_stretches, from_dict

from .conftest import radio_like


def test_replicate():
    x = radio_like()
    out = ToChannels("replicate")(AstroImage(x))
    assert out.shape == (3, 132, 132)
    for channel in out.data:
        np.testing.assert_array_equal(channel, x)
    assert ToChannels(n=4)(AstroImage(x[np.newaxis])).shape == (4, 132, 132)
    rgb = AstroImage(np.stack([x, x, x]))
    assert ToChannels()(rgb).data is rgb.data
    with pytest.raises(ConfigError, match="one-channel"):
        ToChannels()(AstroImage(np.stack([x, x])))


def test_stretches_are_each_channel():
    x = radio_like()
    image = AstroImage(x)
    out = ToChannels("stretches")(image)
    assert out.shape == (3, 132, 132)
    for channel, stretch in zip(out.data, default_channel_stretches(), strict=True):
        np.testing.assert_array_equal(channel, stretch(image).data)
    # Faint and bright both survive: linear/minmax keeps the peak, asinh/zscale the faint.
    assert out.data[0].max() == pytest.approx(1.0, abs=1e-6)
    assert np.median(out.data[2]) > np.median(out.data[0])
    custom = ToChannels("stretches", stretches=[Stretch("log", "minmax"), {"step": "Stretch",
                                                "kind": "sqrt", "interval": "minmax"}])
    assert custom.n == 2
    assert from_dict(custom.to_dict()) == custom
    assert custom.to_dict()["stretches"][1] == {"step": "Stretch", "kind": "sqrt",
                                                "interval": "minmax"}


def test_bands():
    planes = np.stack([np.full((4, 4), v, np.float32) for v in (10, 20, 30, 40)])
    out = ToChannels("bands", bands=[2, 0, 3])(AstroImage(planes))
    np.testing.assert_array_equal(out.data[:, 0, 0], [30, 10, 40])
    assert out.data.base is not planes
    with pytest.raises(ConfigError, match=r"bands \[5\].*4 channel"):
        ToChannels("bands", bands=[5])(AstroImage(planes))
    with pytest.raises(ConfigError, match="needs bands"):
        ToChannels("bands")
    with pytest.raises(UnknownNameError, match="replicate"):
        ToChannels("rgb")


def test_normalize_per_channel():
    x = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    out = Normalize(mean, std)(AstroImage(x))
    expected = (x - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    assert out.data.dtype == np.float32
    np.testing.assert_allclose(Normalize(0.5, 0.25)(AstroImage(x[0])).data, (x[0] - 0.5) / 0.25,
                               rtol=1e-6)


def test_normalize_bad_input():
    with pytest.raises(ConfigError, match="std must not be 0"):
        Normalize(0.5, 0)
    with pytest.raises(ConfigError, match="std must not be 0"):
        Normalize((0.5, 0.5), (1.0, 0.0))
    with pytest.raises(ConfigError, match="ToChannels"):
        Normalize((0.1, 0.2, 0.3), (1, 1, 1))(AstroImage(np.zeros((4, 4))))
    with pytest.raises(ConfigError, match="finite"):
        Normalize(np.nan, 1)


def test_replicate_is_a_view_of_the_one_plane():
    plane = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = ToChannels("replicate", n=3)(AstroImage(plane))
    assert out.shape == (3, 3, 4)
    for channel in out.data:
        np.testing.assert_array_equal(channel, plane)
    assert np.shares_memory(out.data, plane)  # no copies of the plane
    assert not out.data.flags.writeable
