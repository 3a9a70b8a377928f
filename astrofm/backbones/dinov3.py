"""DINOv3 (Siméoni et al. 2025): self-distilled ViTs with RoPE and four registers, through
timm, including the weights trained on satellite imagery.

Web-image (LVD-1689M) variants: ``dinov3-{small,small-plus,base,large,huge-plus,7b}``.
Satellite (SAT-493M, 0.6 m resolution Maxar imagery) variants: ``dinov3-large-sat`` and
``dinov3-7b-sat``, with their own normalisation; overhead, single-scene imagery is
closer to radio maps than web photographs, which is why the reference study suggests
them. The weights were trained at 256 px; RoPE takes any multiple of 16. Aliases:
``dinov3`` is ``dinov3-base``, ``dinov3-sat`` is ``dinov3-large-sat``. The weights are
under the DINOv3 license (gated on the hub).
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build", "SAT_MEAN", "SAT_STD"]

#: Normalisation of the SAT-493M weights (timm's pretrained config).
SAT_MEAN = (0.430, 0.411, 0.296)
SAT_STD = (0.213, 0.156, 0.143)

# name: (timm arch, embed dim, depth, heads, label)
_VARIANTS = {
    "dinov3-small": ("vit_small_patch16_dinov3.lvd1689m", 384, 12, 6, "ViT-S/16"),
    "dinov3-small-plus": ("vit_small_plus_patch16_dinov3.lvd1689m", 384, 12, 6, "ViT-S+/16"),
    "dinov3-base": ("vit_base_patch16_dinov3.lvd1689m", 768, 12, 12, "ViT-B/16"),
    "dinov3-large": ("vit_large_patch16_dinov3.lvd1689m", 1024, 24, 16, "ViT-L/16"),
    "dinov3-huge-plus": ("vit_huge_plus_patch16_dinov3.lvd1689m", 1280, 32, 20, "ViT-H+/16"),
    "dinov3-7b": ("vit_7b_patch16_dinov3.lvd1689m", 4096, 40, 32, "ViT-7B/16"),
    "dinov3-large-sat": ("vit_large_patch16_dinov3.sat493m", 1024, 24, 16, "ViT-L/16"),
    "dinov3-7b-sat": ("vit_7b_patch16_dinov3.sat493m", 4096, 40, 32, "ViT-7B/16"),
}
_ALIASES = {"dinov3-base": ("dinov3",), "dinov3-large-sat": ("dinov3-sat",)}


def specs() -> list[BackboneSpec]:
    """The DINOv3 specs (entry point ``dinov3`` of the ``astrofm.backbones`` group)."""
    out = []
    for name, (arch, dim, depth, heads, label) in _VARIANTS.items():
        satellite = name.endswith("-sat")
        out.append(
            vit_spec(
                name=name,
                family="dinov3",
                builder="astrofm.backbones.dinov3:build",
                arch=arch,
                patch_size=16,
                native_size=256,
                feature_dim=dim,
                depth=depth,
                num_heads=heads,
                num_prefix_tokens=5,
                mean=SAT_MEAN if satellite else IMAGENET_MEAN,
                std=SAT_STD if satellite else IMAGENET_STD,
                aliases=_ALIASES.get(name, ()),
                license="dinov3-license",
                description=f"DINOv3 {label}, self-supervised on "
                f"{'SAT-493M satellite imagery' if satellite else 'LVD-1689M web images'}",
            )
        )
    return out


def build(spec: BackboneSpec, weights=None, **options):
    """Build a DINOv3 backbone with timm; its own head pools the CLS token as upstream."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options, defaults={"global_pool": "token"})
