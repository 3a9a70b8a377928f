"""How much of a backbone trains: frozen, LoRA, partial or full fine-tuning.

One mechanism for classifiers and detectors. :func:`apply_tuning` sets which
parameters of a :class:`~astrofm.backbones.Backbone` train and returns a
:class:`TuningReport`; :func:`param_groups` gives optimiser groups with layer-wise
learning-rate decay; :class:`BackboneWarmup` keeps the backbone frozen for the first
epochs of a full fine-tune (the paper trained the head alone for 10 epochs first).

"Blocks" are what :meth:`Backbone.blocks` returns (transformer blocks, CNN stages), so
``partial`` with ``blocks=2`` means the top two of them for every family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lightning.pytorch.callbacks import Callback
from torch import nn

from astrofm.errors import ConfigError, UnknownNameError

__all__ = ["TUNINGS", "TuningReport", "apply_tuning", "freeze_batchnorm", "lora_targets",
           "set_trainable", "param_groups", "BackboneWarmup"]

TUNINGS = ("frozen", "lora", "partial", "full")

# Default LoRA targets by library: the attention projections of ViTs, the convolutions
# inside the residual stages of CNNs (not the stem, whose filters see raw pixels).
_LORA_PATTERNS = {
    "timm-vit": r".*blocks\.\d+\.attn\.(qkv|proj)",
    "transformers": r".*attention\.(attention\.)?(query|key|value)|.*attention\.output\.dense",
    "torchvision": r".*layer\d\.\d+\.conv\d",
    "timm-cnn": r".*(stages|blocks|layer\d)\.\d+.*conv.*",
}


@dataclass(frozen=True)
class TuningReport:
    """What :func:`apply_tuning` left trainable in a backbone.

    Attributes
    ----------
    tuning : str
        The strategy.
    trainable, total : int
        Trainable and total parameters of the backbone (LoRA adapters included).
    targets : tuple of str
        Modules that received LoRA adapters (``lora`` only).
    """

    tuning: str
    trainable: int
    total: int
    targets: tuple = ()

    @property
    def fraction(self) -> float:
        """Trainable share of the backbone's parameters."""
        return self.trainable / self.total if self.total else 0.0

    def __str__(self):
        return (f"{self.tuning}: {self.trainable:,} of {self.total:,} backbone parameters "
                f"trainable ({100 * self.fraction:.2f} %)")


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """Set ``requires_grad`` on every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(trainable)


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by torchvision's FrozenBatchNorm2d, in place.

    A frozen backbone must not move its running statistics when the training loop
    switches the model to train mode; FrozenBatchNorm2d keeps them as constant
    buffers, as torchvision's detectors do.
    """
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def lora_targets(backbone, pattern: str | None = None) -> list[str]:
    """Names of the modules of ``backbone.model`` that LoRA adapts.

    Parameters
    ----------
    backbone : Backbone
        The backbone.
    pattern : str, optional
        A regular expression matched against full module names; default by library:
        attention projections for ViTs, stage convolutions for CNNs (or the spec's
        ``extra["lora_targets"]``).
    """
    spec = backbone.spec
    if pattern is None:
        pattern = spec.extra.get("lora_targets")
    if pattern is None:
        key = spec.library if spec.library != "timm" else (
            "timm-vit" if spec.patch_size else "timm-cnn")
        pattern = _LORA_PATTERNS[key]
    regex = re.compile(pattern)
    names = [name for name, m in backbone.model.named_modules()
             if regex.fullmatch(name) and isinstance(m, nn.Linear | nn.Conv2d)]
    if not names:
        raise ConfigError(f"LoRA: no Linear or Conv2d module of {spec.name!r} matches "
                          f"{pattern!r}; pass lora_targets= with a regular expression.")
    return names


