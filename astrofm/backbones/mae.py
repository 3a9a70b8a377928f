"""MAE (He et al. 2022): ViTs pretrained by masked-image reconstruction on ImageNet-1k.

Only the encoder is published for feature extraction, and timm builds it as a plain
ViT: there is no random masking anywhere in the forward pass, so features are
deterministic and cover every patch. ``mae-base`` (ViT-B/16), ``mae-large`` (ViT-L/16),
``mae-huge`` (ViT-H/14); ``mae`` is ``mae-base``. The weights are CC-BY-NC 4.0.
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build"]

# size: (timm arch, patch, embed dim, depth, heads)
_SIZES = {
    "base": ("vit_base_patch16_224.mae", 16, 768, 12, 12),
    "large": ("vit_large_patch16_224.mae", 16, 1024, 24, 16),
    "huge": ("vit_huge_patch14_224.mae", 14, 1280, 32, 16),
}


def specs() -> list[BackboneSpec]:
    """The MAE specs (entry point ``mae`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name=f"mae-{size}",
            family="mae",
            builder="astrofm.backbones.mae:build",
            arch=arch,
            patch_size=patch,
            native_size=224,
            feature_dim=dim,
            depth=depth,
            num_heads=heads,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            aliases=("mae",) if size == "base" else (),
            license="cc-by-nc-4.0",
            description=f"MAE ViT-{size[0].upper()}/{patch} encoder, masked autoencoding "
            f"on ImageNet-1k (no masking at inference)",
        )
        for size, (arch, patch, dim, depth, heads) in _SIZES.items()
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build an MAE encoder with timm; the timm ViT has no masking."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
