import numpy as np
import pytest

from astrofm.classify import class_weights, is_test, mark_test
from astrofm.classify.data import codes_for, labelled
from astrofm.data import label_fraction, subset
from astrofm.errors import DatasetError, SplitError


def test_class_weights_are_inverse_frequencies():
    codes = np.array([0] * 10 + [1] * 30 + [2] * 60)
    weights = class_weights(codes, 4)
    # w_c = N / (K n_c) with K = 3 classes present; the absent class 3 gets 0
    np.testing.assert_allclose(weights, [100 / 30, 100 / 90, 100 / 180, 0], rtol=1e-6)
    assert weights[codes].mean() == pytest.approx(1.0)       # the loss keeps its scale
    np.testing.assert_array_equal(class_weights([0, 1, 0, 1], 2), [1, 1])


def test_test_mark_reaches_subsets(toy):
    data = toy(20)
    part = subset(data, label_fraction(data, 0.5, seed=1))
    assert not is_test(data) and not is_test(part)
    assert mark_test(data) is data
    assert is_test(data) and is_test(part)


def test_labels_travel_as_class_names(toy):
    items = labelled(toy(6, classes=("FRI", "FRII")), "test")
    assert items.classes == ["FRI", "FRII"]
    assert items.names.tolist() == ["FRI", "FRII"] * 3
    # scored against a classifier whose classes come in another order
    assert codes_for(items.names, ["FRII", "FRI"], "test").tolist() == [1, 0] * 3
    with pytest.raises(DatasetError, match=r"test: classes \['FRII'\] are not among"):
        codes_for(items.names, ["FRI", "hybrid"], "test")


def test_bad_labelled_inputs(toy):
    images = [np.zeros((8, 8))] * 3
    with pytest.raises(DatasetError, match="train: 2 labels for 3 images"):
        labelled((images, ["a", "b"]), "train")
    with pytest.raises(SplitError, match="val: no images"):
        labelled(([], []), "val")
    from astrofm.data import ArrayDataset

    unlabelled = ArrayDataset({"images": np.zeros((3, 8, 8))}, labels=None)
    with pytest.raises(DatasetError, match="train: the data set .* has no labels"):
        labelled(unlabelled, "train")
    with pytest.raises(SplitError, match="train: no data"):
        labelled(None, "train")
