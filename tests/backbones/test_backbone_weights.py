"""Loading weights offline from every supported format, and failing clearly."""

import pytest
import torch
from safetensors.torch import save_file

from astrofm import backbones
from astrofm.backbones import weights as W
from astrofm.errors import ConfigError, WeightsError

TINY_VIT = {"depth": 2, "embed_dim": 32, "num_heads": 2}
TINY_MSN = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
            "intermediate_size": 64}

# One representative per loading path: timm ViT, timm Eva (RoPE), transformers, torchvision.
CASES = {
    "dinov2-small-reg": TINY_VIT,
    "dinov3-small": TINY_VIT,
    "msn-base": TINY_MSN,
    "resnet18": {"num_classes": 10},
}


class Payload:
    """An arbitrary object, which torch.load(weights_only=True) refuses to unpickle."""


def state(backbone):
    return backbone.model.state_dict()


def assert_same_weights(a, b):
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.fixture(params=list(CASES))
def saved(request):
    """A randomly initialised tiny backbone (seeded so that a rebuild would differ)."""
    name = request.param
    return name, CASES[name], backbones.load(name, weights=None, seed=123, **CASES[name])


def test_safetensors_round_trip(saved, tmp_path):
    name, options, original = saved
    path = original.save_weights(tmp_path / "tiny.safetensors")
    torch.manual_seed(0)
    loaded = backbones.load(name, weights=str(path), **options)
    assert_same_weights(original, loaded)
    side = 28 if name.startswith("dinov2") else 32
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        assert torch.equal(original.features(x), loaded.features(x))


def test_torch_checkpoints_plain_wrapped_and_prefixed(saved, tmp_path):
    name, options, original = saved
    sd = state(original)
    files = {
        "plain.pt": sd,
        "wrapped.pth": {"state_dict": sd, "epoch": 3, "lr": 0.1},
        "ddp.bin": {"model": {f"module.{k}": v for k, v in sd.items()}},
        "lightning.ckpt": {"state_dict": {f"backbone.model.{k}": v for k, v in sd.items()},
                           "global_step": 7},
    }
    for filename, content in files.items():
        torch.save(content, tmp_path / filename)
        loaded = backbones.load(name, weights=tmp_path / filename, **options)
        assert_same_weights(original, loaded)


def test_hub_cache_folder(saved, tmp_path):
    name, options, original = saved
    repo = tmp_path / "models--org--tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    if original.spec.library == "transformers":
        original.model.save_pretrained(snapshot)  # config.json + model.safetensors
    else:
        original.save_weights(snapshot / "model.safetensors")
        (snapshot / "config.json").write_text("{}")
    for folder in (repo, snapshot):
        assert_same_weights(original, backbones.load(name, weights=folder, **options))


def test_transformers_folder_without_config_and_bin_file(tmp_path):
    original = backbones.load("msn-base", weights=None, seed=5, **TINY_MSN)
    torch.save(state(original), tmp_path / "pytorch_model.bin")
    assert_same_weights(original, backbones.load("msn-base", weights=tmp_path, **TINY_MSN))


def test_mismatching_files_name_the_file_and_keys(saved, tmp_path):
    name, options, original = saved
    sd = state(original)
    first = sorted(sd)[0]
    damaged = {k: v for k, v in sd.items() if k != first}
    damaged["extra.weight"] = torch.zeros(3)
    path = tmp_path / "damaged.safetensors"
    save_file({k: v.contiguous() for k, v in damaged.items()}, str(path))
    with pytest.raises(WeightsError) as info:
        backbones.load(name, weights=path, **options)
    message = str(info.value)
    assert "damaged.safetensors" in message and name in message
    assert first in message


def test_wrong_architecture_reports_shapes(tmp_path):
    small = backbones.load("dinov2-small", weights=None, **TINY_VIT)
    path = small.save_weights(tmp_path / "small.safetensors")
    shapes = r"wrong shapes: blocks\.0\.attn\.proj\.bias \(32,\) vs \(64,\)"
    with pytest.raises(WeightsError, match=shapes):
        backbones.load("dinov2-small", weights=path, depth=2, embed_dim=64, num_heads=2)
    with pytest.raises(WeightsError, match=r"missing keys: blocks\.2\."):
        backbones.load("dinov2-small", weights=path, depth=3, embed_dim=32, num_heads=2)
    msn = backbones.load("msn-base", weights=None, **TINY_MSN)
    msn_path = msn.save_weights(tmp_path / "msn.safetensors")
    with pytest.raises(WeightsError, match="msn.safetensors"):
        backbones.load("msn-base", weights=msn_path, **{**TINY_MSN, "hidden_size": 64})
    with pytest.raises(WeightsError, match="small.safetensors"):
        backbones.load("resnet18", weights=path)


