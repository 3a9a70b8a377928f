"""The ``astrofm`` console script.

Each subcommand mirrors a library call; ``astrofm --help`` lists them.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from astrofm import __version__
from astrofm.errors import AstrofmError

__all__ = ["main"]

# Optional parts whose presence changes what astrofm can do; reported by `astrofm info`.
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
        print(f"  {name:28} {spec.family:10} {patch:9} {spec.native_size:4d}px  "
              f"dim {spec.feature_dim}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astrofm`` command, with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="astrofm",
        description="Adapt astronomical images to vision foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"astrofm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="version, known backbones and optional parts")
    info.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AstrofmError as err:
        print(f"astrofm: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
