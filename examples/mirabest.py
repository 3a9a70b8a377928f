"""FRI/FRII classification of the MiraBest radio galaxies with astrofm.

Uses the published train/test split of MiraBest "basic" (704 training and 88 test
images of 150 x 150 pixels, 8-bit, from FIRST at 1.4 GHz; Porter & Scaife) and trains:

1. a ResNet-18 from random weights, end to end (``tuning="full"``). From random
   weights there are no features to protect, so the head-only warm-up of fine-tuning
   (``warmup_epochs``) is 0 by default; flips, 90-degree rotations and small shifts
   augment the training images;
2. a linear probe (``head="linear"``, ``tuning="frozen"``) on a frozen backbone. No
   pretrained weights can be downloaded here, so the backbone has random weights and the
   probe is weak; with ``--weights pretrained`` (or a weights file) it is the paper's
   linear probe.

Both take their validation split from the training images only; the test split is
marked as such and used once, for the final scores. Run::

    python examples/mirabest.py [--data ../shared/data/mirabest] [--epochs 40]

and it prints the macro F1 on the test split and the wall time of each model.

Measured on a 2-core CPU shared with other jobs (``--threads 1``, defaults otherwise:
64 px inputs from the central 100 px, 40 epochs, AdamW lr 2e-3 with a cosine schedule,
batches of 32): the ResNet-18 reached a test macro F1 of 0.848 in 431 s (seeds 1 and 2:
0.855 and 0.896); the linear probe on the random-weight ResNet-18, 0.722 in 4 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from astrofm.classify import Classifier, mark_test
from astrofm.data import ArrayDataset
from astrofm.features import default_preprocessing
from astrofm.preprocess import CropToBox, Pipeline

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mirabest"


def arguments():
    """Command-line options of the example."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder with mirabest_basic_{train,test}.npz")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--crop", type=int, default=100,
                        help="central crop (pixels of the 150 px images) before resizing")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-model", default="resnet18",
                        help="backbone of the linear probe")
    parser.add_argument("--weights", default="random",
                        help="weights of the probe's backbone: 'random' (default: nothing can "
                        "be downloaded here), 'pretrained' or a file")
    parser.add_argument("--save", type=Path, help="write the fine-tuned model here (.astrofm)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default torch's); 1 is fastest on a "
                        "machine whose cores other jobs share")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    return parser.parse_args()


def preprocessing(model: str, side: int, size: int, full: int = 150):
    """Crop the centre ``side`` pixels, then the backbone's default preprocessing.

    MiraBest sources sit at the centre of their cutouts; cropping the empty border
    before resizing keeps more of their structure at a small input size.
    """
    start = (full - side) // 2
    box = CropToBox((start, start, start + side, start + side))
    return Pipeline([box, default_preprocessing(model, size=size)])


def report(name: str, clf: Classifier, test, seconds: float) -> float:
    """Score ``clf`` on the test split and print the result."""
    result = clf.evaluate(test)
    print(f"\n=== {name} ===\n{result}\nwall time {seconds:.0f} s "
          f"({clf.tuning_report})")
    return result.macro_f1


def main():
    """Train both models and print their macro F1 on the test split."""
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    train = ArrayDataset(args.data / "mirabest_basic_train.npz")
    test = mark_test(ArrayDataset(args.data / "mirabest_basic_test.npz"))
    print(f"MiraBest: {len(train)} training and {len(test)} test images, classes "
          f"{train.classes}")
    scores = {}
    start = time.perf_counter()
    cnn = Classifier("resnet18", tuning="full", weights=None, epochs=args.epochs, lr=args.lr,
                     batch_size=args.batch_size, seed=args.seed, progress=args.progress,
                     preprocessing=preprocessing("resnet18", args.crop, args.size))
    cnn.fit(train)
    history = cnn.history
    print(f"best epoch {history['best_epoch'] + 1} of {history['epochs']} on validation "
          f"(macro F1 {history['best_val_macro_f1']:.3f}); per epoch: "
          + " ".join(f"{v:.2f}" for v in history["val_macro_f1"]))
    scores["resnet18-full"] = report("ResNet-18, random init, full training", cnn, test,
                                     time.perf_counter() - start)
    if args.save:
        cnn.save(args.save)

    start = time.perf_counter()
    probe = Classifier(args.probe_model, head="linear", tuning="frozen", weights=args.weights,
                       seed=args.seed, progress=args.progress,
                       preprocessing=preprocessing(args.probe_model, args.crop, args.size))
    probe.fit(train)
    init = "random init" if args.weights == "random" else f"weights {args.weights}"
    scores["probe"] = report(f"linear probe on a frozen {args.probe_model} ({init})", probe,
                             test, time.perf_counter() - start)
    print("\nmacro F1 on the test split: " + ", ".join(f"{k} {v:.3f}"
                                                       for k, v in scores.items()))


if __name__ == "__main__":
    main()
