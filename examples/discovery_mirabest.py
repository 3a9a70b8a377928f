"""Similarity search and anomaly ranking on real radio galaxies (MiraBest, FR-DEEP).

Two measures of how useful the embedding space of a backbone is for discovery:

1. **Label agreement@10**: for every image, the share of its 10 nearest neighbours
   (cosine, :class:`astrofm.discover.SimilarityIndex`, the image itself left out) that
   have its FRI/FRII label, averaged over the images; chance is the sum of the squared
   class fractions.
2. **Anomaly recall@50**: 20 generated artefact cutouts (4 each of stripes, sidelobe
   rings around a bright source, pure noise, a saturated blob, and an optical DECaLS
   galaxy from zoobot_decals_rings in grey) are put among the 792 MiraBest images; each
   method of :func:`astrofm.discover.anomaly_scores` ranks the 812, and the recall is
   the share of the 20 in the top 50. A random ranking puts 50/812 of them there.

Both are measured for the embeddings of (a) a ResNet-18 with random weights and (b) a
ResNet-18 trained end to end on the MiraBest training split with
:class:`astrofm.Classifier` (``tuning="full"`` from random weights, as
examples/mirabest.py does, but shorter), whose backbone then embeds the images. The
trained backbone has seen the labels of 704 of the 792 MiraBest images, and FR-DEEP
images many of the same objects, so its agreement is also given for the 88 MiraBest
test images as queries. Run::

    python examples/discovery_mirabest.py [--data ../shared/data] [--epochs 15]

Measured with the defaults (64 px from the central 100 px, 15 epochs, seed 0) on the
2-core development machine shared with other jobs; training took 246 s (best validation
macro F1 0.857). Label agreement@10 (chance 0.506 on MiraBest, 0.507 on FR-DEEP):

- random-weight ResNet-18: MiraBest 0.640 (test-split queries 0.637), FR-DEEP 0.661;
- trained ResNet-18: MiraBest 0.836 (test-split queries 0.785), FR-DEEP 0.776.

Anomaly recall@50 of the 20 injected artefacts (random expectation 50/812 = 0.062):

- random-weight: isolation forest 0.80, LOF 0.00, knn 0.80;
- trained: isolation forest 0.65, LOF 0.70, knn 0.60.

Stripes, pure noise and saturated blobs are found by every method except LOF on the
random features; the sidelobe rings (a bright compact core, as many FIRST sources have)
by none; the optical galaxies 4/4 by isolation forest and knn on the random features,
but only 1-2 of 4 on the trained ones.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from astrofm.classify import Classifier
from astrofm.data import ArrayDataset
from astrofm.discover import SimilarityIndex, anomaly_scores
from astrofm.features import default_preprocessing, embed
from astrofm.preprocess import CropToBox, Pipeline

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KINDS = ("stripes", "sidelobe rings", "pure noise", "saturated blob", "optical galaxy")


def arguments():
    """Command-line options of the example."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    return parser.parse_args()


def preprocessing(size: int, side: int = 100, full: int = 150):
    """The central ``side`` pixels, then ResNet-18's default preprocessing (as mirabest.py)."""
    start = (full - side) // 2
    return Pipeline([CropToBox((start, start, start + side, start + side)),
                     default_preprocessing("resnet18", size=size)])


def load_npz(*paths) -> dict:
    """Images, labels and class names of npz splits, concatenated."""
    parts = [np.load(p) for p in paths]
    return {"images": np.concatenate([p["images"] for p in parts]),
            "labels": np.concatenate([p["labels"] for p in parts]),
            "label_names": parts[0]["label_names"]}


def artefacts(galaxies: Path, rng, n_each: int = 4, side: int = 150) -> np.ndarray:
    """``n_each`` 8-bit cutouts of each kind in :data:`KINDS`."""
    from PIL import Image

    yy, xx = np.mgrid[:side, :side] - side / 2
    radius = np.hypot(yy, xx)
    out = []
    jpgs = sorted((galaxies / "jpg_q92_all").glob("*.jpg"))
    for _ in range(n_each):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 20)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle))
                                     / period)
        core = np.exp(-radius**2 / (2 * rng.uniform(2, 4) ** 2))
        rings = core + 0.3 * np.exp(-radius / 40) * np.cos(2 * np.pi * radius /
                                                         rng.uniform(8, 14)) ** 2
        noise = rng.normal(0.5, 0.15, (side, side))
        blob = (np.hypot(yy - rng.uniform(-20, 20), xx - rng.uniform(-20, 20))
                < rng.uniform(15, 30)).astype(float)
        with Image.open(jpgs[int(rng.integers(len(jpgs)))]) as jpg:
            galaxy = np.asarray(jpg.convert("L").resize((side, side)), float) / 255
        out += [stripes, rings / rings.max(), noise, blob, galaxy]
    return (np.clip(np.stack(out), 0, 1) * 255).astype(np.uint8)


