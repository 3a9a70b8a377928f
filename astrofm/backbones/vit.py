"""Supervised ViT-B/16 (Dosovitskiy et al. 2021), the reference for the self-supervised
families: timm's AugReg2 weights, pretrained on ImageNet-21k and fine-tuned on
ImageNet-1k (Steiner et al. 2022). ``vit-base``, alias ``vit``; the classifier is
dropped, features come from the CLS token.
"""

from astrofm.backbones.spec import HALF, BackboneSpec, vit_spec

__all__ = ["specs", "build"]


def specs() -> list[BackboneSpec]:
    """The supervised ViT spec (entry point ``vit`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name="vit-base",
            family="vit",
            builder="astrofm.backbones.vit:build",
            arch="vit_base_patch16_224.augreg2_in21k_ft_in1k",
            patch_size=16,
            native_size=224,
            feature_dim=768,
            depth=12,
            num_heads=12,
            mean=HALF,
            std=HALF,
            aliases=("vit",),
            license="apache-2.0",
            description="ViT-B/16 supervised on ImageNet-21k, fine-tuned on ImageNet-1k",
        )
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build the supervised ViT with timm, without its classifier."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
