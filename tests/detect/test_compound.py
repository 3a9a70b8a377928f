"""Sources of several Gaussians: one catalogue entry per island, boxed as a whole."""

import math

import numpy as np
import pytest
from astropy.modeling.models import Gaussian2D
from photutils.segmentation import detect_sources

from astrofm import AstroImage
from astrofm.detect import measure_target, simulate_field
from astrofm.detect.catalog import FWHM_SCALE
from astrofm.detect.compound import catalogue_entries, chains
from astrofm.errors import ConfigError

BEAM = 3.0
SIGMA = BEAM / (2 * math.sqrt(2 * math.log(2)))


def _chain(snr, gap, n=3):
    """``n`` beam-sized Gaussians ``gap`` FWHMs apart along x, centred at (32, 32)."""
    x = 32 + (np.arange(n) - (n - 1) / 2) * gap * BEAM
    return {"x": x, "y": np.full(n, 32.0), "snr": np.full(n, float(snr)),
            "major": np.full(n, BEAM), "minor": np.full(n, BEAM), "theta": np.zeros(n),
            "extended": np.zeros(n, bool), "source": np.zeros(n, int)}


def _model(parts):
    yy, xx = np.mgrid[:64, :64] + 0.5  # pixel centres, edge convention

    def model(which):
        return sum(Gaussian2D(parts["snr"][i], parts["x"][i], parts["y"][i], SIGMA, SIGMA)(xx, yy)
                   for i in np.atleast_1d(which))
    return model


def test_a_bright_chain_is_one_island_and_a_faint_one_falls_apart():
    # Two beam Gaussians 1.5 FWHMs apart: their sum midway is 2 * 2**-(1.5**2) = 0.42 of
    # a peak, so peaks of 20 rms join above 3 rms (8.4) and peaks of 5 do not (2.1).
    bright, faint = _chain(20, 1.5, n=2), _chain(5, 1.5, n=2)
    assert catalogue_entries((64, 64), bright, _model(bright), 1.0).tolist() == [0, 0]
    assert catalogue_entries((64, 64), faint, _model(faint), 1.0).tolist() == [0, 1]


def test_one_entry_per_island_as_photutils_segments_the_model():
    parts = _chain(40, 1.4, n=3)
    image = _model(parts)(range(3))
    islands = detect_sources(image, 3.0, n_pixels=1, connectivity=8)
    assert islands.n_labels == 1
    assert catalogue_entries((64, 64), parts, _model(parts), 1.0).tolist() == [0, 0, 0]


def test_no_chains_leaves_the_draw_untouched():
    rng = np.random.default_rng(3)
    x = np.array([10.0, 20.0])
    parts = chains(rng, x, x, x, x, x, x, np.zeros(2, bool), 0.0)
    assert parts["source"].tolist() == [0, 1]
    assert rng.random() == np.random.default_rng(3).random()


def test_a_chained_field_boxes_each_source_around_all_its_gaussians():
    image, sources = simulate_field(96, n_sources=6, beam_fwhm=BEAM, snr=(40.0, 60.0),
                                    extended_fraction=0.0, compound_fraction=1.0, seed=2)
    chained = sources[sources["components"] > 1]
    assert len(chained) > 0 and set(sources["components"]) <= {1, 2, 3}
    # Every point source of 40-60 rms holds its pixels above 3 rms out to
    # sigma * sqrt(2 ln(peak / 3)) from its centre; a chain's box is the union of its
    # Gaussians' boxes (half-side k * FWHM / 2 each), wider than one beam's box.
    single = FWHM_SCALE * BEAM
    for row in chained:
        assert row["x1"] - row["x0"] > single or row["y1"] - row["y0"] > single
        assert row["labelled"]
    islands = detect_sources(image.data, 3.0 * 1.0, n_pixels=1, connectivity=8)
    # Each chain's flux centre lies on an island that also covers its box's middle.
    ix, iy = chained["x"].astype(int), chained["y"].astype(int)
    assert np.all(islands.data[iy, ix] > 0)


def test_the_target_share_of_islands_with_two_peaks():
    # One island with two peaks 1.5 FWHMs apart at 30 rms, and two single sources.
    yy, xx = np.mgrid[:96, :96]
    data = np.random.default_rng(0).normal(0, 1.0, (96, 96))
    for x, y in ((30, 30), (30 + 1.5 * BEAM, 30), (70, 70), (20, 75)):
        data += Gaussian2D(30.0, x, y, SIGMA, SIGMA)(xx, yy)
    stats = measure_target(AstroImage(data.astype(np.float32)), beam_fwhm=BEAM)
    assert stats.island_density * 96 * 96 == pytest.approx(3)
    assert stats.multi_peak_fraction == pytest.approx(1 / 3)


def test_compound_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(ConfigError, match="compound_fraction"):
        simulate_field(32, compound_fraction=1.5)
