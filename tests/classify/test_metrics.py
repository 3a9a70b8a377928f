import numpy as np
import pytest

from astrofm.classify import ClassificationReport, classification_report
from astrofm.errors import DatasetError

# 10 images of 3 classes, scored by hand:
#   true  0 0 0 0 1 1 1 2 2 2
#   pred  0 0 1 2 1 1 0 2 2 1
TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PRED = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]


def test_report_matches_a_hand_computed_example():
    report = classification_report(TRUE, PRED, ["FRI", "FRII", "hybrid"])
    confusion = np.array([[2, 1, 1],
                          [1, 2, 0],
                          [0, 1, 2]])
    np.testing.assert_array_equal(report.confusion, confusion)
    precision = np.array([2 / 3, 2 / 4, 2 / 3])   # column sums 3, 4, 3
    recall = np.array([2 / 4, 2 / 3, 2 / 3])      # row sums 4, 3, 3
    f1 = 2 * precision * recall / (precision + recall)
    np.testing.assert_allclose(report.precision, precision, rtol=1e-6)
    np.testing.assert_allclose(report.recall, recall, rtol=1e-6)
    np.testing.assert_allclose(report.f1, f1, rtol=1e-6)
    assert report.macro_f1 == pytest.approx(f1.mean())
    assert report.balanced_accuracy == pytest.approx(recall.mean())
    assert report.accuracy == pytest.approx(0.6)
    np.testing.assert_array_equal(report.support, [4, 3, 3])
    assert report.n == 10


def test_absent_classes_leave_the_macro_averages():
    # class 2 is neither present nor predicted: it must not count as an F1 of 0
    report = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b", "c"])
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert report.balanced_accuracy == pytest.approx((0.5 + 1) / 2)
    assert report.f1[2] == 0 and report.support[2] == 0


def test_report_text_and_table():
    report = classification_report(TRUE, PRED, ["FRI", "FRII", "hybrid"])
    text = str(report)
    assert f"macro F1           {report.macro_f1:.3f}" in text
    assert f"{report.macro_f1:.3f}" == "0.603"   # mean of 4/7, 4/7 and 2/3
    assert "confusion matrix (rows: true, columns: predicted)" in text
    assert text.splitlines()[-1].split() == ["hybrid", "0", "1", "2"]
    table = report.to_table()
    assert list(table["class"]) == ["FRI", "FRII", "hybrid"]
    assert table.meta["macro_f1"] == report.macro_f1
    assert report.to_dict()["confusion"] == report.confusion.tolist()
    assert isinstance(report, ClassificationReport)


def test_bad_scores():
    with pytest.raises(DatasetError, match="3 predictions for 2 labels"):
        classification_report([0, 1], [0, 1, 1], ["a", "b"])
    with pytest.raises(DatasetError, match="nothing to score"):
        classification_report([], [], ["a", "b"])
