"""Vision foundation models behind one registry.

::

    from astrofm import backbones

    backbones.list("dinov2*")            # ['dinov2-base', 'dinov2-base-reg', ...]
    spec = backbones.get("dinov2")       # alias of 'dinov2-base'
    spec.patch_size, spec.mean, spec.valid_size(130)   # 14, (0.485, ...), 126
    model = backbones.load("dinov2", weights="pretrained")
    model.features(x)                    # (N, 768) CLS features
    model.cls_attention(x)               # (N, heads, h, w)

Built-in families (timm unless stated): ``dinov2``, ``dinov1``, ``dinov3`` (with its
satellite-imagery weights), ``mae``, ``msn`` (transformers), ``siglip``, ``am-radio``
(C-RADIOv3), ``vit`` (supervised ImageNet), ``resnet18/50/101/152`` (torchvision). Each
short family alias points at its ViT-B-sized variant, so ``dinov2``, ``mae`` and
``siglip`` compare like with like. Plugins add more through the ``astrofm.backbones``
entry-point group (see :mod:`astrofm.backbones.registry`).

Importing this package imports neither torch nor any model library; :func:`load` does.
"""

from importlib import import_module

from astrofm.backbones.registry import (
    aliases,
    get,
    load,
    refresh,
    register,
    unregister,
)
from astrofm.backbones.registry import (
    list_names as list,  # noqa: A004 - timm-style name; builtins.list stays usable outside
)
from astrofm.backbones.spec import POOLINGS, SIZE_RULES, BackboneSpec, FeatureLayer, vit_spec

__all__ = [
    "list",
    "aliases",
    "get",
    "load",
    "register",
    "unregister",
    "refresh",
    "BackboneSpec",
    "FeatureLayer",
    "vit_spec",
    "POOLINGS",
    "SIZE_RULES",
    "Backbone",
    "Encoding",
]

# Defined with torch; resolved on first access so that listing names stays light.
_LAZY = {"Backbone": "astrofm.backbones.backbone", "Encoding": "astrofm.backbones.backbone"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'astrofm.backbones' has no attribute {name!r}")
