"""simulate_field and write_simulated: labels follow the catalogue's selection."""

import json

import numpy as np
import pytest

from astrofm.detect import simulate_field, write_simulated
from astrofm.errors import ConfigError


def test_faint_sources_stay_in_the_image_unlabelled():
    # All sources between 2 and 4.5 sigma: none is catalogued, all are in the image.
    peaks = []
    for seed in range(4):
        image, sources = simulate_field(96, n_sources=20, snr=(2.0, 4.5), extended_fraction=0.0,
                                        seed=seed)
        assert not sources["labelled"].any()
        peaks.extend(image.data[sources["y"].astype(int), sources["x"].astype(int)])
    # Unit-rms noise averages to 0 (std 1/sqrt(80)); the sources' peaks to about 3.
    assert np.mean(peaks) > 2.0


def test_labelled_sources_are_those_at_or_above_label_snr(tmp_path):
    options = {"shape": 48, "n_sources": (4, 10), "snr": (2.0, 30.0), "label_snr": 7.0}
    path = write_simulated(tmp_path, 4, seed=2, **options)
    coco = json.loads(path.read_text())
    counts = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=5)[1:]
    expected = []
    for i in range(4):
        _, sources = simulate_field(seed=np.random.default_rng([2, i]), **options)
        assert np.array_equal(sources["labelled"], sources["snr"] >= 7.0)
        expected.append(int((sources["snr"] >= 7.0).sum()))
    assert counts.tolist() == expected
    assert 0 < sum(expected) < sum(len(simulate_field(seed=np.random.default_rng([2, i]),
                                                      **options)[1]) for i in range(4))


def test_the_default_snr_range_labels_every_source():
    _, sources = simulate_field(64, n_sources=12, seed=0)
    assert sources["labelled"].all() and (sources["snr"] >= 5.0).all()


@pytest.mark.parametrize("label_snr", [-1.0, "5", (5, 6)])
def test_bad_label_snr_raises(label_snr):
    with pytest.raises(ConfigError, match="label_snr"):
        simulate_field(32, label_snr=label_snr)
