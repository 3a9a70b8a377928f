"""Training: the loss falls on generated fields; a frozen backbone does not move."""

import json

import numpy as np
import pytest
import torch

from astrofm.data import CocoDataset
from astrofm.detect import Detector
from astrofm.detect.anchors import GRID_STRIDE, box_sizes
from astrofm.detect.module import collate

from .conftest import TINY_NET, TINY_VIT, tiny_detector


def _loss(network, images, targets):
    torch.manual_seed(0)  # the same anchor and RoI samples every time
    return sum(network(list(images), list(targets)).values())


def test_few_steps_reduce_the_loss(fields):
    det = tiny_detector(tuning="full")
    data = CocoDataset(fields, transform=det.preprocessing)
    images, targets = collate([data[0], data[1]])
    network = det.network.train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    first = _loss(network, images, targets).item()
    for _ in range(12):
        optimizer.zero_grad()
        _loss(network, images, targets).backward()
        optimizer.step()
    assert _loss(network, images, targets).item() < 0.8 * first


def test_fit_measures_the_prior_and_keeps_a_frozen_backbone(fields):
    det = Detector("dinov2-small", "frozen", weights=None, backbone_options=TINY_VIT, **TINY_NET)
    before = {k: v.clone() for k, v in det.backbone.state_dict().items()}
    det.fit(fields, epochs=1, batch_size=2, max_steps=2, progress=False)

    data = CocoDataset(fields)
    sizes = box_sizes(np.concatenate([data.boxes(i)[0] for i in range(len(data))]))
    assert det.prior.source_size == pytest.approx(np.median(sizes), rel=1e-9)
    assert det.prior.scale == pytest.approx(max(1.0, GRID_STRIDE / np.median(sizes)), rel=1e-9)
    resize = [s for s in det.preprocessing.float if type(s).__name__ == "ResizeForPatch"][0]
    assert resize.source_size * det.prior.scale == pytest.approx(GRID_STRIDE, rel=1e-9)

    after = det.backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert det.history["steps"] == 2 and det.history["val_images"] >= 1
    assert not det.network.training


def _changed(before, module):
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_lora_trains_only_adapters_in_the_backbone(fields):
    det = tiny_detector(tuning="lora")
    assert det.tuning_report.targets
    before = {k: v.clone() for k, v in det.network.state_dict().items()}
    det.fit(fields, epochs=1, batch_size=2, max_steps=2, progress=False)
    changed = _changed(before, det.network)
    in_backbone = {k for k in before if k.startswith("backbone.backbone.")}
    lora = {k for k in in_backbone if "lora_" in k}
    # B starts at zero and takes the first step; A moves only once B is not zero
    assert {k for k in lora if "lora_B" in k} <= changed
    assert changed & in_backbone <= lora       # no base weight of the backbone moved
    assert changed - in_backbone               # the pyramid and heads trained too


def _predictions(truth):
    """Known detections of one image: each true box but the last, shifted by a fifth of its
    width (IoU 0.8 / 1.2 = 2/3, clear of the thresholds) at score 0.9, and two false boxes
    in the corners, at scores 0.6 and 0.3."""
    shift = (truth[:-1, 2] - truth[:-1, 0]) / 5
    found = truth[:-1] + np.stack([shift, 0 * shift, shift, 0 * shift], axis=1)
    boxes = np.concatenate([found, [[0.0, 0, 3, 3], [61.0, 0, 64, 3]]])
    scores = np.concatenate([np.full(len(found), 0.9), [0.6, 0.3]])
    return boxes, scores, np.ones(len(boxes), dtype=np.int64)


def test_evaluate_scores_known_predictions(fields, monkeypatch):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = json.loads(fields.read_text())
    ids = sorted(im["id"] for im in coco["images"])
    truths = {i: np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                            a["bbox"][1] + a["bbox"][3]]
                           for a in coco["annotations"] if a["image_id"] == i]) for i in ids}
    preds = {i: _predictions(truths[i]) for i in ids}
    queue = [preds[i] for i in ids]  # evaluate reads the images in order of their ids
    det = tiny_detector()
    monkeypatch.setattr(det, "_predict", lambda images: [queue.pop(0) for _ in images])
    report = det.evaluate(fields)
    assert not queue

    # precision, recall and F1 at score 0.5 and IoU 0.5, counted by hand
    n_true = sum(len(t) for t in truths.values())
    tp, fp, fn = n_true - len(ids), len(ids), len(ids)
    assert (report.n_true, report.tp, report.fp, report.fn) == (n_true, tp, fp, fn)
    assert report.precision == pytest.approx(tp / (tp + fp))
    assert report.recall == pytest.approx(tp / (tp + fn))
    assert report.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # AP from pycocotools itself; the shifted boxes overlap their sources by IoU 2/3 only
    gt = COCO(str(fields))
    dets = gt.loadRes([{"image_id": i, "category_id": 1, "score": float(s),
                        "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
                       for i in ids for b, s in zip(*preds[i][:2], strict=True)])
    check = COCOeval(gt, dets, "bbox")
    check.evaluate()
    check.accumulate()
    check.summarize()
    assert report.map_50 == pytest.approx(check.stats[1], abs=1e-6)
    assert report.map_50_95 == pytest.approx(check.stats[0], abs=1e-6)
    assert report.ap_per_iou[0.6] == pytest.approx(report.map_50, abs=1e-6)
    assert report.map_50_95 == pytest.approx(0.4 * report.map_50, abs=1e-6)  # 0.5 to 0.65
    assert report.map_50 > 0.5 and report.ap_per_iou[0.7] == pytest.approx(0.0)
