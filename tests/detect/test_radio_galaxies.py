"""Simulated radio galaxies in RGZ classes: labels that the measurement confirms."""

import math

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from astrofm.detect import RGZ_KINDS, rgz_label, simulate_radio_galaxy, write_radio_galaxies
from astrofm.errors import ConfigError

RMS = 1e-4
BEAM = 3.0


def scipy_label(data, rms, beam_fwhm):
    """RGZ class by scipy.ndimage: 8-connected islands above 3 rms of half a beam area or
    more, and the pixels of each that are the largest of the island in a square window."""
    above = data > 3 * rms
    islands, n = ndimage.label(above, structure=np.ones((3, 3)))
    min_pixels = math.ceil(math.pi * beam_fwhm ** 2 / (4 * math.log(2)) / 2)
    size = 2 * max(1, round(beam_fwhm / 2)) + 1
    components = peaks = 0
    for i in range(1, n + 1):
        inside = islands == i
        if inside.sum() < min_pixels:
            continue
        components += 1
        only = np.where(inside, data, -np.inf)
        peaks += int((inside & (only == ndimage.maximum_filter(only, size=size))).sum())
    return f"{components}C-{peaks}P"


def gaussian(shape, x, y, peak, fwhm):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    sigma = fwhm / (2 * np.sqrt(2 * np.log(2)))
    return peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


@pytest.mark.parametrize("kind", list(RGZ_KINDS))
def test_every_kind_measures_as_its_label(kind):
    for seed in range(8):
        image = simulate_radio_galaxy(kind, seed=seed)
        assert scipy_label(image.data, RMS, BEAM) == kind, seed
        assert image.header["RGZCLASS"] == kind


@pytest.mark.parametrize("sources, expected", [
    # One beam-sized source: one island, one peak.
    ([(20, 20, 50)], "1C-1P"),
    # 5 beams apart: the gap falls far below 3 rms, two islands.
    ([(12, 20, 50), (27, 20, 50)], "2C-2P"),
    # 1.5 FWHM apart (3.5 sigma): the saddle (2 * 50 * exp(-1.53) = 22 rms) joins them,
    # and it lies below both peaks.
    ([(18, 20, 50), (22.5, 20, 50)], "1C-2P"),
    # 0.5 FWHM apart: the sum has a single maximum.
    ([(19, 20, 50), (20.5, 20, 50)], "1C-1P"),
    # A joined pair and a detached third source.
    ([(8, 20, 50), (12.5, 20, 50), (30, 20, 40)], "2C-3P"),
])
def test_rgz_label_of_hand_built_images(sources, expected):
    data = sum(gaussian((40, 40), x, y, peak, BEAM) for x, y, peak in sources)
    assert rgz_label(data, 1.0, BEAM) == expected
    assert scipy_label(data, 1.0, BEAM) == expected


def test_rgz_label_ignores_islands_smaller_than_half_a_beam():
    data = np.zeros((30, 30))
    data[10, 10:14] = 10.0  # 4 pixels; half of a 3 px beam is 5.1
    data[20:23, 20:22] = 10.0  # 6 pixels
    data[21, 21] = 12.0
    assert rgz_label(data, 1.0, BEAM) == "1C-1P"


def test_rgz_label_agrees_with_scipy_on_noise_fields():
    from astrofm.detect.simulate import _correlated_noise

    for seed in range(20):
        data = _correlated_noise((48, 48), 2.0, 1.0, np.random.default_rng(seed)) * 1.6
        assert rgz_label(data, 1.0, 2.0) == scipy_label(data, 1.0, 2.0), seed


def _noise_pixels(image):
    """A mask of the source with four pixels around it, so the rest is noise only."""
    return ndimage.binary_dilation(image.data > 3 * RMS, iterations=4)


