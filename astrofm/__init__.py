"""astrofm: adapt astronomical images to vision foundation models.

The one path through the library is load, preprocess, backbone, head::

    import astrofm
    image = astrofm.load("cutout.fits")
    batch = astrofm.adapt("cutout.fits", model="dinov2")

Heavy parts (torch, timm, transformers) are imported on first use, so ``import
astrofm`` stays quick.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from astrofm import errors
from astrofm.geometry import Geometry
from astrofm.image import AstroImage

try:
    __version__ = version("astrofm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

# name -> module that defines it; resolved on first access (PEP 562).
_LAZY = {
    "load": "astrofm.io",
    "cutout": "astrofm.io",
    "preprocess": None,
    "io": None,
    "data": None,
    "backbones": None,
    "features": None,
    "study": None,
    "discover": None,
    "adapt": "astrofm.features",
    "embed": "astrofm.features",
    "Classifier": "astrofm.classify",
    "Detector": "astrofm.detect",
    "pretrain": None,
}

__all__ = ["AstroImage", "Geometry", "errors", "__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'astrofm' has no attribute {name!r}")
    module = _LAZY[name]
    value = import_module(f"astrofm.{name}") if module is None else getattr(
        import_module(module), name
    )
    globals()[name] = value
    return value
