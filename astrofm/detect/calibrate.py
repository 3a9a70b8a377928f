"""Detection scores calibrated to purity on held-out fields.

A Faster R-CNN score orders detections but is not a probability: 0.5 may mean that
most detections are real on one survey and few on another. :meth:`Detector.calibrate
<astrofm.detect.Detector.calibrate>` runs the detector over fields with known sources
(held-out generated fields, never the training set), marks each detection that
matches a true box at the IoU threshold (greedily, best score first, as
:func:`~astrofm.detect.metrics.matched` does for precision), and fits scikit-learn's
:class:`~sklearn.isotonic.IsotonicRegression` from score to that outcome: a monotone
map whose value at a score is the fraction of detections around that score that are
real, the purity. :meth:`Detector.detect <astrofm.detect.Detector.detect>` then writes
the calibrated value as ``score`` (and the network's as ``raw_score``), so that
``score_threshold=0.5`` keeps the detections that are real more often than not, on
fields like the calibration fields.

The map is fitted on the detections that pass the same S/N cut as the catalogue
(``min_snr``), since that is the population whose purity the catalogue reports.
"""

from __future__ import annotations

import numpy as np

from astrofm.errors import DatasetError

__all__ = ["ScoreCalibration", "fit_calibration"]


class ScoreCalibration:
    """A monotone map from network score to purity (an isotonic regression).

    Parameters
    ----------
    scores, purity : array_like
        The breakpoints of a fitted :class:`~sklearn.isotonic.IsotonicRegression`
        (``X_thresholds_`` and ``y_thresholds_``); between them the map is linear, and
        outside them it is clipped.
    min_snr : float or None
        The S/N cut of the detections it was fitted on.
    iou_threshold : float
        The IoU at which a detection counted as real.
    detections : int
        How many detections it was fitted on.
    """

    def __init__(self, scores, purity, *, min_snr, iou_threshold: float, detections: int):
        from sklearn.isotonic import IsotonicRegression

        self.scores = np.asarray(scores, dtype=float)
        self.purity = np.asarray(purity, dtype=float)
        self.min_snr, self.iou_threshold = min_snr, float(iou_threshold)
        self.detections = int(detections)
        # Refitting on a monotone map's own breakpoints gives back that map exactly.
        self._model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            self.scores, self.purity)

    def __call__(self, scores) -> np.ndarray:
        """The purity of detections with these network scores."""
        scores = np.asarray(scores, dtype=float).reshape(-1)
        return self._model.predict(scores) if len(scores) else scores

    def to_dict(self) -> dict:
        """Plain-dict form, saved with the detector."""
        return {"scores": self.scores.tolist(), "purity": self.purity.tolist(),
                "min_snr": self.min_snr, "iou_threshold": self.iou_threshold,
                "detections": self.detections}

    @classmethod
    def from_dict(cls, d: dict) -> ScoreCalibration:
        """Inverse of :meth:`to_dict`."""
        return cls(d["scores"], d["purity"], min_snr=d["min_snr"],
                   iou_threshold=d["iou_threshold"], detections=d["detections"])

    def __repr__(self):
        return (f"<ScoreCalibration from {self.detections} detections at S/N >= "
                f"{self.min_snr}, IoU {self.iou_threshold:g}>")


def fit_calibration(detector, fields, *, min_snr, iou_threshold: float, tile, overlap,
                    batch_size: int, progress: bool) -> ScoreCalibration:
    """Fit the score-to-purity map of ``detector`` on ``fields``.

    The arguments are those of :meth:`Detector.calibrate
    <astrofm.detect.Detector.calibrate>`.

    Returns
    -------
    ScoreCalibration

    Raises
    ------
    DatasetError
        The detector finds nothing on the fields (at the S/N cut).
    """
    from sklearn.isotonic import IsotonicRegression

    from astrofm.detect.datasets import detection_set
    from astrofm.detect.metrics import _as_dict, matched
    from astrofm.detect.survey import labelled_detections

    fields = detection_set(fields, "fields")
    scores, real = [], []
    for pred, truth in labelled_detections(detector, fields, min_snr=min_snr, tile=tile,
                                           overlap=overlap, batch_size=batch_size,
                                           progress=progress):
        scores.append(pred["scores"])
        real.append(matched(_as_dict(pred, "fields", True), _as_dict(truth, "fields", False),
                            iou_threshold))
    scores, real = np.concatenate(scores), np.concatenate(real)
    if not len(scores):
        raise DatasetError(f"fields: the detector found nothing on its {len(fields)} images"
                           + ("" if min_snr is None else f" at S/N >= {min_snr:g}")
                           + ", so there is nothing to calibrate; give fields with sources "
                           "it detects (held-out generated fields like its training set).")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        scores, real.astype(float))
    return ScoreCalibration(model.X_thresholds_, model.y_thresholds_, min_snr=min_snr,
                            iou_threshold=iou_threshold, detections=len(scores))
