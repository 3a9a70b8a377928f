import numpy as np
import pytest

from astrofm.data import ArrayDataset, label_fraction, subset, train_val_split
from astrofm.errors import ConfigError, SplitError

LABELS = np.array([0] * 70 + [1] * 20 + [2] * 10)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 1.0])
def test_label_fraction_is_stratified(fraction):
    idx = label_fraction(LABELS, fraction, seed=3)
    counts = np.bincount(LABELS[idx], minlength=3)
    expected = [max(1, round(fraction * n)) for n in (70, 20, 10)]
    assert counts.tolist() == expected
    assert len(np.unique(idx)) == len(idx)


def test_label_fraction_is_reproducible_and_nested():
    a = label_fraction(LABELS, 0.3, seed=1)
    assert np.array_equal(a, label_fraction(LABELS, 0.3, seed=1))
    assert not np.array_equal(a, label_fraction(LABELS, 0.3, seed=2))
    assert set(label_fraction(LABELS, 0.1, seed=1)) <= set(a)
    assert set(a) <= set(label_fraction(LABELS, 0.5, seed=1))


def test_train_val_split_disjoint_and_stratified():
    train, val = train_val_split(LABELS, 0.2, seed=0)
    assert not set(train) & set(val)
    assert sorted([*train, *val]) == list(range(len(LABELS)))
    assert np.bincount(LABELS[val]).tolist() == [14, 4, 2]


@pytest.mark.parametrize("fraction", [0, 1.5, -0.1])
def test_bad_fraction(fraction):
    with pytest.raises(ConfigError, match="fraction"):
        label_fraction(LABELS, fraction)


def test_split_of_one_image_is_refused():
    with pytest.raises(SplitError, match="empty"):
        train_val_split([0], 0.5)


def test_subset_keeps_labels_and_classes():
    images = np.random.default_rng(0).random((12, 8, 8)).astype(np.float32)
    ds = ArrayDataset({"images": images, "labels": np.array([0, 1] * 6),
                       "label_names": np.array(["FRI", "FRII"])})
    sub = subset(ds, label_fraction(ds, 0.5, seed=0))
    assert len(sub) == 6
    assert sub.classes == ["FRI", "FRII"]
    assert np.bincount(sub.labels).tolist() == [3, 3]
    x, y = sub[0]
    assert x.shape == (1, 8, 8) and y == sub.labels[0]
    with pytest.raises(SplitError):
        subset(ds, [])
