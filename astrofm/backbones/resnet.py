"""ResNets (He et al. 2016) with torchvision's ImageNet weights: the supervised CNN
baseline, and the backbone of torchvision's Faster R-CNN.

``resnet18`` (``ResNet18_Weights.IMAGENET1K_V1``, the only one published) and
``resnet50``, ``resnet101``, ``resnet152`` (the improved ``IMAGENET1K_V2`` recipe).
Features are the global average pool of ``layer4``; ``layer1`` to ``layer4`` (strides 4
to 32) feed a detector. Any input size of at least 32 px works.
"""

from astrofm.backbones.spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, FeatureLayer

__all__ = ["specs", "build"]

# name: (weights enum, basic-block network)
_DEPTHS = {
    "resnet18": ("ResNet18_Weights.IMAGENET1K_V1", True),
    "resnet50": ("ResNet50_Weights.IMAGENET1K_V2", False),
    "resnet101": ("ResNet101_Weights.IMAGENET1K_V2", False),
    "resnet152": ("ResNet152_Weights.IMAGENET1K_V2", False),
}


def specs() -> list[BackboneSpec]:
    """The ResNet specs (entry point ``resnet`` of the ``astrofm.backbones`` group)."""
    out = []
    for name, (enum, basic) in _DEPTHS.items():
        widths = (64, 128, 256, 512) if basic else (256, 512, 1024, 2048)
        out.append(
            BackboneSpec(
                name=name,
                family="resnet",
                builder="astrofm.backbones.resnet:build",
                library="torchvision",
                arch=name,
                hub_id=enum,
                native_size=224,
                feature_dim=widths[-1],
                num_blocks=4,
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                poolings=("pooler", "mean", "tokens"),
                default_pooling="pooler",
                detector_layers=tuple(
                    FeatureLayer(f"layer{i + 1}", w, 4 * 2**i) for i, w in enumerate(widths)
                ),
                license="bsd-3-clause",
                description=f"ResNet-{name.removeprefix('resnet')} supervised on ImageNet-1k "
                f"({enum.split('.')[-1]})",
            )
        )
    return out


def build(spec: BackboneSpec, weights=None, **options):
    """Build a torchvision ResNet (classifier kept, unused by features)."""
    from astrofm.backbones.adapters import torchvision_cnn

    return torchvision_cnn.build(spec, weights, options)
