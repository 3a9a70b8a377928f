"""BackboneSpec: validation, sizes, serialisation."""

import json

import pytest

from astrofm import backbones
from astrofm.backbones import BackboneSpec, FeatureLayer, vit_spec
from astrofm.errors import BackboneError, ConfigError


def cnn(**changes):
    fields = dict(name="toy-cnn", family="toy", builder="toy.module:build", library="timm",
                  arch="resnet18", hub_id=None, native_size=224, feature_dim=512, num_blocks=4)
    return BackboneSpec(**{**fields, **changes})


def vit(**changes):
    fields = dict(name="toy-vit", family="toy", builder="toy.module:build", arch="vit_toy",
                  patch_size=14, native_size=518, feature_dim=384, depth=12, num_heads=6)
    return vit_spec(**{**fields, **changes})


def test_vit_sizes_round_to_the_patch():
    spec = vit()
    assert spec.is_vit and spec.size_rule == "multiple_of_patch" and spec.min_size == 14
    assert [spec.valid_size(s) for s in (130, 132, 133, 224, 3)] == [126, 126, 140, 224, 14]
    assert spec.token_grid(224, 112) == (16, 8)
    spec.check_size(224)
    with pytest.raises(ConfigError, match="nearest allowed side to 225 is 224"):
        spec.check_size(224, 225)
    assert spec.detector_layers == (FeatureLayer("blocks.11", 384, 14),)
    assert spec.input_size == 518 and vit(default_size=224).input_size == 224


def test_cnn_takes_any_size_above_the_minimum():
    spec = cnn()
    assert not spec.is_vit and spec.min_size == 32
    assert spec.valid_size(133) == 133 and spec.valid_size(10) == 32
    spec.check_size(33, 47)
    with pytest.raises(ConfigError, match="at least 32"):
        spec.check_size(16)
    with pytest.raises(ConfigError, match="CNN"):
        spec.token_grid(64)


def test_pooled_dims():
    spec = vit()
    assert spec.pooled_dim("cls") == spec.pooled_dim() == 384
    assert spec.pooled_dim("cls+mean") == 768
    assert spec.has_cls_token and not cnn().has_cls_token


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "name must be"),
        ({"library": "keras"}, "library"),
        ({"builder": "no_colon"}, "builder"),
        ({"size_rule": "multiple_of_patch"}, "needs a patch_size"),
        ({"native_size": 0}, "native_size"),
        ({"mean": (0.5,)}, "one value per input channel"),
        ({"std": (1.0, 0.0, 1.0)}, "positive"),
        ({"poolings": ("max",)}, "poolings"),
        ({"default_pooling": "cls"}, "default_pooling"),
        ({"poolings": ("cls",), "default_pooling": "cls"}, "class token"),
        ({"detector_layers": ("layer4",)}, "FeatureLayer"),
        ({"aliases": ("Short",)}, "alias"),
    ],
)
def test_invalid_specs_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        cnn(**changes)


def test_frozen_normalised_and_hashable():
    spec = cnn(mean=[0.1, 0.2, 0.3], poolings=["pooler"], extra={"k": 1})
    assert spec.mean == (0.1, 0.2, 0.3) and spec.poolings == ("pooler",)
    with pytest.raises(TypeError):
        spec.extra["k"] = 2
    with pytest.raises(AttributeError):
        spec.name = "other"
    assert {spec: 1}[cnn(mean=(0.1, 0.2, 0.3), poolings=("pooler",), extra={"k": 1})] == 1
    assert spec.replace(feature_dim=7).feature_dim == 7


def test_to_dict_is_json_ready():
    record = backbones.get("dinov2").to_dict()
    assert json.loads(json.dumps(record))["detector_layers"][0]["name"] == "blocks.11"
    assert record["builder"] == "astrofm.backbones.dinov2:build"
    callable_builder = cnn(builder=test_to_dict_is_json_ready).to_dict()["builder"]
    assert callable_builder.endswith(":test_to_dict_is_json_ready")


def test_builder_resolution():
    assert callable(backbones.get("resnet50").resolve_builder())
    assert cnn(builder=len).resolve_builder() is len
    with pytest.raises(BackboneError, match="toy.module:build"):
        cnn().resolve_builder()


def test_a_built_backbone_copies_and_pickles_with_its_spec():
    # Classifier tunes a deep copy of a backbone given to it built; DataLoader workers
    # and spawned processes pickle it.
    import copy
    import pickle

    import torch

    from astrofm import backbones

    bb = backbones.load("resnet18", weights=None)
    x = torch.randn(1, 3, 32, 32)
    for clone in (copy.deepcopy(bb), pickle.loads(pickle.dumps(bb))):
        assert clone.spec == bb.spec and dict(clone.spec.extra) == dict(bb.spec.extra)
        with pytest.raises(TypeError):
            clone.spec.extra["new"] = 1           # still read-only
        torch.testing.assert_close(clone.features(x), bb.features(x))