def apply_tuning(backbone, tuning: str = "frozen", *, blocks: int | None = None,
                 lora_rank: int = 8, lora_alpha: float = 16, lora_dropout: float = 0.0,
                 lora_targets_pattern: str | None = None) -> TuningReport:
    """Choose which backbone parameters train, in place.

    Parameters
    ----------
    backbone : Backbone
        The backbone to tune.
    tuning : {"frozen", "lora", "partial", "full"}
        ``frozen``: nothing trains (embeddings and batch-norm statistics included).
        ``lora``: low-rank adapters from peft on the targets of :func:`lora_targets`,
        everything else frozen. ``partial``: the top ``blocks`` blocks train.
        ``full``: everything trains, except modules no feature runs through
        (:meth:`Backbone.unused_modules <astrofm.backbones.Backbone.unused_modules>`).
    blocks : int, optional
        Number of top blocks to unfreeze with ``partial``.
    lora_rank, lora_alpha, lora_dropout : optional
        LoRA's rank r, scaling alpha and dropout.
    lora_targets_pattern : str, optional
        Regular expression of the modules LoRA adapts.

    Returns
    -------
    TuningReport
    """
    if tuning not in TUNINGS:
        raise UnknownNameError(f"unknown tuning {tuning!r}; choose one of {', '.join(TUNINGS)}.")
    targets = ()
    if tuning == "full":
        set_trainable(backbone, True)
        for module in backbone.unused_modules():
            set_trainable(module, False)
    else:
        set_trainable(backbone, False)
        freeze_batchnorm(backbone)
    if tuning == "partial":
        n = backbone.spec.num_blocks
        if blocks is None or not 1 <= blocks <= n:
            raise ConfigError(f"tuning='partial' needs blocks= between 1 and {n} (the "
                              f"tuneable blocks of {backbone.spec.name!r}); got {blocks!r}.")
        for block in backbone.blocks()[n - blocks:]:
            set_trainable(block, True)
    elif tuning == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        targets = tuple(lora_targets(backbone, lora_targets_pattern))
        config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                            target_modules=list(targets))
        inject_adapter_in_model(config, backbone.model)
        for name, p in backbone.named_parameters():
            p.requires_grad_("lora_" in name)
    total = sum(p.numel() for p in backbone.parameters())
    trainable = sum(p.numel() for p in backbone.parameters() if p.requires_grad)
    return TuningReport(tuning, trainable, total, targets)


def param_groups(backbone, head: nn.Module, lr: float, layer_decay: float | None = None,
                 weight_decay: float = 0.0) -> list[dict]:
    """Optimiser parameter groups, with optional layer-wise learning-rate decay.

    With decay ``d`` and ``n`` blocks, block ``i`` (0 = nearest the input) learns at
    ``lr * d ** (n - i)``, parameters before the first block (embeddings, stem) at
    ``lr * d ** (n + 1)``, and those after the last block and the head at ``lr``.
    Only parameters that require gradients are included.
    """
    groups = [{"params": [p for p in head.parameters() if p.requires_grad], "lr": lr,
               "weight_decay": weight_decay}]
    if layer_decay is None:
        groups.append({"params": [p for p in backbone.parameters() if p.requires_grad],
                       "lr": lr, "weight_decay": weight_decay})
    else:
        if not 0 < layer_decay <= 1:
            raise ConfigError(f"layer_decay={layer_decay!r}: give a factor in (0, 1].")
        blocks = backbone.blocks()
        n = len(blocks)
        depth_of = {id(p): i for i, block in enumerate(blocks) for p in block.parameters()}
        seen_block = False
        by_depth: dict[int, list] = {}
        for p in backbone.parameters():
            depth = depth_of.get(id(p))
            if depth is not None:
                seen_block = True
            else:
                depth = n if seen_block else -1
            if p.requires_grad:
                by_depth.setdefault(depth, []).append(p)
        for depth, params in sorted(by_depth.items()):
            groups.append({"params": params, "lr": lr * layer_decay ** (n - depth),
                           "weight_decay": weight_decay})
    return [g for g in groups if g["params"]]


class BackboneWarmup(Callback):
    """Lightning callback: train the head alone for the first ``epochs`` epochs.

    The backbone's parameters get no gradient until then, so the randomly initialised
    head cannot wreck pretrained features; from epoch ``epochs`` on, the parameters
    that :func:`apply_tuning` made trainable train too. Create it after
    :func:`apply_tuning`; it remembers which parameters that made trainable.

    Parameters
    ----------
    backbone : Backbone
        The tuned backbone.
    epochs : int
        Epochs of head-only training.
    """

    def __init__(self, backbone, epochs: int):
        self.epochs = int(epochs)
        self.tuned = [p for p in backbone.parameters() if p.requires_grad]

    def on_train_epoch_start(self, trainer, pl_module):
        warm = trainer.current_epoch < self.epochs
        for p in self.tuned:
            p.requires_grad_(not warm)
