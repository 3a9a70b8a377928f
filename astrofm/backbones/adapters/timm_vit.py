"""timm vision transformers (``VisionTransformer`` and ``Eva``) as :class:`Backbone`.

Models are created with ``dynamic_img_size=True`` so any multiple of the patch size
works: timm interpolates absolute position embeddings (DINOv2 at 224 rather than 518)
and RoPE models (DINOv3) need nothing. Attention weights are captured from the
non-fused path of timm's attention module, which timm keeps for exactly this purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from astrofm.backbones.adapters.timm_common import create_timm_model
from astrofm.backbones.backbone import Backbone, Encoding
from astrofm.backbones.spec import BackboneSpec, FeatureLayer
from astrofm.errors import BackboneError

__all__ = ["TimmViT", "build"]


def _side(value) -> int:
    return int(value if isinstance(value, int) else value[0])


class TimmViT(Backbone):
    """A timm vision transformer; ``self.model`` is the timm module."""

    def _describe(self, spec: BackboneSpec) -> dict:
        m = self.model
        depth, dim = len(m.blocks), int(m.num_features)
        patch = _side(m.patch_embed.patch_size)
        in_channels = int(m.patch_embed.proj.in_channels)
        changes = {
            "feature_dim": dim,
            "num_blocks": depth,
            "num_heads": int(m.blocks[0].attn.num_heads),
            "patch_size": patch,
            "in_channels": in_channels,
            "num_prefix_tokens": int(m.num_prefix_tokens),
            "detector_layers": (FeatureLayer(f"blocks.{depth - 1}", dim, patch),),
        }
        if spec.min_size == spec.patch_size:
            changes["min_size"] = patch
        if in_channels != spec.in_channels:
            # timm folds pretrained RGB filters into the new channel count (summing for
            # one channel), so the matching normalisation is the mean over RGB.
            changes["mean"] = (sum(spec.mean) / len(spec.mean),) * in_channels
            changes["std"] = (sum(spec.std) / len(spec.std),) * in_channels
        return changes

    def _encode(self, x: torch.Tensor) -> Encoding:
        m = self.model
        out = m.forward_features(x)
        p = int(m.num_prefix_tokens)
        grid = self.spec.token_grid(int(x.shape[2]), int(x.shape[3]))
        pooled = m.forward_head(out, pre_logits=True) if "pooler" in self.spec.poolings else None
        return Encoding(out[:, :p] if p else None, out[:, p:], grid, pooled)

    def _attention(self, x: torch.Tensor, block: int) -> torch.Tensor:
        attn = self.model.blocks[block].attn
        drop = getattr(attn, "attn_drop", None)
        if not (hasattr(attn, "fused_attn") and isinstance(drop, nn.Module)):
            raise BackboneError(
                f"backbone {self.spec.name!r}: timm attention {type(attn).__name__} does not "
                f"expose its weights"
            )
        captured = []
        fused = attn.fused_attn
        # The fused kernel never materialises the weights; the explicit path applies
        # softmax then attn_drop (identity in eval), whose input/output we capture.
        attn.fused_attn = False
        handle = attn.attn_drop.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.model.forward_intermediates(
                x, indices=[block], stop_early=True, intermediates_only=True
            )
        finally:
            handle.remove()
            attn.fused_attn = fused
        return captured[-1]

    def _intermediate(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        indices = [self._layer_index(n, "blocks") for n in names]
        taken = sorted(set(indices))
        maps = self.model.forward_intermediates(
            x, indices=taken, intermediates_only=True, output_fmt="NCHW", norm=False
        )
        by_index = dict(zip(taken, maps, strict=True))
        return [by_index[i] for i in indices]

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks, input to output."""
        return list(self.model.blocks)


def build(
    spec: BackboneSpec,
    weights: None | str | Path,
    options: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> TimmViT:
    """Build a timm ViT spec.

    Parameters
    ----------
    spec : BackboneSpec
        ``spec.arch`` is the timm model name.
    weights : None, "pretrained" or pathlib.Path
        See :mod:`astrofm.backbones.weights`.
    options : dict
        ``timm.create_model`` keyword arguments from the caller (``depth``,
        ``embed_dim``, ``img_size`` ...).
    defaults : dict, optional
        Family defaults the caller's options override.
    """
    defaults = {"dynamic_img_size": True, **(defaults or {})}
    model = create_timm_model(spec, weights, defaults, options)
    if "img_size" in options:
        spec = spec.replace(native_size=_side(options["img_size"]))
    return TimmViT(model, spec)
