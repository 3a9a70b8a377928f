"""Label normalisation: one set of rules for every data set that takes labels."""

import numpy as np
import pytest
from astropy.io import fits

from astrofm.classify.data import labelled
from astrofm.data import ArrayDataset, CatalogDataset, ListDataset, encode_labels
from astrofm.errors import DatasetError

IMAGES = [np.ones((4, 4))] * 4


def test_names_mixed_with_codes_are_refused():
    # Before, numpy turned all four into strings: classes ['1', '1.0', '2'].
    with pytest.raises(DatasetError, match=r"mix integer codes .*\[1, 1\.0, 2\].*class "
                                           r"names \(str\) such as \['1'\] \(positions 2\)"):
        ListDataset(IMAGES, [1, 1.0, "1", 2])


def test_whole_floats_are_the_integer_class():
    ds = ListDataset(IMAGES, [1, 1.0, np.float32(2), np.int64(2)])
    assert ds.classes == [1, 2]
    assert all(type(c) is int for c in ds.classes)
    assert ds.labels.tolist() == [0, 0, 1, 1]
    # An integer column stored as float (as numpy does once it has a gap) still
    # indexes the class names.
    ds = ArrayDataset({"images": np.zeros((3, 4, 4)), "labels": np.array([1.0, 0.0, 1.0]),
                       "label_names": np.array(["FRI", "FRII"])})
    assert ds.classes == ["FRI", "FRII"] and ds.labels.tolist() == [1, 0, 1]
    with pytest.raises(DatasetError, match=r"<arrays>: array 'labels': 1 of 3 labels are "
                                           "missing"):
        ArrayDataset({"images": np.zeros((3, 4, 4)), "labels": np.array([1.0, np.nan, 0.0])})


def test_fractional_floats_are_refused():
    with pytest.raises(DatasetError, match=r"\[0\.5\] \(positions 2\) are not whole numbers"):
        ListDataset(IMAGES, [1, 2, 0.5, 1])


@pytest.mark.parametrize("labels", [[1, None, 2, None], np.array([1.0, np.nan, 2.0, np.nan]),
                                    ["a", "", "b", " "]])
def test_missing_labels_are_counted_and_located(labels):
    # Before: a TypeError from sorting None, or NaN as a class of its own.
    with pytest.raises(DatasetError, match=r"2 of 4 labels are missing .* at positions 1, 3"):
        ListDataset(IMAGES, labels)


def test_blank_catalogue_label(tmp_path):
    fits.PrimaryHDU(np.ones((4, 4))).writeto(tmp_path / "a.fits")
    (tmp_path / "cat.csv").write_text("path,kind\na.fits,FRI\na.fits,\na.fits,FRII\n")
    with pytest.raises(DatasetError, match=r"cat\.csv: column 'kind': 1 of 3 labels are "
                                           r"missing .* at positions 1"):
        CatalogDataset(tmp_path / "cat.csv", label_column="kind")


def test_bools_are_their_own_kind():
    ds = ListDataset(IMAGES, [True, False, np.bool_(True), False])
    assert ds.classes == [False, True] and ds.labels.tolist() == [1, 0, 1, 0]
    with pytest.raises(DatasetError, match="mix bools"):
        ListDataset(IMAGES, [True, False, 1, 0])
    with pytest.raises(DatasetError, match=r"labels \[False, True\] are not among"):
        encode_labels([True, False], [0, 1])


def test_names_are_stripped_and_decoded_and_classes_sorted():
    ds = ListDataset(IMAGES, ["FRII ", b"FRI", " FRI", "FRII"])
    assert ds.classes == ["FRI", "FRII"] and ds.labels.tolist() == [1, 0, 0, 1]
    assert ListDataset(IMAGES, [10, 2, 1, 2]).classes == [1, 2, 10]


def test_other_label_types_and_repeated_classes():
    with pytest.raises(DatasetError, match=r"label \[1, 0\] at position 0 is a list"):
        ListDataset(IMAGES, np.eye(2)[[0, 1, 0, 1]].astype(int))
    with pytest.raises(DatasetError, match=r"name \['a'\] more than once"):
        ListDataset(IMAGES, [0, 1, 0, 1], classes=["a", "a"])


def test_classifier_pairs_use_the_same_rules():
    with pytest.raises(DatasetError, match="mix integer codes"):
        labelled((IMAGES, [1, "1", 2, 2]), "train")
    assert labelled((IMAGES, [1.0, 2, 2, 1]), "train").classes == ["1", "2"]


def test_feature_tables_use_the_same_rules():
    from astropy.table import MaskedColumn, Table

    features = np.zeros((4, 3), np.float32)
    table = Table({"feature": features, "label": np.array([2.0, 1.0, 10.0, 1.0])})
    items = labelled(table, "test")
    # Whole floats are the integer classes a data set of ints gets, in numeric order.
    assert items.classes == ["1", "2", "10"] and items.names.tolist() == ["2", "1", "10", "1"]
    table["label"] = MaskedColumn([1, 2, 1, 2], mask=[False, False, True, False])
    with pytest.raises(DatasetError, match=r"test: column 'label': 1 of 4 labels are missing "
                                           r".* at positions 2"):
        labelled(table, "test")
