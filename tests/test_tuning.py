import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from astrofm import backbones
from astrofm.errors import ConfigError, UnknownNameError
from astrofm.tuning import apply_tuning, lora_targets, param_groups


def tiny_vit():
    return backbones.load("dinov2-small", weights=None, depth=3, embed_dim=48, num_heads=3)


def _step(backbone, x):
    """One optimiser step on a toy loss; returns the parameters before it."""
    before = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    backbone.train()
    params = [p for p in backbone.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1) if params else None
    loss = backbone.features(x, pooling="mean").pow(2).mean()
    if opt:
        loss.backward()
        opt.step()
    return before


def test_frozen_vit_is_bit_identical_after_a_step():
    bb = tiny_vit()
    report = apply_tuning(bb, "frozen")
    assert report.trainable == 0 and report.total > 0
    before = _step(bb, torch.randn(2, 3, 28, 28))
    assert all(torch.equal(before[k], v) for k, v in bb.state_dict().items())


def test_frozen_resnet_keeps_batchnorm_statistics():
    bb = backbones.load("resnet18", weights=None)
    apply_tuning(bb, "frozen")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in bb.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in bb.modules())
    before = _step(bb, torch.randn(2, 3, 32, 32) * 5 + 3)
    assert all(torch.equal(before[k], v) for k, v in bb.state_dict().items())


def test_lora_changes_only_adapters():
    bb = tiny_vit()
    report = apply_tuning(bb, "lora", lora_rank=4)
    assert report.targets == tuple(
        f"blocks.{i}.attn.{p}" for i in range(3) for p in ("qkv", "proj"))
    assert 0 < report.fraction < 0.2
    # peft initialises B to zero; give it values so A receives gradients too
    with torch.no_grad():
        for name, p in bb.named_parameters():
            if "lora_B" in name:
                p.normal_()
    before = _step(bb, torch.randn(2, 3, 28, 28))
    after = bb.state_dict()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)


def test_lora_on_resnet_targets_stage_convolutions():
    bb = backbones.load("resnet18", weights=None)
    names = lora_targets(bb)
    assert "conv1" not in names and "layer1.0.conv1" in names and len(names) == 16


def test_partial_unfreezes_top_blocks():
    bb = tiny_vit()
    apply_tuning(bb, "partial", blocks=1)
    trainable = {n for n, p in bb.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.blocks.2.") for n in trainable)
    rn = backbones.load("resnet18", weights=None)
    apply_tuning(rn, "partial", blocks=2)
    trainable = {n.split(".")[1] for n, p in rn.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "layer4"}


def test_full_and_layer_decay():
    bb = tiny_vit()
    report = apply_tuning(bb, "full")
    assert report.fraction == 1.0
    head = torch.nn.Linear(48, 2)
    groups = param_groups(bb, head, lr=1.0, layer_decay=0.5)
    lrs = sorted({g["lr"] for g in groups})
    # embeddings 0.5**4, blocks 0.5**3..0.5**1, final norm and head 1
    assert lrs == [0.0625, 0.125, 0.25, 0.5, 1.0]
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(bb.parameters())) + 2


def test_bad_tuning_arguments():
    bb = tiny_vit()
    with pytest.raises(UnknownNameError, match="frozen"):
        apply_tuning(bb, "melted")
    with pytest.raises(ConfigError, match="blocks"):
        apply_tuning(bb, "partial", blocks=7)
    with pytest.raises(ConfigError, match="matches"):
        apply_tuning(tiny_vit(), "lora", lora_targets_pattern="nothing")
    with pytest.raises(ConfigError, match="layer_decay"):
        param_groups(bb, torch.nn.Linear(2, 2), 1.0, layer_decay=2)


def test_full_tuning_trains_every_parameter_a_feature_uses():
    # DDP refuses a trainable parameter without a gradient; torchvision's ResNet keeps its
    # ImageNet classifier fc (512 x 1000 + 1000 parameters) that features never run.
    bb = backbones.load("resnet18", weights=None)
    report = apply_tuning(bb, "full")
    assert report.total - report.trainable == 512 * 1000 + 1000
    bb.features(torch.randn(2, 3, 32, 32)).sum().backward()
    assert [n for n, p in bb.named_parameters() if p.requires_grad and p.grad is None] == []
