"""Full-size architectures, built on the meta device (no memory, no weights): parameter
counts match the published models, and each declared spec matches what is built."""

import pytest
import timm
import torch
import torchvision

from astrofm import backbones
from astrofm.backbones import registry

# Published parameter counts in millions (papers and model cards), with the tolerance
# their rounding allows; 2 % unless the publication rounds more coarsely.
PUBLISHED = {
    "dinov2-small": (22.0, 0.02), "dinov2-small-reg": (22.0, 0.02),
    "dinov2-base": (86.0, 0.02), "dinov2-base-reg": (86.0, 0.02),
    "dinov2-large": (304.0, 0.02), "dinov2-large-reg": (304.0, 0.02),
    "dinov2-giant": (1100.0, 0.05), "dinov2-giant-reg": (1100.0, 0.05),  # "1.1B"
    "dinov1-base-16": (85.0, 0.02), "dinov1-base-8": (85.0, 0.02),
    "mae-base": (86.0, 0.02), "mae-large": (304.0, 0.02), "mae-huge": (632.0, 0.02),
    "msn-base": (86.0, 0.02), "msn-large": (304.0, 0.02),
    "vit-base": (86.0, 0.02),
    "siglip-base-224": (92.9, 0.02), "siglip-base-256": (92.9, 0.02),
    "siglip-base-384": (92.9, 0.02), "siglip-so400m": (428.0, 0.02),
    # C-RADIOv3 backbones are plain ViT-B/L/H with 7 registers.
    "am-radio-base": (86.0, 0.02), "am-radio-large": (304.0, 0.02),
    "am-radio-huge": (632.0, 0.02),
    # DINOv3 paper: 21M, 29M, 86M, 300M, 840M, 6,716M ("21M" is rounded down from 21.6M).
    "dinov3-small": (21.0, 0.03), "dinov3-small-plus": (29.0, 0.02),
    "dinov3-base": (86.0, 0.02), "dinov3-large": (300.0, 0.02),
    "dinov3-huge-plus": (840.0, 0.02), "dinov3-7b": (6716.0, 0.01),
    "dinov3-large-sat": (300.0, 0.02), "dinov3-7b-sat": (6716.0, 0.01),
    # torchvision's ResNet weights, counts exact (with the ImageNet classifier).
    "resnet18": (11.689512, 0.0), "resnet50": (25.557032, 0.0),
    "resnet101": (44.549160, 0.0), "resnet152": (60.192808, 0.0),
}


def builtin_names():
    return [n for n in backbones.list() if n in PUBLISHED]


def test_every_builtin_has_a_published_count():
    assert sorted(PUBLISHED) == sorted(
        n for n in backbones.list() if backbones.get(n).builder.startswith("astrofm."))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_full_size_matches_publication_and_declaration(name):
    declared = backbones.get(name)
    with torch.device("meta"):
        model = backbones.load(name, weights=None)
    millions = model.num_parameters() / 1e6
    published, tolerance = PUBLISHED[name]
    assert millions == pytest.approx(published, rel=tolerance, abs=1e-6), millions
    assert model.spec == declared  # the declaration says what the library builds
    assert len(model.blocks()) == declared.num_blocks


@pytest.mark.parametrize("name", sorted(n for n in PUBLISHED if backbones.get(n).library == "timm"))
def test_timm_names_and_metadata_are_real(name):
    spec = backbones.get(name)
    assert spec.hub_id in timm.list_pretrained()
    cfg = timm.models.get_pretrained_cfg(spec.hub_id)
    assert spec.mean == pytest.approx(cfg.mean, abs=1e-3)
    assert spec.std == pytest.approx(cfg.std, abs=1e-3)
    assert spec.native_size == cfg.input_size[-1]
    assert spec.license == cfg.license
    assert cfg.hf_hub_id == f"timm/{spec.hub_id}"


@pytest.mark.parametrize("name", backbones.list(family="resnet"))
def test_torchvision_weights_enums_are_real(name):
    spec = backbones.get(name)
    weights = torchvision.models.get_weight(spec.hub_id)
    preset = weights.transforms()
    assert spec.mean == pytest.approx(preset.mean) and spec.std == pytest.approx(preset.std)
    assert spec.native_size == preset.crop_size[0]
    assert weights.meta["num_params"] == PUBLISHED[name][0] * 1e6


def test_transformers_hub_ids_name_the_published_repositories():
    assert {backbones.get(n).hub_id for n in backbones.list(family="msn")} == {
        "facebook/vit-msn-base", "facebook/vit-msn-large"}


def test_builtin_families_are_the_entry_points():
    assert {backbones.get(n).builder.split(":")[0].rsplit(".", 1)[-1] for n in PUBLISHED} == set(
        registry.BUILTIN_FAMILIES)
