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


def _embed(args) -> int:
    from astrofm.features import embed

    inputs = args.inputs[0] if len(args.inputs) == 1 and args.inputs[0].lower().endswith(
        (".csv", ".ecsv")) else args.inputs
    table = embed(inputs, model=args.model, pooling=args.pooling, weights=args.weights,
                  size=args.size, batch_size=args.batch_size, num_workers=args.workers,
                  device=args.device, precision=args.precision, output=args.output,
                  cache=args.cache, progress=not args.quiet, hdu=args.hdu)
    failed = int((table["error"] != "").sum())
    print(f"{len(table)} images, {table['feature'].shape[1]} features each -> {args.output}"
          + (f" ({failed} could not be read; see the error column)" if failed else ""))
    return 0


def _hdu(value: str):
    return int(value) if value.lstrip("-").isdigit() else value


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

    emb = sub.add_parser("embed", help="feature vectors of many images, as a table",
                         description="Embed images with a backbone into a FITS or HDF5 "
                         "table; an interrupted run resumes where it stopped.")
    emb.add_argument("inputs", nargs="+",
                     help="image files, or one .csv/.ecsv catalogue with a path column")
    emb.add_argument("-o", "--output", required=True, help="table to write (.fits or .h5)")
    emb.add_argument("-m", "--model", default="dinov2", help="backbone name (astrofm info)")
    emb.add_argument("--pooling", help="cls, mean, cls+mean or pooler (default: the model's)")
    emb.add_argument("--weights", help="'pretrained' or a local weights file or folder")
    emb.add_argument("--size", type=int, help="input side in pixels (default: the model's)")
    emb.add_argument("--batch-size", type=int, default=32)
    emb.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    emb.add_argument("--device", default="auto", help="auto, cpu or gpu")
    emb.add_argument("--precision", default="32-true", help="e.g. 32-true, bf16-mixed")
    emb.add_argument("--cache", help="folder of partial results (default: <output>.parts)")
    emb.add_argument("--hdu", type=_hdu, help="FITS HDU index or name")
    emb.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    emb.set_defaults(func=_embed)
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
