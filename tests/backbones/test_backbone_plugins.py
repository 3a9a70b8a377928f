"""The astrofm-zoobot plugin, installed beside astrofm (as CI does): discovered, built offline."""

import pytest
import torch

from astrofm import backbones

pytest.importorskip("astrofm_zoobot", reason="install plugins/astrofm-zoobot to run")


def test_zoobot_plugin_is_discovered_and_builds_offline():
    backbones.refresh()
    assert "zoobot-convnext-nano" in backbones.list("zoobot*")
    assert backbones.get("zoobot").family == "zoobot"
    torch.manual_seed(0)
    encoder = backbones.load("zoobot", weights=None, depths=(1, 1, 1, 1))
    with torch.no_grad():
        features = encoder.features(torch.rand(2, 3, 64, 64))
    assert features.shape == (2, 640) and torch.isfinite(features).all()
