"""DINO (Caron et al. 2021): the first self-distilled ViTs, trained on ImageNet-1k.

``dinov1-base-16`` (ViT-B/16) and ``dinov1-base-8`` (ViT-B/8, four times the tokens,
sharper attention maps), through timm; ``dinov1`` is ``dinov1-base-16``.
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build"]


def specs() -> list[BackboneSpec]:
    """The DINO specs (entry point ``dinov1`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name=f"dinov1-base-{patch}",
            family="dinov1",
            builder="astrofm.backbones.dinov1:build",
            arch=f"vit_base_patch{patch}_224.dino",
            patch_size=patch,
            native_size=224,
            feature_dim=768,
            depth=12,
            num_heads=12,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            aliases=("dinov1",) if patch == 16 else (),
            license="apache-2.0",
            description=f"DINO ViT-B/{patch}, self-supervised on ImageNet-1k",
        )
        for patch in (16, 8)
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build a DINO backbone with timm."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
