"""transformers vision transformers (ViT-MSN and kin) as :class:`Backbone`.

Inputs of any multiple of the patch size work through ``interpolate_pos_encoding``.
The model runs with its default (SDPA) attention; attention maps switch it to the
eager implementation for that one call, the only one that returns the weights.
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from astrofm.backbones.backbone import Backbone, Encoding
from astrofm.backbones.spec import BackboneSpec, FeatureLayer
from astrofm.backbones.weights import (
    describe_mismatch,
    hub_errors,
    match_prefix,
    read_state_dict,
    shapes,
    snapshot_folder,
    unreadable_weights,
    weights_file,
)
from astrofm.errors import ConfigError, WeightsError

__all__ = ["TransformersViT", "build"]


def _side(value) -> int:
    return int(value if isinstance(value, int) else value[0])


class TransformersViT(Backbone):
    """A transformers ViT model (no head); ``self.model`` is the transformers module."""

    def _layers(self) -> tuple[str, nn.ModuleList]:
        # transformers 5 keeps the blocks in ``layers``; 4.x in ``encoder.layer``.
        if isinstance(getattr(self.model, "layers", None), nn.ModuleList):
            return "layers", self.model.layers
        return "encoder.layer", self.model.encoder.layer

    def _describe(self, spec: BackboneSpec) -> dict:
        cfg = self.model.config
        prefix, layers = self._layers()
        depth, dim, patch = len(layers), int(cfg.hidden_size), _side(cfg.patch_size)
        return {
            "feature_dim": dim,
            "num_blocks": depth,
            "num_heads": int(cfg.num_attention_heads),
            "patch_size": patch,
            "min_size": patch,
            "native_size": _side(cfg.image_size),
            "in_channels": int(cfg.num_channels),
            "num_prefix_tokens": 1,
            "detector_layers": (FeatureLayer(f"{prefix}.{depth - 1}", dim, patch),),
        }

    def _run(self, x: torch.Tensor, **flags):
        return self.model(pixel_values=x, interpolate_pos_encoding=True, **flags)

    def _encode(self, x: torch.Tensor) -> Encoding:
        tokens = self._run(x).last_hidden_state
        grid = self.spec.token_grid(int(x.shape[2]), int(x.shape[3]))
        return Encoding(tokens[:, :1], tokens[:, 1:], grid, None)

    @contextmanager
    def _eager(self):
        previous = self.model.config._attn_implementation
        setter = getattr(self.model, "set_attn_implementation", None)
        if setter is not None:
            setter("eager")
        else:
            self.model.config._attn_implementation = "eager"
        try:
            yield
        finally:
            if setter is not None:
                setter(previous)
            else:
                self.model.config._attn_implementation = previous

    def _attention(self, x: torch.Tensor, block: int) -> torch.Tensor:
        with self._eager():
            return self._run(x, output_attentions=True).attentions[block]

    def _intermediate(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        prefix, _ = self._layers()
        indices = [self._layer_index(n, prefix) for n in names]
        hidden = self._run(x, output_hidden_states=True).hidden_states
        h, w = self.spec.token_grid(int(x.shape[2]), int(x.shape[3]))
        maps = []
        for i in indices:
            tokens = hidden[i + 1][:, 1:]  # hidden[0] is the embedding output
            maps.append(tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w))
        return maps

    def blocks(self) -> list[nn.Module]:
        """The transformer layers, input to output."""
        return list(self._layers()[1])


@contextmanager
def _quiet():
    """Silence transformers' load reports and progress bars, restoring them after."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _check_info(spec, info, source, strict: bool) -> None:
    problems = []
    for kind in ("missing_keys", "mismatched_keys") + (("unexpected_keys",) if strict else ()):
        keys = sorted(str(k if isinstance(k, str) else k[0]) for k in info.get(kind, ()))
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            problems.append(f"{kind.replace('_', ' ')}: {', '.join(keys[:5])}{more}")
    if problems:
        raise WeightsError(
            f"weights in {str(source)!r} do not fit backbone {spec.name!r}: "
            f"{'; '.join(problems)}. Check that they belong to this architecture and that "
            f"the options match those they were saved with"
        )


def build(
    spec: BackboneSpec,
    weights: None | str | Path,
    options: dict[str, Any],
    model_cls: type,
    config_cls: type,
) -> TransformersViT:
    """Build a transformers ViT spec.

    Parameters
    ----------
    spec : BackboneSpec
        ``spec.hub_id`` is the Hugging Face repository; ``spec.extra["config"]`` the
        configuration of the published model, so random initialisation needs no network.
    weights : None, "pretrained" or pathlib.Path
        See :mod:`astrofm.backbones.weights`. A folder with a ``config.json`` loads with
        ``from_pretrained(folder, local_files_only=True)``.
    options : dict
        Configuration overrides (``num_hidden_layers``, ``hidden_size`` ...), and
        ``trust_remote_code``, passed to ``from_pretrained`` only when given.
    model_cls, config_cls : type
        The transformers model and configuration classes.
    """
    options = dict(options)
    load_kwargs = {}
    if "trust_remote_code" in options:
        load_kwargs["trust_remote_code"] = bool(options.pop("trust_remote_code"))
    known = set(config_cls().to_dict())
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"backbone {spec.name!r}: {unknown} are not {config_cls.__name__} fields; "
            f"options override the model configuration"
        )
    config_kwargs = {**dict(spec.extra.get("config", {})), **options}
    with _quiet():
        if weights is None:
            model = model_cls(config_cls(**config_kwargs))
        elif weights == "pretrained":
            hint = f"Download them where the hub is reachable (`hf download {spec.hub_id}`)"
            with hub_errors(spec, hint):
                model, info = model_cls.from_pretrained(
                    spec.hub_id, output_loading_info=True, **options, **load_kwargs
                )
            _check_info(spec, info, spec.hub_id, strict=False)
        else:
            model = _from_local(spec, weights, options, config_kwargs, load_kwargs, model_cls,
                                config_cls)
    if "image_size" in options:
        spec = spec.replace(native_size=_side(options["image_size"]))
    return TransformersViT(model, spec)


def _from_local(spec, path, options, config_kwargs, load_kwargs, model_cls, config_cls):
    folder = snapshot_folder(path) if path.is_dir() else None
    state = expected = None
    try:
        if folder is not None and (folder / "config.json").is_file():
            model, info = model_cls.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, **options, **load_kwargs
            )
        else:
            with torch.device("meta"):
                reference = model_cls(config_cls(**config_kwargs))
            expected = shapes(reference.state_dict())
            state = match_prefix(read_state_dict(path), set(expected))
            # from_pretrained renames keys of older checkpoints to the current layout.
            model, info = model_cls.from_pretrained(
                None, config=config_cls(**config_kwargs), state_dict=state,
                output_loading_info=True,
            )
    except (pickle.UnpicklingError, EOFError, SafetensorError) as exc:
        # transformers read the folder's weights file itself; torch's text advises unsafe loading.
        raise unreadable_weights(weights_file(path)) from exc
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
        if state is not None:
            problem = describe_mismatch(expected, shapes(state)) or problem
        raise WeightsError(
            f"weights in {str(path)!r} do not fit backbone {spec.name!r}: {problem}"
        ) from exc
    _check_info(spec, info, path, strict=True)
    return model
