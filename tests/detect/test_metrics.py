"""Metrics: COCO AP at every IoU, and matching at a score threshold."""

import math

import numpy as np
import pytest

from astrofm.detect.metrics import IOU_STEPS, detection_metrics
from astrofm.errors import ConfigError

TRUE = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]])


def test_perfect_predictions_score_one_everywhere():
    report = detection_metrics([{"boxes": TRUE, "scores": [0.9, 0.8, 0.7], "labels": [1, 1, 1]}],
                               [(TRUE, [1, 1, 1])])
    assert all(report.ap_per_iou[t] == pytest.approx(1.0) for t in IOU_STEPS)
    assert report.map_50 == pytest.approx(1.0) and report.map_50_95 == pytest.approx(1.0)
    assert (report.precision, report.recall, report.f1) == (1.0, 1.0, 1.0)


def test_ap_drops_past_the_overlap_of_a_shifted_box():
    shifted = TRUE + [2, 0, 2, 0]  # IoU 8 * 10 / (12 * 10) = 2 / 3 with its true box
    report = detection_metrics([{"boxes": shifted, "scores": [0.9, 0.8, 0.7]}], [(TRUE,)])
    assert report.ap_per_iou[0.6] == pytest.approx(1.0)
    assert report.ap_per_iou[0.7] == 0.0
    assert report.to_table()["map"][5] == pytest.approx(1.0)  # IoU 0.6
    assert str(report).startswith("mAP@0.5 = 1.000")


def test_precision_recall_f1_at_a_threshold():
    pred = {"boxes": np.vstack([TRUE[:2], [[80.0, 80, 90, 90]], TRUE[2:]]),
            "scores": [0.9, 0.6, 0.8, 0.3], "labels": [1, 1, 1, 1]}
    report = detection_metrics([pred], [(TRUE, [1, 1, 1])], score_threshold=0.5)
    assert (report.tp, report.fp, report.fn) == (2, 1, 1)
    assert report.precision == pytest.approx(2 / 3) and report.recall == pytest.approx(2 / 3)
    assert report.f1 == pytest.approx(2 / 3)
    # A box of the wrong class is no match.
    other = detection_metrics([{**pred, "labels": [2, 1, 1, 1]}], [(TRUE, [1, 1, 1])])
    assert other.tp == 1


def test_image_without_true_boxes_and_bad_arguments():
    report = detection_metrics([{"boxes": TRUE[:1], "scores": [0.9]}], [(np.zeros((0, 4)),)])
    assert math.isnan(report.map_50) and report.fp == 1
    with pytest.raises(ConfigError, match="predictions for 1 images but targets for 2"):
        detection_metrics([{"boxes": TRUE, "scores": [1, 1, 1]}], [(TRUE,), (TRUE,)])
    with pytest.raises(ConfigError, match="scores"):
        detection_metrics([{"boxes": TRUE}], [(TRUE,)])
    with pytest.raises(ConfigError, match="iou_threshold"):
        detection_metrics([], [], iou_threshold=0.0)
