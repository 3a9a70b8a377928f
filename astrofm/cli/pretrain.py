"""``astrofm pretrain``: self-supervised pretraining of a backbone on unlabelled images.

Continues the training of a registered backbone with DINO or MAE
(:func:`astrofm.pretrain.pretrain`) and writes its weights as a ``.safetensors`` file that
``--weights`` of every other subcommand reads.
"""

from __future__ import annotations

from astrofm.cli.common import OUTPUT, WEIGHTS_HELP, add_placement, hdu, placement

__all__ = ["add_parsers"]


def _pretrain(args) -> int:
    from astrofm.runtime import check_writable

    check_writable(args.output, OUTPUT)
    from astrofm.pretrain import pretrain

    inputs = args.inputs[0] if len(args.inputs) == 1 and args.inputs[0].lower().endswith(
        (".csv", ".ecsv")) else args.inputs
    pretrain(inputs, args.model, args.method, output=args.output, tuning=args.tuning,
             epochs=args.epochs, weights=args.weights, size=args.size,
             batch_size=args.batch_size, lr=args.lr, checkpoint_dir=args.checkpoint_dir,
             resume=args.resume, num_workers=args.workers, precision=args.precision,
             progress=not args.quiet, seed=args.seed, hdu=args.hdu, **placement(args))
    print(f"{args.method} pretraining of {args.model} -> {args.output}")
    return 0


def add_parsers(sub) -> None:
    """Add the ``pretrain`` sub-parser.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``astrofm`` parser.
    """
    from astrofm.pretrain.config import METHODS, TUNINGS

    pre = sub.add_parser("pretrain", help="self-supervised pretraining on unlabelled images",
                         description="Continue the self-supervised training of a backbone "
                         "(DINO on any ViT or CNN, MAE on a timm ViT) on unlabelled images; "
                         "the weights file loads with --weights everywhere.")
    pre.add_argument("inputs", nargs="+",
                     help="image files, or one .csv/.ecsv catalogue with a path column")
    pre.add_argument("-m", "--model", required=True, help="backbone name (astrofm info)")
    pre.add_argument("--method", default="dino", choices=list(METHODS))
    pre.add_argument("-o", "--output", required=True,
                     help="weights file to write (.safetensors)")
    pre.add_argument("--tuning", default="full", choices=list(TUNINGS),
                     help="train every parameter, or LoRA adapters merged before saving")
    pre.add_argument("--epochs", type=int, default=100)
    pre.add_argument("--weights", default="pretrained", help=f"starting weights: {WEIGHTS_HELP}")
    pre.add_argument("--size", type=int, help="side of the views (default: the model's)")
    pre.add_argument("--batch-size", type=int, default=64)
    pre.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate")
    pre.add_argument("--checkpoint-dir", help="folder for last.ckpt, written every epoch")
    pre.add_argument("--resume", action="store_true",
                     help="continue from --checkpoint-dir/last.ckpt when it exists")
    pre.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    pre.add_argument("--precision", help="e.g. 32-true, bf16-mixed (default: Lightning's)")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--hdu", type=hdu, help="FITS HDU index or name")
    add_placement(pre)
    pre.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(func=_pretrain)
