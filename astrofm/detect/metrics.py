"""Detection metrics: COCO mean average precision at many IoUs, and P/R/F1 at a threshold.

Average precision is COCO's (101-point interpolated precision over recall, through
torchmetrics with the pycocotools backend), computed once over the union of the IoU
thresholds asked for: 0.5 to 0.95 in steps of 0.05 (COCO's ``mAP@[.5:.95]``) and 0.1
to 0.9 in steps of 0.1 (the reference study's Appendix C). Each threshold's AP is read
from the precision array, so no COCO summary with its fixed 100-detection cap is
involved: every detection of an image counts.

Precision, recall and F1 are counted at one score threshold: detections scoring at
least ``score_threshold`` are matched greedily, best score first, each to the unmatched
true box of the same class with which it has the highest IoU, if that IoU reaches
``iou_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from astrofm.backbones.weights import weights_note
from astrofm.errors import ConfigError

__all__ = ["DetectionReport", "detection_metrics", "evaluate_detector", "match_counts", "matched",
           "IOU_STEPS", "COCO_IOUS"]

#: The reference study's IoU thresholds, 0.1 to 0.9.
IOU_STEPS = tuple(round(0.1 * i, 2) for i in range(1, 10))
#: COCO's thresholds, 0.5 to 0.95.
COCO_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


@dataclass
class DetectionReport:
    """Detection quality on a set of images.

    Attributes
    ----------
    map_50 : float
        Mean average precision at IoU 0.5 (over classes).
    map_50_95 : float
        Mean over IoU 0.5 to 0.95 (COCO's mAP).
    ap_per_iou : dict of float to float
        mAP at each IoU threshold (0.1 to 0.9 and 0.5 to 0.95).
    precision, recall, f1 : float
        At ``score_threshold`` and ``iou_threshold``.
    score_threshold, iou_threshold : float
    n_images, n_true, tp, fp, fn : int
        Images, true boxes, and matches counted for precision and recall.
    weights : str
        Where the backbone's weights came from (``"pretrained"``, a file, or
        ``"random (seed N)"``), as the detector that was scored records it.
    """

    map_50: float
    map_50_95: float
    ap_per_iou: dict
    precision: float
    recall: float
    f1: float
    score_threshold: float
    iou_threshold: float
    n_images: int
    n_true: int
    tp: int
    fp: int
    fn: int
    weights: str = ""
    extra: dict = field(default_factory=dict)

    def to_table(self, ious=IOU_STEPS):
        """mAP against IoU as an astropy Table (columns ``iou`` and ``map``)."""
        from astropy.table import Table

        return Table({"iou": list(ious), "map": [self.ap_per_iou[round(t, 2)] for t in ious]})

    def to_dict(self) -> dict:
        """Plain-dict form (JSON-able)."""
        out = dict(self.__dict__)
        out["ap_per_iou"] = {str(k): v for k, v in self.ap_per_iou.items()}
        return out

    def __str__(self):
        ious = " ".join(f"{t:>5.1f}" for t in IOU_STEPS)
        aps = " ".join(f"{self.ap_per_iou[t]:5.3f}" for t in IOU_STEPS)
        return (f"mAP@0.5 = {self.map_50:.3f}, mAP@[0.5:0.95] = {self.map_50_95:.3f} "
                f"({self.n_images} images, {self.n_true} true boxes)\n"
                f"IoU  {ious}\nmAP  {aps}\n"
                f"at score >= {self.score_threshold:g}, IoU >= {self.iou_threshold:g}: "
                f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
                f"(TP {self.tp}, FP {self.fp}, FN {self.fn})"
                + (f"\nbackbone weights: {weights_note(self.weights)}" if self.weights else ""))


def _as_dict(item, what, with_scores):
    """A ``{"boxes", "labels"[, "scores"]}`` dict of tensors from a dict, tuple or Table."""
    if hasattr(item, "colnames"):
        boxes = np.stack([np.asarray(item[c], dtype=float) for c in ("x0", "y0", "x1", "y1")],
                         axis=-1) if len(item) else np.zeros((0, 4))
        item = {"boxes": boxes, "labels": np.asarray(item["label"]),
                **({"scores": np.asarray(item["score"])} if "score" in item.colnames else {})}
    elif isinstance(item, tuple):
        item = dict(zip(("boxes", "labels", "scores"), item, strict=False))
    if not isinstance(item, dict) or "boxes" not in item:
        raise ConfigError(f"{what}: each item must be a dict with 'boxes' (and 'labels'"
                          f"{', scores' if with_scores else ''}), a (boxes, labels) tuple or a "
                          "catalogue Table.")
    boxes = torch.as_tensor(np.asarray(item["boxes"], dtype=np.float64), dtype=torch.float64)
    boxes = boxes.reshape(-1, 4).float()
    labels = item.get("labels")
    labels = torch.ones(len(boxes), dtype=torch.int64) if labels is None else torch.as_tensor(
        np.asarray(labels, dtype=np.int64)).reshape(-1)
    out = {"boxes": boxes, "labels": labels}
    if with_scores:
        if "scores" not in item:
            raise ConfigError(f"{what}: predictions need 'scores' to be ranked.")
        out["scores"] = torch.as_tensor(np.asarray(item["scores"], dtype=np.float32)).reshape(-1)
    return out


def matched(pred, true, iou_threshold: float) -> np.ndarray:
    """Which detections of one image match a true box, matched greedily best score first.

    Each detection takes the unmatched true box of its class with which it has the
    highest IoU, if that IoU reaches ``iou_threshold``.

    Parameters
    ----------
    pred : dict
        ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,) tensors.
    true : dict
        ``boxes`` (M, 4), ``labels`` (M,) tensors.
    iou_threshold : float
        Least IoU of a match.

    Returns
    -------
    numpy.ndarray of bool
        ``(N,)``, in the order of ``pred``.
    """
    from torchvision.ops import box_iou

    boxes, labels = pred["boxes"], pred["labels"]
    hit = np.zeros(len(boxes), dtype=bool)
    if not len(boxes) or not len(true["boxes"]):
        return hit
    order = torch.argsort(pred["scores"], descending=True, stable=True)
    free = torch.ones(len(true["boxes"]), dtype=torch.bool)
    iou = box_iou(boxes, true["boxes"])
    for i in order.tolist():
        candidates = iou[i].clone()
        candidates[~free | (true["labels"] != labels[i])] = -1.0
        j = int(torch.argmax(candidates))
        if candidates[j] >= iou_threshold:
            free[j] = False
            hit[i] = True
    return hit


def match_counts(pred, true, score_threshold: float, iou_threshold: float):
    """True positives, false positives and false negatives of one image.

    Parameters
    ----------
    pred : dict
        ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,) tensors.
    true : dict
        ``boxes`` (M, 4), ``labels`` (M,) tensors.
    score_threshold : float
        Detections scoring lower are ignored.
    iou_threshold : float
        Least IoU of a match (see :func:`matched`).

    Returns
    -------
    tuple of int
        ``(tp, fp, fn)``.
    """
    keep = pred["scores"] >= score_threshold
    tp = int(matched({k: pred[k][keep] for k in ("boxes", "scores", "labels")}, true,
                     iou_threshold).sum())
    return tp, int(keep.sum()) - tp, len(true["boxes"]) - tp


def detection_metrics(predictions, targets, *, score_threshold: float = 0.5,
                      iou_threshold: float = 0.5, ious=IOU_STEPS) -> DetectionReport:
    """mAP at many IoUs and precision/recall/F1 at one threshold.

    Parameters
    ----------
    predictions : sequence
        One item per image: a catalogue Table from :meth:`Detector.detect`, a dict with
        ``boxes`` (N, 4 as x0, y0, x1, y1), ``scores`` and ``labels``, or a
        ``(boxes, labels, scores)`` tuple.
    targets : sequence
        One item per image, in the same order: a dict with ``boxes`` and ``labels`` or a
        ``(boxes, labels)`` tuple (labels default to 1).
    score_threshold, iou_threshold : float
        Where precision, recall and F1 are counted.
    ious : sequence of float
        IoU thresholds to report besides COCO's 0.5 to 0.95.

    Returns
    -------
    DetectionReport
    """
    from torchmetrics.detection import MeanAveragePrecision

    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets):
        raise ConfigError(f"predictions for {len(predictions)} images but targets for "
                          f"{len(targets)}; give one of each per image, in the same order.")
    if not 0 < iou_threshold <= 1:
        raise ConfigError(f"iou_threshold={iou_threshold!r}: give an IoU in (0, 1].")
    preds = [_as_dict(p, "predictions", True) for p in predictions]
    trues = [_as_dict(t, "targets", False) for t in targets]
    thresholds = sorted({round(float(t), 2) for t in (*ious, *COCO_IOUS, iou_threshold)})
    most = max([100, *(len(p["boxes"]) for p in preds)])
    metric = MeanAveragePrecision(iou_thresholds=thresholds, extended_summary=True,
                                  max_detection_thresholds=[1, 10, most], backend="pycocotools")
    metric.update(preds, trues)
    # precision: (IoU, recall, class, area, max detections); -1 where no true box exists.
    precision = metric.compute()["precision"][:, :, :, 0, -1].double().numpy()
    ap = {}
    for i, t in enumerate(thresholds):
        per_class = [p[p > -1].mean() for p in precision[i].T if (p > -1).any()]
        ap[t] = float(np.mean(per_class)) if per_class else float("nan")
    counts = np.array([match_counts(p, t, score_threshold, iou_threshold)
                       for p, t in zip(preds, trues, strict=True)]).reshape(-1, 3).sum(axis=0)
    tp, fp, fn = (int(c) for c in counts)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return DetectionReport(
        map_50=ap[0.5], map_50_95=float(np.mean([ap[t] for t in COCO_IOUS])), ap_per_iou=ap,
        precision=p, recall=r, f1=2 * p * r / (p + r) if p + r else 0.0,
        score_threshold=float(score_threshold), iou_threshold=float(iou_threshold),
        n_images=len(preds), n_true=int(sum(len(t["boxes"]) for t in trues)),
        tp=tp, fp=fp, fn=fn)


def evaluate_detector(detector, test, *, min_snr, score_threshold: float, iou_threshold: float,
                      tile, overlap, batch_size: int, progress: bool) -> DetectionReport:
    """:meth:`Detector.evaluate <astrofm.detect.Detector.evaluate>` on a data set of boxes.

    The arguments are that method's; ``test`` is a
    :class:`~astrofm.data.CocoDataset`.
    """
    from astrofm.detect.survey import labelled_detections

    found = list(labelled_detections(detector, test, min_snr=min_snr, tile=tile,
                                     overlap=overlap, batch_size=batch_size, progress=progress))
    report = detection_metrics([p for p, _ in found], [t for _, t in found],
                               score_threshold=score_threshold, iou_threshold=iou_threshold)
    report.weights = detector.backbone.weights_origin
    return report
