"""The pyramids give torchvision the level names, strides and channels it expects."""

import pytest
import torch

from astrofm import backbones
from astrofm.detect.anchors import BoxPrior
from astrofm.detect.model import build_faster_rcnn
from astrofm.detect.pyramid import (
    LEVELS,
    STRIDES,
    SimpleFeaturePyramid,
    StagePyramid,
    feature_pyramid,
)

from .conftest import TINY_VIT

# One build per family and per ViT patch size (14 is resized to the stride-16 grid).
CASES = {
    "resnet18": ({}, StagePyramid),
    "dinov2-small": (TINY_VIT, SimpleFeaturePyramid),
    "vit-base": (TINY_VIT, SimpleFeaturePyramid),
    "dinov1-base-8": (TINY_VIT, SimpleFeaturePyramid),
}


@pytest.mark.parametrize("name", CASES)
def test_levels_strides_and_channels(name):
    options, cls = CASES[name]
    body = feature_pyramid(backbones.load(name, weights=None, **options), out_channels=24)
    assert isinstance(body, cls) and body.out_channels == 24
    h, w = 128, 192
    with torch.no_grad():
        maps = body(torch.randn(2, 3, h, w))
    assert tuple(maps) == LEVELS
    for (level, fmap), stride in zip(maps.items(), STRIDES, strict=True):
        assert fmap.shape == (2, 24, h // stride, w // stride), level


@pytest.mark.parametrize("name", ["resnet18", "dinov2-small"])
def test_torchvision_infers_exact_strides(name):
    """RoIAlign's scales and the anchors' strides are the pyramid's, on a padded batch."""
    options, _ = CASES[name]
    prior = BoxPrior(8.0, 1.0, (8.0, 16.0), (1.0,), 16.0)
    net = build_faster_rcnn(backbones.load(name, weights=None, **options), 1, prior,
                            out_channels=16, representation_size=32).eval()
    images, _ = net.transform([torch.randn(3, 100, 90)])
    assert tuple(images.tensors.shape[-2:]) == (128, 96)  # padded to multiples of 32
    with torch.no_grad():
        maps = net.backbone(images.tensors)
        anchors = net.rpn.anchor_generator(images, list(maps.values()))[0]
        net.roi_heads.box_roi_pool(maps, [torch.tensor([[0.0, 0, 20, 20]])], images.image_sizes)
    assert net.roi_heads.box_roi_pool.scales == [1 / s for s in STRIDES[:4]]
    per_level = [m.shape[-2] * m.shape[-1] * 2 for m in maps.values()]
    assert anchors.shape == (sum(per_level), 4)
    # The finest level's anchor centres step by exactly 4 px.
    centres = (anchors[: per_level[0]: 2, 0] + anchors[: per_level[0]: 2, 2]) / 2
    assert torch.allclose(centres[1] - centres[0], torch.tensor(4.0))
