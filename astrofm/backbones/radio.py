"""AM-RADIO (Ranzinger et al. 2024): ViTs distilled from several teachers (CLIP, DINOv2,
SAM) at once, as timm provides them: the C-RADIOv3 release.

timm has no AM-RADIO v1/v2/v2.5 checkpoints (those load from NVIDIA's hub repositories
with ``trust_remote_code``); it has the C-RADIOv3 B/L/H/g and C-RADIOv4 backbones,
remapped to its ``VisionTransformer``. ``am-radio-{base,large,huge}`` are C-RADIOv3
ViT-B/16, ViT-L/16 and ViT-H/16; ``am-radio`` is ``am-radio-base``. Each has one summary
(class) token and seven registers. The weights were trained at up to 512 px; timm's
position-embedding interpolation (``dynamic_img_size``) gives other multiples of 16, and
``default_size`` is 224 like the other families. Inputs are in [0, 1] normalised with
the CLIP mean and std, which is what RADIO's own input conditioner does.
"""

from astrofm.backbones.spec import CLIP_MEAN, CLIP_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build"]

# size: (timm size name, embed dim, depth, heads)
_SIZES = {
    "base": ("base", 768, 12, 12),
    "large": ("large", 1024, 24, 16),
    "huge": ("huge", 1280, 32, 16),
}


def specs() -> list[BackboneSpec]:
    """The RADIO specs (entry point ``radio`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name=f"am-radio-{size}",
            family="am-radio",
            builder="astrofm.backbones.radio:build",
            arch=f"vit_{timm_size}_patch16_radio_v3.c_radio",
            patch_size=16,
            native_size=512,
            default_size=224,
            feature_dim=dim,
            depth=depth,
            num_heads=heads,
            num_prefix_tokens=8,
            mean=CLIP_MEAN,
            std=CLIP_STD,
            aliases=("am-radio",) if size == "base" else (),
            license="nvidia-open-model-license",
            description=f"C-RADIOv3 ViT-{size[0].upper()}/16, agglomerative distillation "
            f"of CLIP, DINOv2 and SAM",
        )
        for size, (timm_size, dim, depth, heads) in _SIZES.items()
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build a C-RADIOv3 backbone with timm."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
