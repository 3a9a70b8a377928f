"""timm convolutional networks (ConvNeXt, EfficientNet, ResNet ...) as :class:`Backbone`.

Used by plugins such as astrofm-zoobot, whose galaxy-morphology encoders are timm
CNNs. Tokens are the final feature map flattened row by row; ``pooler`` is timm's own
pooled embedding (global pool, plus the head norm for ConvNeXt), the representation
``timm.create_model(..., num_classes=0)(x)`` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from astrofm.backbones.adapters.timm_common import create_timm_model
from astrofm.backbones.backbone import Backbone, Encoding
from astrofm.backbones.spec import BackboneSpec, FeatureLayer
from astrofm.errors import ConfigError

__all__ = ["TimmCNN", "build", "DETECTOR_LEVELS"]

#: How many of the deepest feature levels feed a detector (strides 4 to 32 for the
#: usual five-level networks, as torchvision's FPN backbones use).
DETECTOR_LEVELS = 4


class TimmCNN(Backbone):
    """A timm convolutional network; ``self.model`` is the timm module."""

    def _describe(self, spec: BackboneSpec) -> dict:
        m = self.model
        info = m.feature_info.get_dicts() if hasattr(m.feature_info, "get_dicts") else list(
            m.feature_info
        )
        layers = tuple(
            FeatureLayer(d["module"], int(d["num_chs"]), int(d["reduction"]))
            for d in info[-DETECTOR_LEVELS:]
        )
        first_conv = next(mod for mod in m.modules() if isinstance(mod, nn.Conv2d))
        changes = {
            "feature_dim": int(m.num_features),
            "num_blocks": len(self.blocks()),
            "detector_layers": layers,
            "in_channels": int(first_conv.in_channels),
        }
        if first_conv.in_channels != spec.in_channels:
            n = int(first_conv.in_channels)
            changes["mean"] = (sum(spec.mean) / len(spec.mean),) * n
            changes["std"] = (sum(spec.std) / len(spec.std),) * n
        return changes

    def _feature_modules(self) -> list[str]:
        info = self.model.feature_info
        return [d["module"] for d in (info.get_dicts() if hasattr(info, "get_dicts") else info)]

    def _encode(self, x: torch.Tensor) -> Encoding:
        fmap = self.model.forward_features(x)
        n, c, h, w = fmap.shape
        pooled = self.model.forward_head(fmap, pre_logits=True)
        return Encoding(None, fmap.flatten(2).transpose(1, 2), (h, w), pooled)

    def _intermediate(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        modules = self._feature_modules()
        unknown = [n for n in names if n not in modules]
        if unknown:
            raise ConfigError(
                f"backbone {self.spec.name!r}: unknown layers {unknown}; feature layers "
                f"are {modules}"
            )
        indices = sorted({modules.index(n) for n in names})
        maps = self.model.forward_intermediates(x, indices=indices, intermediates_only=True)
        by_name = {modules[i]: fmap for i, fmap in zip(indices, maps, strict=True)}
        return [by_name[n] for n in names]

    def blocks(self) -> list[nn.Module]:
        """The stages (ConvNeXt), block groups (EfficientNet) or layers (ResNet)."""
        m = self.model
        for attr in ("stages", "blocks"):
            if isinstance(getattr(m, attr, None), nn.Sequential):
                return list(getattr(m, attr))
        layers = [getattr(m, f"layer{i}", None) for i in range(1, 5)]
        if all(isinstance(layer, nn.Module) for layer in layers):
            return layers
        return [m.get_submodule(name) for name in self._feature_modules()]


def build(
    spec: BackboneSpec,
    weights: None | str | Path,
    options: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> TimmCNN:
    """Build a timm CNN spec.

    Parameters
    ----------
    spec : BackboneSpec
        ``spec.arch`` is the timm architecture; ``spec.hub_id`` the published weights
        (``"hf_hub:org/name"`` or a timm pretrained name).
    weights : None, "pretrained" or pathlib.Path
        See :mod:`astrofm.backbones.weights`.
    options : dict
        ``timm.create_model`` keyword arguments from the caller.
    defaults : dict, optional
        Family defaults the caller's options override.
    """
    return TimmCNN(create_timm_model(spec, weights, dict(defaults or {}), options), spec)
