"""Every family, built tiny with random weights: features, sizes, attention, detector maps."""

import pytest
import torch

from astrofm import backbones
from astrofm.errors import BackboneError, ConfigError


def batch(spec, unit, rows=2, cols=3, n=2, seed=1):
    """A non-square (rows x cols units) batch of normalised noise."""
    g = torch.Generator().manual_seed(seed)
    u = unit(spec)
    return torch.randn(n, spec.in_channels, rows * u, cols * u, generator=g)


def test_builds_in_eval_mode_with_the_overridden_width(tiny, tiny_name, tiny_options):
    assert isinstance(tiny, backbones.Backbone)
    assert not tiny.training
    declared = backbones.get(tiny_name)
    width = tiny_options[tiny_name].get("embed_dim", tiny_options[tiny_name].get("hidden_size"))
    assert tiny.spec.feature_dim == (width or declared.feature_dim)
    assert len(tiny.blocks()) == tiny.spec.num_blocks
    # What the override does not touch stays as declared.
    for field in ("name", "family", "library", "patch_size", "mean", "std", "poolings",
                  "default_pooling", "num_prefix_tokens", "native_size", "hub_id"):
        assert getattr(tiny.spec, field) == getattr(declared, field), field


def test_every_pooling_has_the_declared_shape(tiny, unit):
    spec = tiny.spec
    x = batch(spec, unit)
    with torch.no_grad():
        encoding = tiny.encode(x)
        h, w = encoding.grid
        for pooling in spec.poolings:
            out = tiny.features(x, pooling=pooling)
            if pooling == "tokens":
                assert out.shape == (2, h * w, spec.feature_dim)
            else:
                assert out.shape == (2, spec.pooled_dim(pooling)), pooling
        assert tiny.features(x).shape == (2, spec.pooled_dim())
        out = tiny(x)
        assert set(out) == {"features", "tokens"}
        assert torch.equal(out["features"], tiny.features(x))
        assert tiny.feature_map(x).shape == (2, spec.feature_dim, h, w)
    if spec.is_vit:
        assert (h, w) == (2, 3)
        assert encoding.prefix is None if spec.num_prefix_tokens == 0 else (
            encoding.prefix.shape == (2, spec.num_prefix_tokens, spec.feature_dim))
    with pytest.raises(ConfigError, match="poolings"):
        tiny.features(x, pooling="max")


