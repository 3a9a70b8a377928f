"""Training: the loss falls on generated fields; a frozen backbone does not move."""

import numpy as np
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
    assert det.prior.source_size == np.median(sizes)
    assert det.prior.scale == max(1.0, GRID_STRIDE / np.median(sizes))
    resize = [s for s in det.preprocessing.float if type(s).__name__ == "ResizeForPatch"][0]
    assert resize.source_size * det.prior.scale == GRID_STRIDE

    after = det.backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert det.history["steps"] == 2 and det.history["val_images"] >= 1
    assert not det.network.training


def test_lora_trains_only_adapters_in_the_backbone(fields):
    det = tiny_detector(tuning="lora")
    trainable = [n for n, p in det.backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert det.tuning_report.targets
