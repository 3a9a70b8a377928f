"""torchvision ResNets as :class:`Backbone`.

The model keeps its ImageNet classifier ``fc`` so that torchvision checkpoints load
unchanged (and parameter counts match the published ones); features stop at the
global average pool. Stages are run the way torchvision's own
``IntermediateLayerGetter`` runs them: the model's children in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from astrofm.backbones.adapters.timm_common import reject_remote_code
from astrofm.backbones.backbone import Backbone, Encoding
from astrofm.backbones.spec import BackboneSpec, FeatureLayer
from astrofm.backbones.weights import hub_errors, load_checked, read_state_dict
from astrofm.errors import ConfigError

__all__ = ["TorchvisionResNet", "build", "STAGES"]

#: The residual stages, with their strides.
STAGES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


class TorchvisionResNet(Backbone):
    """A torchvision ResNet; ``self.model`` is the torchvision module."""

    def _describe(self, spec: BackboneSpec) -> dict:
        m = self.model
        layers = []
        for name, stride in STAGES.items():
            last = getattr(m, name)[-1]
            norm = last.bn3 if hasattr(last, "bn3") else last.bn2  # Bottleneck, BasicBlock
            layers.append(FeatureLayer(name, int(norm.num_features), stride))
        return {
            "feature_dim": int(m.fc.in_features),
            "num_blocks": len(STAGES),
            "detector_layers": tuple(layers),
            "in_channels": int(m.conv1.in_channels),
        }

    def unused_modules(self) -> list[nn.Module]:
        """The ImageNet classifier ``fc``: features stop at the global average pool."""
        return [self.model.fc]

    def _stages(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        out = {}
        for name, module in self.model.named_children():
            if name == "avgpool" or wanted <= out.keys():
                break
            x = module(x)
            if name in wanted:
                out[name] = x
        return out

    def _encode(self, x: torch.Tensor) -> Encoding:
        fmap = self._stages(x, {"layer4"})["layer4"]
        n, c, h, w = fmap.shape
        pooled = torch.flatten(self.model.avgpool(fmap), 1)
        return Encoding(None, fmap.flatten(2).transpose(1, 2), (h, w), pooled)

    def _intermediate(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise ConfigError(
                f"backbone {self.spec.name!r}: unknown layers {unknown}; stages are "
                f"{list(STAGES)}"
            )
        out = self._stages(x, set(names))
        return [out[n] for n in names]

    def blocks(self) -> list[nn.Module]:
        """The four residual stages, ``layer1`` to ``layer4``."""
        return [getattr(self.model, name) for name in STAGES]


def build(spec: BackboneSpec, weights: None | str | Path, options: dict[str, Any]):
    """Build a torchvision ResNet spec.

    Parameters
    ----------
    spec : BackboneSpec
        ``spec.arch`` is the torchvision function (``"resnet50"``), ``spec.hub_id`` the
        weights enum (``"ResNet50_Weights.IMAGENET1K_V2"``).
    weights : None, "pretrained" or pathlib.Path
        See :mod:`astrofm.backbones.weights`.
    options : dict
        Keyword arguments of the torchvision function (``width_per_group`` ...).
    """
    reject_remote_code(spec, options)
    factory = getattr(torchvision.models, spec.arch)
    if weights == "pretrained":
        enum = torchvision.models.get_weight(spec.hub_id)
        hint = f"Download {enum.url} where it is reachable"
        with hub_errors(spec, hint):
            model = factory(weights=enum, **options)
    else:
        model = factory(weights=None, **options)
        if weights is not None:
            load_checked(model, read_state_dict(weights), weights, spec.name)
    return TorchvisionResNet(model, spec)
