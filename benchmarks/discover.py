"""Benchmark: SimilarityIndex on 1,000,000 x 768 float32 vectors, and scikit-learn on 100,000.

The vectors are planted clusters (1000 centres, cosine ~0.74 between members) plus a
fraction of pure random vectors, generated chunk by chunk from per-chunk seeds, so the
full set is never in memory: the index is filled chunk by chunk
(:meth:`SimilarityIndex.from_chunks`) and the exact neighbours that recall is measured
against are computed by streaming the same chunks again through faiss's exact search.

It reports the build time and peak RSS; the smallest ``nprobe`` whose recall@10 on a
tuning set of queries reaches the target plus a margin; then, on separate queries,
p50/p99 latency of single queries, the time of a batch of 1000 and recall@10 (overall,
for queries from a cluster and for random queries). In the same run, scikit-learn's brute-force
``NearestNeighbors`` (cosine) is timed against an exact SimilarityIndex on the first
100,000 vectors. Queries are new draws from the same generator, not database rows.

Run: ``python benchmarks/discover.py [--n 1000000] [--dim 768] [--queries 1000]``

Measured once with the defaults on the 2-core development machine while other jobs ran
(load average 4.1 before, 6.5 after), faiss 1.15.1 with 2 threads: ``kind="auto"`` chose
IVF-SQfp16 with 1024 lists; built in 101 s, peak RSS 3.0 GiB; nprobe 8 already gave
recall@10 0.991 on the tuning queries; on 1000 other queries recall@10 0.985 (0.999 for
the 948 from clusters, 0.72 for the 52 random vectors, whose neighbours are nearly
equidistant), single queries p50 1.5 ms and p99 27 ms, a batch of 1000 in 2.7 s. On the
100,000-vector subset: scikit-learn's brute force fitted in 0.33 s and answered 1000
queries in 21.3 s (single p50 715 ms); the exact SimilarityIndex built in 0.9 s and
answered them in 7.1 s (single p50 121 ms), with identical top-10s.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
from astropy.table import Table

from astrofm.discover import SimilarityIndex


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class Generator:
    """Planted clusters plus random vectors, reproducible chunk by chunk."""

    def __init__(self, dim: int, clusters: int = 1000, sigma: float = 0.6,
                 background: float = 0.05, seed: int = 0):
        self.dim, self.sigma, self.background, self.seed = dim, sigma, background, seed
        self.centres = np.random.default_rng(seed).standard_normal((clusters, dim),
                                                                    dtype=np.float32)

    def chunk(self, i: int, rows: int):
        """Vectors of chunk ``i`` and a mask of those drawn at random (not from a cluster)."""
        rng = np.random.default_rng([self.seed, i])
        members = rng.integers(len(self.centres), size=rows)
        x = self.centres[members] + self.sigma * rng.standard_normal((rows, self.dim),
                                                                     dtype=np.float32)
        random = rng.random(rows) < self.background
        x[random] = rng.standard_normal((int(random.sum()), self.dim), dtype=np.float32)
        return x, random


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall(found, truth) -> np.ndarray:
    hits = [len(set(a) & set(b)) for a, b in zip(found, truth, strict=True)]
    return np.asarray(hits) / truth.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--tune-queries", type=int, default=300)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--subset", type=int, default=100_000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--margin", type=float, default=0.01,
                        help="tuning aims this far above --target, for the evaluation spread")
    parser.add_argument("--kind", default="auto", help="auto, flat, ivf or hnsw")
    args = parser.parse_args()
    import faiss
    from faiss.contrib.exhaustive_search import knn_ground_truth
    from sklearn.neighbors import NearestNeighbors

    print(f"machine: {os.cpu_count()} cores, faiss {faiss.__version__} with "
          f"{faiss.omp_get_max_threads()} threads; load before: {os.getloadavg()}")
    gen = Generator(args.dim)
    n_chunks = -(-args.n // args.chunk)
    sizes = [min(args.chunk, args.n - i * args.chunk) for i in range(n_chunks)]
    subset = []

    def chunks():
        start = 0
        for i, rows in enumerate(sizes):
            x, _ = gen.chunk(i, rows)
            if start < args.subset:
                subset.append(x[:args.subset - start].copy())
            meta = Table({"source": np.char.add("vec", np.arange(start, start + rows).astype(str)),
                          "ra": np.full(rows, np.nan), "dec": np.full(rows, np.nan)})
            start += rows
            yield x, meta

    rss0 = peak_rss_gib()
    t0 = time.perf_counter()
    index = SimilarityIndex.from_chunks(chunks(), size=args.n, kind=args.kind)
    build = time.perf_counter() - t0
    print(f"\n{index!r}: built in {build:.1f} s; peak RSS {peak_rss_gib():.2f} GiB "
          f"(before {rss0:.2f} GiB); load after build {os.getloadavg()}")

    q_tune, _ = gen.chunk(10**6, args.tune_queries)
    q_eval, q_random = gen.chunk(10**6 + 1, args.queries)
    queries = unit(np.concatenate([q_tune, q_eval]))
    t0 = time.perf_counter()
    _, truth = knn_ground_truth(queries, (unit(gen.chunk(i, rows)[0]) for i, rows in
                                          enumerate(sizes)), 10,
                                metric_type=faiss.METRIC_INNER_PRODUCT)
    print(f"exact neighbours of {len(queries)} queries (streamed): "
          f"{time.perf_counter() - t0:.1f} s")
    truth_tune, truth_eval = truth[:args.tune_queries], truth[args.tune_queries:]

    chosen = None
    if index.kind == "ivf":
        nlist = faiss.extract_index_ivf(index.index).nlist
        for nprobe in (8, 16, 32, 64, 128, 256, nlist):
            index.set_search(nprobe=nprobe)
            found, _ = index.search(q_tune, 10)
            r = recall(found, truth_tune).mean()
            print(f"  tuning: nprobe {nprobe:4d} of {nlist}: recall@10 {r:.3f}")
            if r >= args.target + args.margin:
                chosen = nprobe
                break
        index.set_search(nprobe=chosen)

    singles = []
    for q in q_eval[:args.singles]:
        t0 = time.perf_counter()
        index.search(q[None], 10)
        singles.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    found, _ = index.search(q_eval, 10)
    batch = time.perf_counter() - t0
    r = recall(found, truth_eval)
    print(f"\n{args.n}-vector index ({index.kind}, nprobe {chosen}): single query p50 "
          f"{1e3 * np.median(singles):.1f} ms, p99 {1e3 * np.percentile(singles, 99):.1f} ms "
          f"({len(singles)} queries); batch of {len(q_eval)}: {batch:.2f} s")
    print(f"recall@10 vs exact: {r.mean():.4f} overall; {r[~q_random].mean():.4f} for "
          f"{(~q_random).sum()} cluster queries, {r[q_random].mean():.4f} for "
          f"{q_random.sum()} random-vector queries")
    del index

    sub = np.concatenate(subset)
    print(f"\n{len(sub)}-vector subset, exact search both:")
    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute", metric="cosine").fit(sub)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, sk_found = nn.kneighbors(q_eval)
    sk_batch = time.perf_counter() - t0
    sk_single = []
    for q in q_eval[:50]:
        t0 = time.perf_counter()
        nn.kneighbors(q[None])
        sk_single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    flat = SimilarityIndex.from_chunks([(sub, Table({"source": np.arange(len(sub)).astype(str)}))],
                                       size=len(sub), kind="flat")
    fl_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    fl_found, _ = flat.search(q_eval, 10)
    fl_batch = time.perf_counter() - t0
    fl_single = []
    for q in q_eval[:50]:
        t0 = time.perf_counter()
        flat.search(q[None], 10)
        fl_single.append(time.perf_counter() - t0)
    print(f"  sklearn NearestNeighbors(brute, cosine): fit {fit:.2f} s, batch of "
          f"{len(q_eval)} {sk_batch:.2f} s, single p50 {1e3 * np.median(sk_single):.1f} ms")
    print(f"  SimilarityIndex flat:                   build {fl_build:.2f} s, batch of "
          f"{len(q_eval)} {fl_batch:.2f} s, single p50 {1e3 * np.median(fl_single):.1f} ms")
    print(f"  agreement of their top-10: {recall(fl_found, sk_found).mean():.4f}")
    print(f"\npeak RSS of the whole run {peak_rss_gib():.2f} GiB; load at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