def assert_unreadable(info, path, cause):
    """astrofm's own explanation, never torch's advice to load unsafely; the cause kept."""
    message = str(info.value)
    assert str(path) in message and "neither a .safetensors file nor a torch" in message
    assert "weights_only" not in message and "Re-running" not in message
    assert isinstance(info.value.__cause__, cause)


def test_unreadable_and_unsafe_files(tmp_path):
    import pickle

    from safetensors import SafetensorError

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError) as info:
        backbones.load("resnet18", weights=junk)
    assert_unreadable(info, junk, pickle.UnpicklingError)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": {}, "payload": Payload()}, unsafe)
    with pytest.raises(WeightsError) as info:
        backbones.load("resnet18", weights=unsafe)
    assert_unreadable(info, unsafe, pickle.UnpicklingError)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x07" * 64)
    with pytest.raises(WeightsError) as info:
        backbones.load("resnet18", weights=garbage)
    assert_unreadable(info, garbage, SafetensorError)
    no_tensors = tmp_path / "empty.pt"
    torch.save({"epoch": 1}, no_tensors)
    with pytest.raises(WeightsError, match="no state dict"):
        backbones.load("resnet18", weights=no_tensors)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(WeightsError, match="no single weights file"):
        backbones.load("resnet18", weights=empty_dir)


def test_a_transformers_folder_with_a_garbage_weights_file(tmp_path):
    import pickle

    backbones.load("msn-base", weights=None, **TINY_MSN).model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"garbage, not a checkpoint")
    with pytest.raises(WeightsError) as info:
        backbones.load("msn-base", weights=tmp_path, **TINY_MSN)
    assert_unreadable(info, tmp_path / "pytorch_model.bin", pickle.UnpicklingError)


def test_bad_weights_arguments(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        backbones.load("resnet18", weights=tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match="weights must be"):
        backbones.load("resnet18", weights=True)


@pytest.mark.parametrize(
    ("name", "options", "hub"),
    [
        ("dinov2-small", TINY_VIT, "timm/vit_small_patch14_dinov2.lvd142m"),
        ("dinov3-large-sat", TINY_VIT, "timm/vit_large_patch16_dinov3.sat493m"),
        ("msn-base", TINY_MSN, "facebook/vit-msn-base"),
        ("resnet18", {}, "download.pytorch.org"),
    ],
)
def test_pretrained_without_network_explains_local_files(name, options, hub, tmp_path,
                                                         monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsError) as info:
        backbones.load(name, weights="pretrained", **options)
    message = str(info.value)
    assert "weights='path/to/model.safetensors'" in message
    assert hub in message and name in message


def test_trust_remote_code_is_never_implicit(tmp_path, monkeypatch):
    from transformers import ViTMSNModel

    original = backbones.load("msn-base", weights=None, **TINY_MSN)
    original.model.save_pretrained(tmp_path)
    calls = []
    real = ViTMSNModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        calls.append(kwargs)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(ViTMSNModel, "from_pretrained", classmethod(spy))
    backbones.load("msn-base", weights=tmp_path, **TINY_MSN)
    backbones.load("msn-base", weights=tmp_path, trust_remote_code=False, **TINY_MSN)
    assert "trust_remote_code" not in calls[0]
    assert calls[1]["trust_remote_code"] is False
    with pytest.raises(ConfigError, match="trust_remote_code applies to transformers"):
        backbones.load("dinov2-small", weights=None, trust_remote_code=True, **TINY_VIT)


def test_match_prefix_and_describe_mismatch():
    expected = {"a.w": (2,), "b.w": (3,)}
    nested = {"net.backbone.a.w": 1, "net.backbone.b.w": 2, "net.head.w": 3}
    assert W.match_prefix(nested, set(expected)) == {"a.w": 1, "b.w": 2}
    assert W.match_prefix({"a.w": 1}, set(expected)) == {"a.w": 1}
    text = W.describe_mismatch(expected, {"a.w": (4,), "c.w": (1,)})
    assert "missing keys: b.w" in text and "unexpected keys: c.w" in text
    assert "a.w (4,) vs (2,) expected" in text
    assert W.describe_mismatch(expected, expected) == ""


def test_is_hub_error_follows_causes():
    class Wrapped(RuntimeError):
        pass

    try:
        try:
            raise ConnectionError("no route")
        except ConnectionError as exc:
            raise Wrapped("load failed") from exc
    except Wrapped as exc:
        assert W.is_hub_error(exc)
    assert not W.is_hub_error(ValueError("bad option"))
