"""astrofm.pretrain: the weights it writes load into the plain spec and hold what trained."""

import numpy as np
import pytest
import torch
from conftest import TINY_DINO, TINY_VIT
from numpy.testing import assert_allclose

import astrofm
from astrofm import backbones
from astrofm.errors import ConfigError


def features(backbone, x):
    with torch.no_grad():
        return backbone.eval().features(x).numpy()


def check_saved(result, path, name, options, start):
    """The file loads into the same spec, gives the result's features, and differs from
    the starting weights."""
    loaded = backbones.load(name, weights=path, **options)
    assert loaded.spec == result.spec == start.spec
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert_allclose(features(loaded, x), features(result, x), rtol=1e-5, atol=1e-5)
    before = dict(start.model.named_parameters())
    changed = [k for k, p in loaded.model.named_parameters()
               if not torch.allclose(p, before[k], atol=1e-6)]
    assert changed, "pretraining left every parameter as it was"
    return loaded, changed


@pytest.mark.parametrize("name, options", [("resnet18", {}), ("vit-base", TINY_VIT)])
def test_dino_changes_weights_and_saves_them(images, tmp_path, name, options):
    path = tmp_path / "w.safetensors"
    result = astrofm.pretrain(images, name, "dino", output=path, weights=None, size=32,
                              epochs=1, batch_size=4, lr=1e-2, backbone_options=options,
                              progress=False, **TINY_DINO)
    check_saved(result, path, name, options, backbones.load(name, weights=None, **options))
    assert result.weights_origin == str(path)


def test_mae_saves_an_encoder_without_masking(images, tmp_path):
    path = tmp_path / "mae.safetensors"
    result = astrofm.pretrain(images, "mae-base", "mae", output=path, weights=None, size=32,
                              epochs=1, batch_size=4, lr=1e-2, backbone_options=TINY_VIT,
                              progress=False, decoder_dim=16, decoder_depth=1, decoder_heads=2)
    loaded, changed = check_saved(result, path, "mae-base", TINY_VIT,
                                  backbones.load("mae-base", weights=None, **TINY_VIT))
    assert any(k.startswith("blocks.") for k in changed)
    # Every patch of a 32-pixel image at patch 16: the full sequence, nothing masked.
    with torch.no_grad():
        tokens = loaded.patch_tokens(torch.zeros(3, 3, 32, 32))
    assert tokens.shape == (3, 4, 32)


def test_lora_adapters_are_merged_into_the_plain_weights(images, tmp_path):
    path = tmp_path / "lora.safetensors"
    result = astrofm.pretrain(images, "vit-base", "dino", output=path, weights=None, size=32,
                              tuning="lora", epochs=1, batch_size=4, lr=1e-2,
                              backbone_options=TINY_VIT, progress=False, **TINY_DINO)
    start = backbones.load("vit-base", weights=None, **TINY_VIT)
    _, changed = check_saved(result, path, "vit-base", TINY_VIT, start)
    # LoRA targets the attention projections only; everything else stays as it started.
    assert changed and all(".attn.qkv." in k or ".attn.proj." in k for k in changed)


@pytest.mark.parametrize("name, options", [("resnet18", {}), ("vit-base", TINY_VIT)])
def test_plain_backbone_computes_what_the_adapted_one_does(name, options):
    from astrofm.pretrain.module import plain_backbone
    from astrofm.tuning import apply_tuning

    backbone = backbones.load(name, weights=None, **options)
    apply_tuning(backbone, "lora")
    torch.manual_seed(0)
    with torch.no_grad():
        for pname, p in backbone.named_parameters():
            if "lora_B" in pname:  # zero at the start, so merging would change nothing
                p.normal_(0, 0.1)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    plain = plain_backbone(backbone)
    assert not any("lora" in k for k in plain.state_dict())
    assert_allclose(features(plain, x), features(backbone, x), rtol=1e-4, atol=1e-4)


def test_rerun_resumes_from_the_checkpoint(images, tmp_path):
    ckpt = tmp_path / "ckpt"
    common = dict(weights=None, size=32, batch_size=2, checkpoint_dir=ckpt, progress=False,
                  backbone_options=TINY_VIT, **TINY_DINO)
    astrofm.pretrain(images, "vit-base", output=tmp_path / "a.safetensors", epochs=1, **common)
    state = torch.load(ckpt / "last.ckpt", weights_only=False)
    assert (state["epoch"], state["global_step"]) == (1, 2)  # four images, two per step
    astrofm.pretrain(images, "vit-base", output=tmp_path / "b.safetensors", epochs=2,
                     resume=True, **common)
    state = torch.load(ckpt / "last.ckpt", weights_only=False)
    assert (state["epoch"], state["global_step"]) == (2, 4)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"method": "simclr"}, "method='simclr'"),
    ({"tuning": "partial"}, "tuning='partial'"),
    ({"epochs": 0}, "epochs"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"output": "w.pt"}, ".safetensors"),
    ({"resume": True}, "checkpoint_dir"),
    ({"mask_ratio": 0.5}, "mask_ratio"),
    ({"method": "mae"}, "mae"),
])
def test_bad_arguments_fail_before_any_compute(images, tmp_path, monkeypatch, kwargs, fragment):
    def no_build(*args, **kw):
        raise AssertionError("a backbone was built before the arguments were checked")

    monkeypatch.setattr(backbones, "load", no_build)
    kwargs = {"method": "dino", "output": tmp_path / "w.safetensors", **kwargs}
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("(", r"\(")):
        astrofm.pretrain(images, "resnet18", weights=None, **kwargs)


def test_unwritable_output_fails_before_any_compute(images, read_only_folder):
    with pytest.raises(ConfigError, match="cannot write"):
        astrofm.pretrain(images, "resnet18", output=read_only_folder / "w.safetensors",
                         weights=None)


def test_the_package_is_the_function():
    from astrofm.pretrain import pretrain

    assert callable(astrofm.pretrain) and astrofm.pretrain.pretrain is pretrain
    assert np.ndim(astrofm.pretrain.METHODS["dino"]["n_local"]) == 0
