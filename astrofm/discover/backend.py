"""The faiss indexes behind :class:`~astrofm.discover.SimilarityIndex`, and how one is chosen."""

from __future__ import annotations

import math

from astrofm.errors import ConfigError

__all__ = ["KINDS", "faiss_module", "default_nlist", "choose_kind", "train_size", "new_index"]

#: Index kinds: exact, inverted file of float16 vectors, HNSW graph over the full vectors.
KINDS = ("auto", "flat", "ivf", "hnsw")


def faiss_module():
    """The faiss module, or a ConfigError saying how to install it."""
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - a dependency of astrofm
        raise ConfigError("similarity search needs faiss: pip install faiss-cpu.") from err
    return faiss


def default_nlist(size: int) -> int:
    """Inverted lists for ``size`` vectors: the power of two nearest sqrt(size), at least 1."""
    return max(1, 2 ** round(math.log2(max(1.0, math.sqrt(size)))))


def choose_kind(kind: str, size: int, dim: int, memory_budget: float) -> str:
    """The index kind ``kind="auto"`` resolves to for ``size`` vectors of ``dim`` floats."""
    if kind not in KINDS:
        raise ConfigError(f"kind={kind!r}: choose one of {list(KINDS)}.")
    if kind != "auto":
        return kind
    return "flat" if size * dim * 4 <= memory_budget else "ivf"


def train_size(size: int, nlist: int | None) -> int:
    """Vectors an IVF index of ``size`` vectors and ``nlist`` lists is trained on."""
    # faiss's k-means warns below 39 points per centroid; more only costs time.
    return min(size, 40 * (nlist or default_nlist(size)))


def new_index(faiss, kind: str, dim: int, metric: str, nlist: int):
    """An empty faiss index of ``kind`` for ``dim``-dimensional vectors."""
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    if kind == "flat":
        return faiss.IndexFlat(dim, faiss_metric)
    if kind == "hnsw":
        return faiss.IndexHNSWFlat(dim, 32, faiss_metric)
    index = faiss.index_factory(dim, f"IVF{nlist},SQfp16", faiss_metric)
    # Ten k-means rounds instead of faiss's 25 keep training a million-vector index within
    # minutes on two cores; nprobe buys back recall (measured in benchmarks/discover.py).
    faiss.extract_index_ivf(index).cp.niter = 10
    return index
