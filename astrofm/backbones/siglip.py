"""SigLIP (Zhai et al. 2023): image towers of sigmoid-loss image-text models on WebLI.

Built with timm (the whole family through one library). SigLIP has no class token:
its summary is the attention-pooling head (``pooler``, the default), and ``mean``
averages the patch tokens. ``siglip-base-{224,256,384}`` are ViT-B/16 at three training
resolutions; ``siglip-so400m`` is the shape-optimised ViT-SO400M/14 at 378 px (timm's
name for google/siglip-so400m-patch14-384, whose 384 px is not a multiple of 14 and
really gives a 27 x 27 grid). ``siglip`` is ``siglip-base-224``.
"""

from astrofm.backbones.spec import HALF, BackboneSpec, vit_spec

__all__ = ["specs", "build"]

# name: (timm arch, patch, native size, embed dim, depth, heads)
_VARIANTS = {
    "siglip-base-224": ("vit_base_patch16_siglip_224.webli", 16, 224, 768, 12, 12),
    "siglip-base-256": ("vit_base_patch16_siglip_256.webli", 16, 256, 768, 12, 12),
    "siglip-base-384": ("vit_base_patch16_siglip_384.webli", 16, 384, 768, 12, 12),
    "siglip-so400m": ("vit_so400m_patch14_siglip_378.webli", 14, 378, 1152, 27, 16),
}


def specs() -> list[BackboneSpec]:
    """The SigLIP specs (entry point ``siglip`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name=name,
            family="siglip",
            builder="astrofm.backbones.siglip:build",
            arch=arch,
            patch_size=patch,
            native_size=size,
            feature_dim=dim,
            depth=depth,
            num_heads=heads,
            num_prefix_tokens=0,
            poolings=("pooler", "mean", "tokens"),
            default_pooling="pooler",
            mean=HALF,
            std=HALF,
            aliases=("siglip",) if name == "siglip-base-224" else (),
            license="apache-2.0",
            description=f"SigLIP {'ViT-SO400M/14' if patch == 14 else 'ViT-B/16'} image "
            f"tower at {size} px, image-text pretrained on WebLI",
        )
        for name, (arch, patch, size, dim, depth, heads) in _VARIANTS.items()
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build a SigLIP image tower with timm (attention-pool head kept)."""
    from astrofm.backbones.adapters import timm_vit

    return timm_vit.build(spec, weights, options)
