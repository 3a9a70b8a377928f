"""MSN (Assran et al. 2022): masked Siamese networks, ViTs self-supervised on
ImageNet-1k, through transformers' ``ViTMSNModel``.

``msn-base`` (facebook/vit-msn-base, ViT-B/16) and ``msn-large`` (facebook/vit-msn-large,
ViT-L/16); ``msn`` is ``msn-base``. The published configurations are declared here, so
random initialisation needs no network; ``interpolate_pos_encoding`` lets any multiple
of 16 through.
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, vit_spec

__all__ = ["specs", "build"]

# size: (hub repository, hidden size, layers, heads, MLP size)
_SIZES = {
    "base": ("facebook/vit-msn-base", 768, 12, 12, 3072),
    "large": ("facebook/vit-msn-large", 1024, 24, 16, 4096),
}


def specs() -> list[BackboneSpec]:
    """The MSN specs (entry point ``msn`` of the ``astrofm.backbones`` group)."""
    return [
        vit_spec(
            name=f"msn-{size}",
            family="msn",
            builder="astrofm.backbones.msn:build",
            library="transformers",
            arch="vit_msn",
            hub_id=repo,
            block_prefix="layers",
            patch_size=16,
            native_size=224,
            feature_dim=dim,
            depth=depth,
            num_heads=heads,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            aliases=("msn",) if size == "base" else (),
            license="apache-2.0",
            description=f"MSN ViT-{size[0].upper()}/16, masked Siamese networks on ImageNet-1k",
            extra={
                "config": {
                    "hidden_size": dim,
                    "num_hidden_layers": depth,
                    "num_attention_heads": heads,
                    "intermediate_size": mlp,
                    "patch_size": 16,
                    "image_size": 224,
                    "layer_norm_eps": 1e-6,
                }
            },
        )
        for size, (repo, dim, depth, heads, mlp) in _SIZES.items()
    ]


def build(spec: BackboneSpec, weights=None, **options):
    """Build an MSN backbone with transformers' ``ViTMSNModel`` (no head)."""
    from transformers import ViTMSNConfig, ViTMSNModel

    from astrofm.backbones.adapters import hf_vit

    return hf_vit.build(spec, weights, options, ViTMSNModel, ViTMSNConfig)
