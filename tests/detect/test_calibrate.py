"""Scores calibrated to purity: the isotonic map, its use in detect, and saving it."""

import numpy as np
import pytest
from astropy.io import fits

import astrofm
from astrofm.detect.catalog import write_coco
from astrofm.errors import DatasetError

from .conftest import fake_network, tiny_detector

# Four true sources; the network finds two at 0.9, two at 0.6, beside two false
# detections at 0.6 and two at 0.3 and 0.2 on empty sky. Purity worked out by hand:
# 1 at 0.9, 2 of 4 = 0.5 at 0.6, 0 at 0.3 and below.
TRUE = np.array([[4.0, 4, 12, 12], [40, 4, 48, 12], [4, 40, 12, 48], [40, 40, 48, 48]])
FALSE = np.array([[22.0, 22, 30, 30], [52, 22, 60, 30], [22, 52, 30, 60], [52, 52, 60, 60]])
BOXES = np.concatenate([TRUE, FALSE])
SCORES = np.array([0.9, 0.9, 0.6, 0.6, 0.6, 0.6, 0.3, 0.2])


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    data = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    fits.PrimaryHDU(data).writeto(folder / "field.fits")
    return write_coco(folder / "fields.json", [
        {"file_name": "field.fits", "width": 64, "height": 64, "boxes": TRUE,
         "labels": [1] * 4}], classes=["source"])


@pytest.fixture(scope="module")
def calibrated(fields):
    return fake_network(tiny_detector(), BOXES, SCORES).calibrate(fields, min_snr=None)


def test_calibration_maps_scores_to_the_purity_around_them(calibrated):
    cal = calibrated.calibration
    assert cal.detections == 8 and cal.min_snr is None
    np.testing.assert_allclose(cal([0.2, 0.3, 0.6, 0.9, 0.95]), [0, 0, 0.5, 1, 1], atol=1e-9)
    assert 0 <= cal([0.45])[0] <= 0.5  # monotone between the measured scores


def test_detect_writes_calibrated_scores_and_keeps_the_raw_ones(calibrated, fields, tmp_path):
    image = fields.parent / "field.fits"
    table = calibrated.detect(image, tile=None, min_snr=None, progress=False)
    assert table.meta["calibrated"] is True
    np.testing.assert_allclose(table["score"], [1, 1, 0.5, 0.5, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(table["raw_score"], [0.9, 0.9, 0.6, 0.6, 0.6, 0.6])
    strict = calibrated.detect(image, tile=None, min_snr=None, score_threshold=0.75,
                               progress=False)
    assert len(strict) == 2
    again = fake_network(astrofm.load(calibrated.save(tmp_path / "c.astrofm")), BOXES, SCORES)
    assert again.calibration.to_dict() == calibrated.calibration.to_dict()
    np.testing.assert_allclose(again.detect(image, tile=None, min_snr=None,
                                            progress=False)["score"], table["score"])


def test_calibrating_on_fields_where_nothing_is_found_is_refused(fields):
    det = fake_network(tiny_detector(), np.zeros((0, 4)), np.zeros(0))
    with pytest.raises(DatasetError, match="nothing to calibrate"):
        det.calibrate(fields)