def test_noise_has_the_asked_rms_and_the_beams_correlation():
    from astropy.stats import sigma_clipped_stats

    image = simulate_radio_galaxy("2C-2P", seed=5)
    source = _noise_pixels(image)
    _, _, std = sigma_clipped_stats(image.data, mask=source, sigma=5)
    assert std == pytest.approx(RMS, rel=0.15)
    # White noise smoothed by a Gaussian of sigma s is correlated as exp(-d^2 / (4 s^2)):
    # with s = 3 / 2.355 = 1.27 px, 0.86 at a lag of one pixel.
    expected = math.exp(-1 / (4 * (BEAM / (2 * math.sqrt(2 * math.log(2)))) ** 2))

    def lag_one(data, masked):
        both = ~(masked[:, :-1] | masked[:, 1:])
        return np.corrcoef(data[:, :-1][both], data[:, 1:][both])[0, 1]

    assert lag_one(image.data, source) == pytest.approx(expected, abs=0.08)
    white = np.random.default_rng(0).standard_normal(image.data.shape)
    assert abs(lag_one(white, source)) < 0.08


def test_header_holds_the_beam_units_and_a_wcs(tmp_path):
    import astropy.units as u

    import astrofm

    image = simulate_radio_galaxy("1C-2P", seed=1, pixel_scale=2.0, shape=(48, 64))
    assert image.data.shape == (48, 64) and image.data.dtype == np.float32
    path = tmp_path / "g.fits"
    fits.PrimaryHDU(image.data, header=image.header).writeto(path)
    loaded = astrofm.load(path)
    assert loaded.header["BMAJ"] == pytest.approx(3.0 * 2.0 / 3600)
    assert loaded.header["BMIN"] == pytest.approx(3.0 * 2.0 / 3600)
    assert loaded.header["BPA"] == pytest.approx(0.0)
    assert loaded.unit == u.Jy / u.beam
    assert loaded.wcs.wcs.ctype[0] == "RA---TAN"
    scales = loaded.wcs.proj_plane_pixel_scales()
    np.testing.assert_allclose([s.to_value(u.arcsec) for s in scales], [2.0, 2.0])


def test_folder_reads_as_a_folder_dataset(tmp_path):
    from astrofm.data import FolderDataset

    write_radio_galaxies(tmp_path / "rgz", 3, kinds=("2C-3P", "1C-1P"), seed=2)
    data = FolderDataset(tmp_path / "rgz")
    assert data.classes == ["1C-1P", "2C-3P"]
    assert len(data) == 6
    assert sorted(np.bincount(data.labels).tolist()) == [3, 3]
    for i in range(len(data)):
        image = data.load(i)
        assert image.header["RGZCLASS"] == data.classes[data.labels[i]]
        assert scipy_label(image.data, RMS, BEAM) == data.classes[data.labels[i]]


def test_equal_seeds_give_equal_images(tmp_path):
    a = write_radio_galaxies(tmp_path / "a", 2, kinds=("1C-2P",), seed=4)
    b = write_radio_galaxies(tmp_path / "b", 3, kinds=("2C-2P", "1C-2P"), seed=4)
    c = write_radio_galaxies(tmp_path / "c", 2, kinds=("1C-2P",), seed=5)
    for i in range(2):
        name = f"1C-2P/{i:05d}.fits"
        np.testing.assert_array_equal(fits.getdata(a / name), fits.getdata(b / name))
        assert not np.array_equal(fits.getdata(a / name), fits.getdata(c / name))


@pytest.mark.parametrize("options, word", [
    ({"kind": "2C-4P"}, "kind"),
    ({"shape": 16}, "shape"),
    ({"snr": (3.0, 50.0)}, "snr"),
    ({"snr": (50.0, 20.0)}, "snr"),
    ({"beam_fwhm": 0.0}, "beam_fwhm"),
    ({"rms": -1.0}, "rms"),
])
def test_bad_options_are_config_errors(options, word):
    options = {"kind": "1C-1P", **options}
    with pytest.raises(ConfigError, match=word):
        simulate_radio_galaxy(options.pop("kind"), seed=0, **options)


def test_a_class_that_cannot_fit_is_a_config_error():
    # Three detached bright components need more than 24 pixels at a 3 px beam.
    with pytest.raises(ConfigError, match="enlarge shape"):
        simulate_radio_galaxy("3C-3P", shape=24, snr=(150.0, 200.0), max_tries=20, seed=0)


def test_bad_folder_options_write_nothing(tmp_path):
    with pytest.raises(ConfigError, match="n_per_class"):
        write_radio_galaxies(tmp_path / "x", 0)
    with pytest.raises(ConfigError, match="kind"):
        write_radio_galaxies(tmp_path / "x", 2, kinds=("1C-1P", "9C-9P"))
    assert not (tmp_path / "x").exists()
