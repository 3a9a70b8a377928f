"""Zoobot galaxy-morphology encoders as astrofm backbones.

Zoobot (Walmsley et al. 2023, 2024) pretrains CNNs on millions of Galaxy Zoo volunteer
classifications; the encoders are published on the Hugging Face hub for timm as
``mwalmsley/zoobot-encoder-<architecture>``. This package declares them to astrofm
through the ``astrofm.backbones`` entry point, so that, once installed::

    from astrofm import backbones
    backbones.list("zoobot*")
    encoder = backbones.load("zoobot", weights="pretrained")   # ConvNeXt-Nano

``weights=None`` builds the timm architecture offline with random weights;
``"pretrained"`` fetches the hub encoder; a local file or hub folder works as for every
astrofm backbone. The encoders take 224 px images scaled to [0, 1] with no further
normalisation (Zoobot's own transforms stop at ``ToDtype(float32, scale=True)``), hence
mean 0 and std 1. ``zoobot-greyscale-convnext-nano`` takes one channel, a natural fit for
single-band images such as radio maps.
"""

from astrofm.backbones import BackboneSpec, FeatureLayer

__all__ = ["specs", "build", "ENCODERS"]
__version__ = "0.1.0"

# name: (timm architecture, hub repository suffix, channels, feature dim, tuneable blocks,
#        detector layers as (module, channels, stride), label)
ENCODERS = {
    "zoobot-convnext-nano": (
        "convnext_nano", "convnext_nano", 3, 640, 4,
        (("stages.0", 80, 4), ("stages.1", 160, 8), ("stages.2", 320, 16), ("stages.3", 640, 32)),
        "ConvNeXt-Nano",
    ),
    "zoobot-convnext-small": (
        "convnext_small", "convnext_small", 3, 768, 4,
        (("stages.0", 96, 4), ("stages.1", 192, 8), ("stages.2", 384, 16), ("stages.3", 768, 32)),
        "ConvNeXt-Small",
    ),
    "zoobot-convnext-base": (
        "convnext_base", "convnext_base", 3, 1024, 4,
        (("stages.0", 128, 4), ("stages.1", 256, 8), ("stages.2", 512, 16),
         ("stages.3", 1024, 32)),
        "ConvNeXt-Base",
    ),
    "zoobot-convnext-large": (
        "convnext_large", "convnext_large", 3, 1536, 4,
        (("stages.0", 192, 4), ("stages.1", 384, 8), ("stages.2", 768, 16),
         ("stages.3", 1536, 32)),
        "ConvNeXt-Large",
    ),
    "zoobot-efficientnet-b0": (
        "efficientnet_b0", "efficientnet_b0", 3, 1280, 7,
        (("blocks.1", 24, 4), ("blocks.2", 40, 8), ("blocks.4", 112, 16), ("blocks.6", 320, 32)),
        "EfficientNet-B0",
    ),
    "zoobot-efficientnetv2-s": (
        "tf_efficientnetv2_s", "tf_efficientnetv2_s", 3, 1280, 6,
        (("blocks.1", 48, 4), ("blocks.2", 64, 8), ("blocks.4", 160, 16), ("blocks.5", 256, 32)),
        "EfficientNetV2-S",
    ),
    "zoobot-resnet18": (
        "resnet18", "resnet18", 3, 512, 4,
        (("layer1", 64, 4), ("layer2", 128, 8), ("layer3", 256, 16), ("layer4", 512, 32)),
        "ResNet-18",
    ),
    "zoobot-resnet50": (
        "resnet50", "resnet50", 3, 2048, 4,
        (("layer1", 256, 4), ("layer2", 512, 8), ("layer3", 1024, 16), ("layer4", 2048, 32)),
        "ResNet-50",
    ),
    "zoobot-greyscale-convnext-nano": (
        "convnext_nano", "greyscale-convnext_nano", 1, 640, 4,
        (("stages.0", 80, 4), ("stages.1", 160, 8), ("stages.2", 320, 16), ("stages.3", 640, 32)),
        "ConvNeXt-Nano (greyscale)",
    ),
}


def specs() -> list[BackboneSpec]:
    """The Zoobot encoder specs (entry point ``zoobot`` of the ``astrofm.backbones`` group).

    Returns
    -------
    list of BackboneSpec
        One per published encoder; ``zoobot`` is an alias of ``zoobot-convnext-nano``,
        the encoder Zoobot's documentation starts from.
    """
    out = []
    for name, (arch, repo, channels, dim, blocks, layers, label) in ENCODERS.items():
        out.append(
            BackboneSpec(
                name=name,
                family="zoobot",
                builder="astrofm_zoobot:build",
                library="timm",
                arch=arch,
                hub_id=f"hf_hub:mwalmsley/zoobot-encoder-{repo}",
                native_size=224,
                feature_dim=dim,
                num_blocks=blocks,
                in_channels=channels,
                mean=(0.0,) * channels,
                std=(1.0,) * channels,
                poolings=("pooler", "mean", "tokens"),
                default_pooling="pooler",
                detector_layers=tuple(FeatureLayer(*layer) for layer in layers),
                aliases=("zoobot",) if name == "zoobot-convnext-nano" else (),
                license="apache-2.0",
                description=f"Zoobot {label} encoder, pretrained on Galaxy Zoo morphology",
            )
        )
    return out


def build(spec: BackboneSpec, weights=None, **options):
    """Build a Zoobot encoder: the timm architecture, with the weights asked for.

    Parameters
    ----------
    spec : BackboneSpec
        One of :func:`specs`.
    weights : None, "pretrained" or pathlib.Path
        As resolved by :func:`astrofm.backbones.load`.
    **options
        ``timm.create_model`` keyword arguments.

    Returns
    -------
    astrofm.backbones.Backbone
    """
    from astrofm.backbones.adapters import timm_cnn

    return timm_cnn.build(spec, weights, options, defaults={"in_chans": spec.in_channels})