def embed_arrays(arrays: dict, backbone, pipe):
    """The embed table of images in memory (labels, and class names when given)."""
    names = "label_names" if "label_names" in arrays else None
    return embed(ArrayDataset(arrays, class_names=names), model=backbone, preprocessing=pipe,
                 progress=False)


def agreement(table, queries=None, k: int = 10) -> float:
    """Mean share of the ``k`` nearest neighbours with the query's label."""
    index = SimilarityIndex.build(table)
    positions = np.arange(len(index)) if queries is None else np.asarray(queries)
    found, _ = index.search(index.vectors(positions), k, exclude=positions)
    labels = np.asarray(index.meta["label"])
    return float((labels[found] == labels[positions][:, None]).mean())


def chance(labels) -> float:
    """Agreement of random neighbours: the sum of squared class fractions."""
    _, counts = np.unique(labels, return_counts=True)
    return float(((counts / counts.sum()) ** 2).sum())


def main():
    """Embed, then print label agreement and anomaly recall for both backbones."""
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    mb = args.data / "mirabest"
    mirabest = load_npz(mb / "mirabest_basic_train.npz", mb / "mirabest_basic_test.npz")
    frdeep = load_npz(args.data / "frdeep" / "frdeep_first_train.npz",
                      args.data / "frdeep" / "frdeep_first_test.npz")
    injected = artefacts(args.data / "zoobot_decals_rings", rng)
    mixed = {"images": np.concatenate([mirabest["images"], injected]),
             "labels": np.r_[np.zeros(len(mirabest["images"]), int), np.ones(len(injected),
                                                                              int)]}
    pipe = preprocessing(args.size)

    start = time.perf_counter()
    clf = Classifier("resnet18", tuning="full", weights=None, epochs=args.epochs,
                     seed=args.seed, progress=False, preprocessing=pipe)
    clf.fit(ArrayDataset(mb / "mirabest_basic_train.npz"))
    print(f"ResNet-18 trained on MiraBest's 704 training images: {args.epochs} epochs at "
          f"{args.size} px, {time.perf_counter() - start:.0f} s, best validation macro F1 "
          f"{clf.history['best_val_macro_f1']:.3f}")
    from astrofm import backbones

    models = {"random-weight ResNet-18": backbones.load("resnet18", weights=None,
                                                        seed=args.seed),
              "trained ResNet-18": clf.backbone.eval()}
    test_rows = np.arange(704, len(mirabest["images"]))
    expected = 50 / len(mixed["images"])
    for name, backbone in models.items():
        mb_table, fr_table = (embed_arrays(a, backbone, pipe) for a in (mirabest, frdeep))
        print(f"\n=== {name} ===")
        print(f"label agreement@10: MiraBest {agreement(mb_table):.3f} (test-split queries "
              f"{agreement(mb_table, test_rows):.3f}; chance {chance(mirabest['labels']):.3f}),"
              f" FR-DEEP {agreement(fr_table):.3f} (chance {chance(frdeep['labels']):.3f})")
        mixed_table = embed_arrays(mixed, backbone, pipe)
        planted = np.flatnonzero(mixed["labels"] == 1)
        for method in ("isolation-forest", "lof", "knn"):
            ranked = anomaly_scores(mixed_table, method, neighbours=20)
            top = np.asarray(ranked["row"][:50])
            hits = np.isin(planted, top)
            per_kind = ", ".join(f"{kind} {int(hits[i::5].sum())}/4"
                                 for i, kind in enumerate(KINDS))
            print(f"anomaly recall@50, {method:16}: {hits.mean():.2f} ({per_kind}); random "
                  f"expectation {expected:.3f}")


if __name__ == "__main__":
    main()
