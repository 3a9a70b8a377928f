"""Benchmark: memory of assembling ``astrofm.embed``'s table from its shard cache.

At survey size the finished table is most of what an embed job holds in memory: N rows
of D float32 features. This measures, each in a fresh subprocess so the peak RSS is its
own, the memory that gathering a shard cache into the returned table and its HDF5 file
costs, against the size of the feature array itself:

- ``astrofm``: :meth:`ShardStore.read <astrofm.features.store.ShardStore.read>` and the
  table :func:`astrofm.embed` returns, written with
  :func:`~astrofm.features.embed.write_table`;
- ``concatenate``: the plain NumPy gathering, for comparison: every shard loaded,
  concatenated, then put in index order.

The shards are synthetic (random features, 256 rows each, as ``embed`` writes them at
``batch_size=256``), so no model runs::

    python benchmarks/embed_table_memory.py [--n 2000 20000 100000] [--dim 512]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BATCH = 256


def write_shards(folder: Path, n: int, dim: int) -> None:
    """``n`` rows of random features as shards of ``BATCH`` rows, in a shuffled order."""
    from astrofm.features import ShardStore

    store = ShardStore(folder, {"benchmark": n})
    rng = np.random.default_rng(0)
    for start in rng.permutation(np.arange(0, n, BATCH)):
        index = np.arange(start, min(start + BATCH, n))
        store.write(index, features=rng.standard_normal((len(index), dim), np.float32),
                    ra=rng.uniform(0, 360, len(index)), dec=rng.uniform(-90, 90, len(index)),
                    error=np.full(len(index), ""))


def child(folder: str, how: str, n: int) -> None:
    """Gather the cache one way; print the peak RSS before and after, in MB."""
    from astrofm.data import ListDataset
    from astrofm.features import ShardStore
    from astrofm.features.embed import _table, write_table

    store = ShardStore(folder, {"benchmark": n})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if how == "astrofm":
        dataset = ListDataset([f"cutout_{i:06d}.fits" for i in range(n)])
        fingerprint = {"model": "bench", "weights": "random", "digest": "", "pooling": "cls",
                       "preprocessing": []}
        table = _table(dataset, store.read(), fingerprint)
        write_table(table, Path(folder) / "table.h5")
    else:
        parts = [dict(np.load(p)) for p in store.shards()]
        index = np.concatenate([p["index"] for p in parts])
        features = np.concatenate([p["features"] for p in parts])[np.argsort(index)]
        assert features.shape == (n, parts[0]["features"].shape[1])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before": before, "after": after}))


def measure(folder: Path, how: str, n: int) -> float:
    """Peak RSS that gathering added, MB."""
    done = subprocess.run([sys.executable, __file__, "--child", str(folder), how, str(n)],
                          capture_output=True, text=True, check=True)
    m = json.loads(done.stdout.strip().splitlines()[-1])
    return m["after"] - m["before"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--dim", type=int, default=512, help="feature dimension (ResNet-18)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))
    print(f"{'N':>7} {'features MB':>12} {'astrofm MB':>11} {'ratio':>6} "
          f"{'concatenate MB':>15} {'ratio':>6}")
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            write_shards(Path(tmp), n, args.dim)
            size = n * args.dim * 4 / 2**20
            ours, plain = measure(Path(tmp), "astrofm", n), measure(Path(tmp), "concatenate", n)
            print(f"{n:>7} {size:>12.1f} {ours:>11.1f} {ours / size:>6.2f} {plain:>15.1f} "
                  f"{plain / size:>6.2f}", flush=True)
    return None


if __name__ == "__main__":
    main()
