"""``astrofm info``: the version, the optional parts installed and the known backbones.

A quick check of an installation: which optional dependencies are present and what each
one enables, the GPU torch sees, and every registered backbone with its family, patch
size, input size and feature dimension.
"""

from __future__ import annotations

import importlib.util
import sys

from astrofm import __version__

__all__ = ["add_parsers"]

# Optional parts whose presence changes what astrofm can do.
_PARTS = {
    "torch": "backbones, training",
    "timm": "timm backbones (DINOv2, DINOv1, MAE, SigLIP, RADIO, DINOv3)",
    "transformers": "transformers backbones (MSN)",
    "torchvision": "ResNets, Faster R-CNN",
    "peft": "LoRA tuning",
    "lightning": "training and batch prediction",
    "torchmetrics": "metrics",
    "pycocotools": "COCO detection data and mAP",
    "photutils": "background, segmentation, CropToSource",
    "reproject": "stacking bands on different grids",
    "regions": "DS9 region catalogues",
    "h5py": "HDF5 feature tables",
    "astrofm_zoobot": "Zoobot galaxy encoders (plugin)",
}


def _info(args) -> int:
    print(f"astrofm {__version__}")
    print(f"python {sys.version.split()[0]}")
    print("\noptional parts:")
    for module, purpose in _PARTS.items():
        found = importlib.util.find_spec(module) is not None
        print(f"  {'yes' if found else 'no ':3}  {module:15} {purpose}")
    if importlib.util.find_spec("torch") is not None:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        print(f"\ntorch {torch.__version__}, GPU: {gpu}")
    from astrofm import backbones

    names = backbones.list()
    print(f"\nbackbones ({len(names)}):")
    for name in names:
        spec = backbones.get(name)
        patch = f"patch {spec.patch_size}" if spec.patch_size else "CNN"
        native = f" (native {spec.native_size})" if spec.native_size != spec.input_size else ""
        print(f"  {name:28} {spec.family:10} {patch:9} {spec.input_size:4d}px{native:13} "
              f"dim {spec.feature_dim}")
    return 0


def add_parsers(sub) -> None:
    """Add the ``info`` sub-parser.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    info = sub.add_parser("info", help="version, known backbones and optional parts")
    info.set_defaults(func=_info)
