"""Self-supervised domain pretraining of a registered backbone on unlabelled sky images.

::

    import astrofm

    astrofm.pretrain(["a.fits", "b.fits"], "resnet18", method="dino", epochs=50,
                     output="resnet18-sky.safetensors")
    astrofm.backbones.load("resnet18", weights="resnet18-sky.safetensors")

DINO works on any ViT or CNN, MAE continues a timm ViT (the mae family); the losses,
heads, masking and view recipe are lightly's (:mod:`astrofm.pretrain.methods`,
:mod:`astrofm.pretrain.data`), the loop is Lightning's. The output file holds the
backbone's plain weights, LoRA adapters merged, so every adapter loads it with
``weights=path`` and the spec unchanged.

The package itself is callable: ``astrofm.pretrain(...)`` is
:func:`astrofm.pretrain.pretrain`.
"""

import sys
from types import ModuleType

from astrofm.pretrain.api import pretrain
from astrofm.pretrain.config import METHODS, TUNINGS

__all__ = ["pretrain", "METHODS", "TUNINGS"]


class _CallableModule(ModuleType):
    # The issue names the call astrofm.pretrain(...), and astrofm.pretrain is also this
    # package; a module subclass (as the Python reference allows) makes both hold.
    def __call__(self, *args, **kwargs):
        return pretrain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