def _library_poolings(tiny, x):
    """Each pooling computed from the wrapped library model's own outputs."""
    model, spec = tiny.model, tiny.spec
    if spec.library == "timm":
        out = model.forward_features(x)
        prefix, patches = out[:, :model.num_prefix_tokens], out[:, model.num_prefix_tokens:]
        pooler = model.forward_head(out, pre_logits=True)
    elif spec.library == "transformers":
        out = model(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
        prefix, patches, pooler = out[:, :1], out[:, 1:], None
    else:  # torchvision: everything up to the average pool, then that pool
        fmap = torch.nn.Sequential(*list(model.children())[:-2])(x)
        prefix, patches = None, fmap.flatten(2).transpose(1, 2)
        pooler = torch.flatten(model.avgpool(fmap), 1)
    mean = patches.mean(dim=1)
    expected = {"tokens": patches, "mean": mean, "pooler": pooler}
    if prefix is not None and prefix.shape[1]:
        expected.update(cls=prefix[:, 0], **{"cls+mean": torch.cat([prefix[:, 0], mean], -1)})
    return expected


def test_every_pooling_matches_the_library_model(tiny, unit):
    x = batch(tiny.spec, unit)
    with torch.no_grad():
        expected = _library_poolings(tiny, x)
        for pooling in tiny.spec.poolings:
            torch.testing.assert_close(tiny.features(x, pooling=pooling), expected[pooling],
                                       rtol=1e-4, atol=1e-5, msg=pooling)
    if tiny.spec.library == "torchvision":  # ResNet's pool is the mean of its last map
        torch.testing.assert_close(expected["pooler"], expected["mean"], rtol=1e-4, atol=1e-5)


def test_features_are_deterministic(tiny, unit):
    x = batch(tiny.spec, unit)
    with torch.no_grad():
        first = tiny.features(x)
        second = tiny.features(x.clone())
        tokens = tiny.features(x, pooling="tokens")
    assert torch.equal(first, second)
    assert torch.equal(tokens, tiny.features(x, pooling="tokens").detach())
    assert torch.isfinite(first).all()


def test_sizes_other_than_native(tiny, unit):
    spec = tiny.spec
    u = unit(spec)
    for rows, cols in ((2, 2), (3, 3), (2, 4)):
        x = torch.randn(1, spec.in_channels, rows * u, cols * u)
        with torch.no_grad():
            tokens = tiny.patch_tokens(x)
        if spec.is_vit:
            assert tokens.shape[1] == rows * cols
    if spec.is_vit:
        with pytest.raises(ConfigError, match="multiple of the patch size"):
            tiny.features(torch.randn(1, spec.in_channels, 2 * u + 1, 2 * u))
    with pytest.raises(ConfigError, match="channel"):
        tiny.features(torch.randn(1, spec.in_channels + 1, 2 * u, 2 * u))
    with pytest.raises(ConfigError, match=r"\(N, C, H, W\)"):
        tiny.features(torch.randn(spec.in_channels, 2 * u, 2 * u))


def test_attention_maps(tiny, unit):
    spec = tiny.spec
    x = batch(spec, unit)
    if not spec.has_attention:
        with pytest.raises(BackboneError, match="no attention"):
            tiny.attention(x)
        return
    tokens = spec.num_prefix_tokens + 6
    with torch.no_grad():
        before = tiny.features(x)
        last = tiny.attention(x)
        first = tiny.attention(x, block=0)
        after = tiny.features(x)
    assert last.shape == first.shape == (2, spec.num_heads, tokens, tokens)
    assert torch.allclose(last.sum(-1), torch.ones(2, spec.num_heads, tokens), atol=1e-5)
    assert not torch.equal(first, last)
    assert torch.allclose(before, after)  # the model is left as it was
    with pytest.raises(ConfigError, match="out of range"):
        tiny.attention(x, block=spec.num_blocks)
    if spec.has_cls_token:
        with torch.no_grad():
            cls = tiny.cls_attention(x, block=-1)
        assert cls.shape == (2, spec.num_heads, 2, 3)
        assert torch.equal(cls.flatten(2), last[:, :, 0, spec.num_prefix_tokens:])
    else:
        with pytest.raises(BackboneError, match="no class token"):
            tiny.cls_attention(x)


def test_detector_feature_maps(tiny, unit):
    spec = tiny.spec
    x = batch(spec, unit, rows=2, cols=4) if spec.is_vit else torch.randn(2, 3, 64, 128)
    with torch.no_grad():
        maps = tiny.intermediate(x)
    assert list(maps) == [layer.name for layer in spec.detector_layers]
    for layer in spec.detector_layers:
        assert maps[layer.name].shape == (
            2, layer.channels, x.shape[2] // layer.stride, x.shape[3] // layer.stride)
    if spec.is_vit:
        prefix = spec.detector_layers[0].name.rsplit(".", 1)[0]
        with torch.no_grad():
            both = tiny.intermediate(x, layers=[f"{prefix}.1", f"{prefix}.0"])
        assert list(both) == [f"{prefix}.1", f"{prefix}.0"]
        assert not torch.equal(both[f"{prefix}.0"], both[f"{prefix}.1"])
    with pytest.raises(ConfigError, match="unknown layer"):
        tiny.intermediate(x, layers=["nope"])


def test_mae_runs_without_masking():
    torch.manual_seed(0)
    mae = backbones.load("mae-base", weights=None, depth=2, embed_dim=32, num_heads=2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = mae.features(x, pooling="tokens"), mae.features(x, pooling="tokens")
    assert a.shape == (2, 16, 32)  # every patch is encoded: nothing masked away
    assert torch.equal(a, b)
    assert isinstance(mae.model.patch_drop, torch.nn.Identity)


def test_single_channel_option_adapts_normalisation():
    mono = backbones.load("dinov2-small", weights=None, in_chans=1, depth=1, embed_dim=32,
                          num_heads=2)
    assert mono.spec.in_channels == 1
    assert mono.spec.mean == pytest.approx((sum(backbones.get("dinov2-small").mean) / 3,))
    with torch.no_grad():
        assert mono.features(torch.randn(1, 1, 28, 28)).shape == (1, 32)


def test_save_weights_needs_safetensors_suffix(tmp_path):
    model = backbones.load("resnet18", weights=None)
    with pytest.raises(ConfigError, match="safetensors"):
        model.save_weights(tmp_path / "w.pt")
