"""What a study costs beyond its features: frozen-head cells against the embedding.

Writes simulated radio galaxies (4 classes, ``--n`` per class for training and a quarter
of that for testing), then runs a study of one frozen backbone with the given heads
over label fractions 0.1, 0.3, 0.5 and 1.0 and 3 seeds, into a fresh folder per
repeat. It times, in the same process:

* the embedding: the feature tables of the training and test splits (once per run);
* every frozen-head cell: subset, head fit, scoring and the atomic results append.

and prints the medians over repeats and the ratio of all head cells to the embedding
(the goal: under 5 %). Random weights (nothing is downloaded); the ratio, not the
scores, is the point.

    python benchmarks/study.py --model resnet50 --size 224 --n 50 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--n", type=int, default=50, help="training images per class")
    parser.add_argument("--heads", nargs="+", default=["linear"])
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def one_run(data: Path, out: Path, args) -> tuple[float, list[float]]:
    import astrofm.study.execute as execute
    from astrofm.study import Study, run_study

    timings = {"embed": 0.0, "cells": []}
    group, cell = execute._FrozenGroup.__init__, execute._classify_cell

    def timed_group(self, *a, **k):
        start = time.perf_counter()
        group(self, *a, **k)
        timings["embed"] += time.perf_counter() - start

    def timed_cell(*a, **k):
        start = time.perf_counter()
        row = cell(*a, **k)
        timings["cells"].append(time.perf_counter() - start)
        return row

    from astrofm.classify.features import clear_memory

    clear_memory()      # each repeat embeds afresh: no tables kept from the last one
    execute._FrozenGroup.__init__, execute._classify_cell = timed_group, timed_cell
    try:
        study = Study(name="overhead", data={"train": data / "train", "test": data / "test"},
                      classify={"backbones": [{"name": args.model, "weights": "random"}],
                                "heads": args.heads, "fractions": [0.1, 0.3, 0.5, 1.0],
                                "seeds": [0, 1, 2], "size": args.size},
                      run={"progress": False})
        run_study(study, out, report=False)
    finally:
        execute._FrozenGroup.__init__, execute._classify_cell = group, cell
    return timings["embed"], timings["cells"]


def main():
    args = arguments()
    from astrofm.detect import write_radio_galaxies

    root = Path(tempfile.mkdtemp(prefix="astrofm-study-bench-"))
    write_radio_galaxies(root / "train", args.n, seed=1)
    write_radio_galaxies(root / "test", max(2, args.n // 4), seed=2)
    embeds, cells_total, per_cell = [], [], []
    for repeat in range(args.repeats):
        embed, cells = one_run(root, root / f"run{repeat}", args)
        embeds.append(embed)
        cells_total.append(sum(cells))
        per_cell.extend(cells)
        print(f"run {repeat}: embedding {embed:.1f} s, {len(cells)} head cells "
              f"{sum(cells):.2f} s ({100 * sum(cells) / embed:.1f} % of the embedding)")
    embed, cells = statistics.median(embeds), statistics.median(cells_total)
    print(f"\n{args.model} at {args.size} px, heads {args.heads}, {4 * args.n} training "
          f"images: median embedding {embed:.1f} s; median head cells {cells:.2f} s in all, "
          f"{statistics.median(per_cell) * 1000:.0f} ms per cell; ratio {cells / embed:.3f}")


if __name__ == "__main__":
    main()
