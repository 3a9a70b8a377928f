"""What pretraining accepts, checked before anything is built or computed.

Nothing here imports torch, so the command line can name the choices cheaply.
"""

from __future__ import annotations

from astrofm.errors import ConfigError

__all__ = ["METHODS", "TUNINGS", "method_options", "check_mae"]

#: How much of the backbone trains during pretraining.
TUNINGS = ("full", "lora")

#: Options of each method and their defaults (``pretrain(..., **options)``).
METHODS = {
    "dino": {"n_local": 6, "hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 4096,
             "momentum": 0.996, "teacher_temp": 0.04, "warmup_teacher_temp_epochs": 0},
    "mae": {"mask_ratio": 0.75, "decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16},
}


def method_options(method: str, options: dict) -> dict:
    """The options of ``method``, defaults filled in; unknown names raise ConfigError."""
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: choose one of {', '.join(METHODS)}.")
    unknown = sorted(set(options) - set(METHODS[method]))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: not options of method {method!r}; its "
                          f"options are {', '.join(METHODS[method])}.")
    return {**METHODS[method], **options}


def check_mae(spec, model=None) -> None:
    """Raise ConfigError unless the backbone is a timm ViT with one class token.

    Parameters
    ----------
    spec : BackboneSpec
        The backbone's spec, checked before anything is built.
    model : torch.nn.Module, optional
        The built library model, checked to be timm's ``VisionTransformer``.
    """
    timm_vit = spec.library == "timm" and bool(spec.patch_size) and spec.num_prefix_tokens == 1
    if timm_vit and model is not None:
        from timm.models.vision_transformer import VisionTransformer

        timm_vit = isinstance(model, VisionTransformer)
    if not timm_vit:
        raise ConfigError(
            f"method='mae' needs a timm ViT with one class token and no registers (the mae "
            f"family: mae-base, mae-large, mae-huge, or vit-base); {spec.name!r} is a "
            f"{spec.library} {spec.family} model. Use method='dino', which works on any "
            f"backbone."
        )
