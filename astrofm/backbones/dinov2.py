"""DINOv2 (Oquab et al. 2023): self-distilled ViTs trained on LVD-142M, through timm.

Variants ``dinov2-{small,base,large,giant}`` and, with four register tokens (Darcet et
al. 2024), ``dinov2-{size}-reg``. The weights were trained at 518 px (a 37 x 37 grid of
14 px patches); timm interpolates the position embeddings, so any multiple of 14 works
and ``default_size`` is 224, the size the reference study used.

Aliases: ``dinov2`` is ``dinov2-base`` (ViT-B/14, comparable with the other families'
ViT-B), ``dinov2-reg`` is ``dinov2-base-reg``.
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build"]

# size: (timm size name, embed dim, depth, heads)
_SIZES = {
    "small": ("small", 384, 12, 6),
    "base": ("base", 768, 12, 12),
    "large": ("large", 1024, 24, 16),
    "giant": ("giant", 1536, 40, 24),
}


def specs() -> list[BackboneSpec]:
    """The DINOv2 specs (entry point ``dinov2`` of the ``astrofm.backbones`` group)."""
    out = []
    for size, (timm_size, dim, depth, heads) in _SIZES.items():
        for registers in (False, True):
            arch = f"vit_{timm_size}_patch14_{'reg4_' if registers else ''}dinov2.lvd142m"
            name = f"dinov2-{size}{'-reg' if registers else ''}"
            aliases = {"dinov2-base": ("dinov2",), "dinov2-base-reg": ("dinov2-reg",)}
            out.append(
                vit_spec(
                    name=name,
                    family="dinov2",
                    builder="astrofm.backbones.dinov2:build",
                    arch=arch,
                    patch_size=14,
                    native_size=518,
                    default_size=224,
                    feature_dim=dim,
                    depth=depth,
                    num_heads=heads,
                    num_prefix_tokens=5 if registers else 1,
                    mean=IMAGENET_MEAN,
                    std=IMAGENET_STD,
                    aliases=aliases.get(name, ()),
                    license="apache-2.0",
                    description=f"DINOv2 ViT-{size[0].upper()}/14"
                    f"{' with 4 registers' if registers else ''}, self-supervised on LVD-142M",
                )
            )
    return out


def build(spec: BackboneSpec, weights=None, **options):
    """Build a DINOv2 backbone with timm (``dynamic_img_size`` on)."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
