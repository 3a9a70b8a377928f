"""Creating a timm model with no, published or local weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch

from astrofm.backbones.spec import BackboneSpec
from astrofm.backbones.weights import (
    describe_mismatch,
    hub_errors,
    match_prefix,
    read_state_dict,
    shapes,
)
from astrofm.errors import ConfigError, WeightsError

__all__ = ["create_timm_model", "reject_remote_code"]


def reject_remote_code(spec: BackboneSpec, options: dict[str, Any]) -> None:
    """Refuse ``trust_remote_code`` for libraries that never run remote code."""
    if "trust_remote_code" in options:
        raise ConfigError(
            f"trust_remote_code applies to transformers backbones; {spec.name!r} is built "
            f"by {spec.library}, which runs no code from the hub"
        )


def _download_hint(spec: BackboneSpec) -> str:
    if spec.hub_id.startswith("hf_hub:"):
        repo = spec.hub_id.removeprefix("hf_hub:")
    else:
        repo = timm.models.get_pretrained_cfg(spec.hub_id).hf_hub_id or spec.hub_id
    return f"Download them where the hub is reachable (`hf download {repo}`)"


def create_timm_model(
    spec: BackboneSpec, weights: None | str | Path, defaults: dict[str, Any], options: dict
) -> torch.nn.Module:
    """``timm.create_model`` for a spec, with the weights astrofm was asked for.

    Parameters
    ----------
    spec : BackboneSpec
        ``spec.arch`` is built offline; ``spec.hub_id`` is fetched for ``"pretrained"``.
    weights : None, "pretrained" or pathlib.Path
        As resolved by :func:`astrofm.backbones.weights.resolve_weights`.
    defaults : dict
        Family keyword arguments for ``create_model`` (``dynamic_img_size`` ...).
    options : dict
        The caller's keyword arguments; they win over ``defaults``.

    Returns
    -------
    torch.nn.Module
        The timm model without classifier (``num_classes=0``).
    """
    reject_remote_code(spec, options)
    kwargs = {"num_classes": 0, **defaults, **options}
    if weights is None:
        return timm.create_model(spec.arch, pretrained=False, **kwargs)
    if weights == "pretrained":
        if not spec.hub_id:
            raise WeightsError(f"backbone {spec.name!r} declares no published weights")
        with hub_errors(spec, _download_hint(spec)):
            return timm.create_model(spec.hub_id, pretrained=True, **kwargs)
    return _create_from_state(spec, read_state_dict(weights), weights, kwargs)


def _create_from_state(spec, state, source, kwargs):
    # timm's own loader converts original checkpoints (facebook DINOv2, NVIDIA RADIO,
    # OpenCLIP ...) and resamples position embeddings; it is handed our state dict so
    # that files are always read with weights_only=True.
    with torch.device("meta"):
        reference = timm.create_model(spec.arch, pretrained=False, **kwargs)
    expected = shapes(reference.state_dict())
    state = match_prefix(state, set(expected))
    classifiers = reference.pretrained_cfg.get("classifier") or ()
    for head in (classifiers,) if isinstance(classifiers, str) else classifiers:
        for key in (f"{head}.weight", f"{head}.bias"):
            if key not in expected:
                state.pop(key, None)
    # An overlay num_classes equal to the model's keeps timm's load strict.
    overlay = {"state_dict": state, "num_classes": reference.num_classes}
    try:
        return timm.create_model(
            spec.arch, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs
        )
    except (RuntimeError, KeyError, ValueError, AssertionError, IndexError) as exc:
        problem = describe_mismatch(expected, shapes(state)) or f"{type(exc).__name__}: {exc}"
        raise WeightsError(
            f"weights in {str(source)!r} do not fit backbone {spec.name!r} ({spec.arch}): "
            f"{problem}. Check that the file belongs to this architecture and that the "
            f"options (depth, embed_dim, img_size ...) match those it was saved with"
        ) from exc
