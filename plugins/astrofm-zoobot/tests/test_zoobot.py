"""astrofm-zoobot: discovered through the entry point, built offline, weights round trip."""

import importlib.metadata

import astrofm_zoobot
import pytest
import torch

from astrofm import backbones
from astrofm.errors import WeightsError

# timm's ImageNet parameter counts of each architecture with its 1000-class classifier
# (millions); the encoders are the same networks without that classifier.
IMAGENET_COUNTS = {
    "convnext_nano": 15.6, "convnext_small": 50.2, "convnext_base": 88.6,
    "convnext_large": 197.8, "efficientnet_b0": 5.3, "tf_efficientnetv2_s": 21.5,
    "resnet18": 11.7, "resnet50": 25.6,
}


def test_entry_point_is_installed():
    points = [ep for ep in importlib.metadata.entry_points(group="astrofm.backbones")
              if ep.name == "zoobot"]
    assert [ep.value for ep in points] == ["astrofm_zoobot:specs"]
    assert points[0].dist.name == "astrofm-zoobot"


def test_discovered_by_astrofm():
    backbones.refresh()
    assert backbones.list("zoobot*") == sorted(astrofm_zoobot.ENCODERS)
    assert backbones.aliases()["zoobot"] == "zoobot-convnext-nano"
    spec = backbones.get("zoobot")
    assert spec.hub_id == "hf_hub:mwalmsley/zoobot-encoder-convnext_nano"
    assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    assert not spec.is_vit and spec.native_size == 224
    assert backbones.get("zoobot-greyscale-convnext-nano").in_channels == 1


@pytest.mark.parametrize("name", sorted(astrofm_zoobot.ENCODERS))
def test_full_size_on_meta_matches_declaration(name):
    declared = backbones.get(name)
    with torch.device("meta"):
        encoder = backbones.load(name, weights=None)
    assert encoder.spec == declared
    classifier = declared.feature_dim * 1000 + 1000
    millions = (encoder.num_parameters() + classifier) / 1e6
    assert millions == pytest.approx(IMAGENET_COUNTS[declared.arch], rel=0.02)


@pytest.mark.parametrize("name", ["zoobot-convnext-nano", "zoobot-efficientnet-b0",
                                  "zoobot-greyscale-convnext-nano"])
def test_builds_offline_with_random_weights(name):
    torch.manual_seed(0)
    encoder = backbones.load(name, weights=None)
    spec = encoder.spec
    x = torch.rand(2, spec.in_channels, 64, 96)
    with torch.no_grad():
        features = encoder.features(x)
        again = encoder.features(x)
        tokens = encoder.features(x, pooling="tokens")
        maps = encoder.intermediate(x)
    assert features.shape == (2, spec.feature_dim) and torch.equal(features, again)
    assert tokens.shape == (2, 2 * 3, spec.feature_dim)
    for layer in spec.detector_layers:
        assert maps[layer.name].shape == (2, layer.channels, 64 // layer.stride, 96 // layer.stride)
    assert len(encoder.blocks()) == spec.num_blocks
    # pooler is timm's own embedding: what Zoobot's encoder(x) returns
    assert torch.allclose(features, encoder.model(x))


def test_safetensors_and_hub_folder_round_trip(tmp_path):
    torch.manual_seed(1)
    encoder = backbones.load("zoobot-convnext-nano", weights=None, depths=(1, 1, 1, 1))
    path = encoder.save_weights(tmp_path / "zoobot.safetensors")
    snapshot = tmp_path / "models--mwalmsley--zoobot-encoder-convnext_nano" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    encoder.save_weights(snapshot / "model.safetensors")
    for source in (path, snapshot.parents[1]):
        loaded = backbones.load("zoobot-convnext-nano", weights=source, depths=(1, 1, 1, 1))
        a, b = encoder.model.state_dict(), loaded.model.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(WeightsError, match="zoobot.safetensors"):
        backbones.load("zoobot-convnext-nano", weights=path)  # full depth: keys missing


def test_pretrained_offline_points_to_a_local_file():
    with pytest.raises(WeightsError, match="mwalmsley/zoobot-encoder-convnext_nano") as info:
        backbones.load("zoobot", weights="pretrained")
    assert "weights='path/to/model.safetensors'" in str(info.value)
