"""``SimilarityIndex``: nearest neighbours in an embed table, on faiss.

The index holds the feature vectors (unit length for the cosine metric, so that an
inner product is a cosine similarity) and, row for row, the table's metadata: source,
RA/Dec, label. It is exact (a flat index) while the vectors fit the memory budget and
approximate beyond it: an inverted file whose vectors are stored as 16-bit floats
(IVF-SQfp16: half the memory of flat storage, and unlike 8-bit codes it loses no
recall to quantisation) or, on request, an HNSW graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.discover.backend import (
    KINDS,
    choose_kind,
    default_nlist,
    faiss_module,
    new_index,
    train_size,
)
from astrofm.discover.metadata import PROVENANCE, meta_table, neighbour_table, stack
from astrofm.discover.tables import fingerprint, normalise, read_table, usable_rows
from astrofm.errors import ConfigError, DatasetError, InputFileError
from astrofm.runtime import positive_int

__all__ = ["SimilarityIndex", "KINDS", "DEFAULT_MEMORY_BUDGET", "default_index_path"]

#: Bytes of float32 vectors up to which ``kind="auto"`` keeps the exact flat index.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3


def default_index_path(table_path) -> Path:
    """Where an index is saved next to its table: ``<table>.index.fits``."""
    return Path(f"{table_path}.index.fits")


class SimilarityIndex:
    """Nearest-neighbour search over the feature vectors of an embed table.

    Build one with :meth:`build` (or :meth:`from_chunks` for tables too big for memory)
    and query it with :meth:`query`; :meth:`save` and :meth:`load` keep the vectors
    and the table's metadata together in one FITS file.

    Parameters
    ----------
    index : faiss.Index
        The trained and filled faiss index; vector ``i`` is row ``i`` of ``meta``.
    meta : astropy.table.Table
        Per vector: ``row`` (its row in the embed table), ``source``, ``ra``, ``dec``
        and ``label``/``class_name`` when known; ``meta.meta`` holds the embed
        provenance (MODEL, WEIGHTS, WDIGEST, POOLING, PREPROC) and the index settings.
    """

    def __init__(self, index, meta: Table):
        if index.ntotal != len(meta):
            raise DatasetError(f"the index holds {index.ntotal} vectors but its metadata "
                               f"{len(meta)} rows; rebuild it from the table.")
        self.index = index
        self.meta = meta

    # -- construction -----------------------------------------------------------------

    @classmethod
    def build(cls, table, *, kind: str = "auto", metric: str = "cosine",
              memory_budget: float = DEFAULT_MEMORY_BUDGET, nlist: int | None = None,
              nprobe: int | None = None, ef_search: int | None = None,
              seed: int = 0) -> SimilarityIndex:
        """An index of every usable row of an embed table.

        Rows with NaN features (images that could not be read) are left out, with a
        warning; :attr:`skipped` counts them.

        Parameters
        ----------
        table : Table, str or path
            A table from :func:`astrofm.embed` or its FITS/HDF5 file.
        kind : {"auto", "flat", "ivf", "hnsw"}
            ``"auto"``: exact while the float32 vectors fit ``memory_budget``,
            IVF-SQfp16 beyond it.
        metric : {"cosine", "l2"}
            Cosine similarity of the vectors scaled to unit length, or Euclidean distance.
        memory_budget : float
            Bytes of vectors ``kind="auto"`` keeps exact.
        nlist, nprobe : int, optional
            Inverted lists of an IVF index and lists searched per query (default
            :func:`default_nlist` and ``max(8, nlist // 16)``).
        ef_search : int, optional
            Candidate list length of an HNSW search (default 128).
        seed : int
            Seed of the sample an IVF index is trained on.
        """
        table = read_table(table)
        rows = usable_rows(table)
        meta = meta_table(table, rows)
        features = np.asarray(table["feature"], dtype=np.float32)[rows]
        rng = np.random.default_rng(seed)
        sample = features[rng.permutation(len(rows))[:train_size(len(rows), nlist)]]
        index = cls.from_chunks([(features, meta)], size=len(rows), kind=kind, metric=metric,
                                memory_budget=memory_budget, nlist=nlist, nprobe=nprobe,
                                ef_search=ef_search, train=sample)
        index.meta.meta["SKIPPED"] = len(table) - len(rows)
        return index

    @classmethod
    def from_chunks(cls, chunks, *, size: int, kind: str = "auto", metric: str = "cosine",
                    memory_budget: float = DEFAULT_MEMORY_BUDGET, nlist: int | None = None,
                    nprobe: int | None = None, ef_search: int | None = None,
                    train=None) -> SimilarityIndex:
        """An index filled chunk by chunk, so that the raw vectors never sit in memory at once.

        Parameters
        ----------
        chunks : iterable of (array, Table)
            Feature vectors (n, D) and their metadata rows (``source``, ``ra``, ``dec``
            ...); the first chunk's ``meta`` gives the provenance.
        size : int
            Total number of vectors, which decides ``kind="auto"`` and ``nlist``.
        train : array, optional
            Vectors an IVF index is trained on; by default the first
            ``40 * nlist`` vectors of the chunks (so chunks should be in random order).
        kind, metric, memory_budget, nlist, nprobe, ef_search
            As for :meth:`build`.
        """
        faiss = faiss_module()
        size = positive_int(size, "size")
        index = parts = None
        buffered, metas = [], []
        for features, meta in chunks:
            features = normalise(features, metric)
            if index is None:
                dim = features.shape[1]
                kind = choose_kind(kind, size, dim, memory_budget)
                nlist = positive_int(nlist, "nlist") if nlist else default_nlist(size)
                if kind == "ivf" and nlist > size:
                    raise ConfigError(f"nlist={nlist}: an IVF index of {size} vectors can "
                                      f"have at most {size} lists; give a smaller nlist.")
                index = new_index(faiss, kind, dim, metric, nlist)
                parts = meta.meta
            metas.append(meta)
            if index.is_trained:
                index.add(features)
                continue
            buffered.append(features)
            have = sum(len(b) for b in buffered)
            if train is None and have < min(size, train_size(size, nlist)):
                continue
            index.train(normalise(train, metric) if train is not None
                        else np.concatenate(buffered)[:train_size(size, nlist)])
            for block in buffered:
                index.add(block)
            buffered = []
        if index is None:
            raise DatasetError("no feature vectors were given to index.")
        if buffered:  # fewer vectors than the training sample asked for
            everything = np.concatenate(buffered)
            index.train(everything)
            index.add(everything)
        meta = stack(metas)
        meta.meta.update({k: parts.get(k, "") for k in (*PROVENANCE, "TABLE")})
        meta.meta.update({"METRIC": metric, "KIND": kind, "SKIPPED": 0})
        out = cls(index, meta)
        out.set_search(nprobe=nprobe, ef_search=ef_search)
        return out

    def set_search(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Trade speed for recall: IVF lists searched, or HNSW candidate list length."""
        faiss = faiss_module()
        if self.kind == "ivf":
            ivf = faiss.extract_index_ivf(self.index)
            ivf.nprobe = min(ivf.nlist, positive_int(nprobe, "nprobe") if nprobe
                             else max(8, ivf.nlist // 16))
            self.meta.meta["NPROBE"] = ivf.nprobe
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = (positive_int(ef_search, "ef_search") if ef_search
                                        else 128)
            self.meta.meta["EFSEARCH"] = self.index.hnsw.efSearch

    # -- properties --------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"flat"``, ``"ivf"`` or ``"hnsw"``."""
        return self.meta.meta["KIND"]

    @property
    def metric(self) -> str:
        """``"cosine"`` or ``"l2"``."""
        return self.meta.meta["METRIC"]

    @property
    def skipped(self) -> int:
        """Rows of the table left out for NaN features."""
        return int(self.meta.meta.get("SKIPPED", 0))

    @property
    def fingerprint(self) -> dict:
        """The embed fingerprint of the table the index was built from."""
        return fingerprint(self.meta)

    def __len__(self) -> int:
        return len(self.meta)

    def __repr__(self) -> str:
        return (f"SimilarityIndex({len(self)} vectors, {self.kind}, {self.metric}, "
                f"model {self.meta.meta.get('MODEL', '?')})")

    # -- search ------------------------------------------------------------------------

    def check_k(self, k, excluding: int = 0, option: str = "k") -> int:
        """``k`` as an int, or ConfigError when the index has fewer candidates."""
        k = positive_int(k, option)
        have = len(self) - excluding
        if k > have:
            skipped = f" ({self.skipped} skipped for NaN features)" if self.skipped else ""
            raise ConfigError(f"{option}={k}: the table has only {len(self)} usable rows"
                              f"{skipped}, so at most {have} neighbours; give a smaller "
                              f"{option}.")
        return k

    def search(self, vectors, k: int, exclude=None):
        """Raw faiss search: positions (n, k) and scores (n, k) of the nearest vectors.

        Parameters
        ----------
        vectors : array (n, D)
            Query feature vectors, as in the table (normalised here for cosine).
        k : int
            Neighbours per query.
        exclude : array of int, optional
            Per query, one position to leave out (the query itself); -1 for none.

        Returns
        -------
        positions, scores : arrays (n, k)
            Positions in :attr:`meta` (-1 where fewer were found); cosine similarity,
            or Euclidean distance for the l2 metric.
        """
        vectors = normalise(np.atleast_2d(vectors), self.metric)
        if vectors.shape[1] != self.index.d:
            raise ConfigError(f"query vectors have {vectors.shape[1]} features but the index "
                              f"{self.index.d}; embed the query as the table was.")
        extra = 0 if exclude is None else 1
        scores, positions = self.index.search(vectors, min(len(self), k + extra))
        if exclude is not None:
            keep = positions != np.asarray(exclude)[:, None]
            # Stable: the kept neighbours stay in order; rows without the query drop the last.
            order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
            positions = np.take_along_axis(positions, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
        positions, scores = positions[:, :k], scores[:, :k]
        if self.metric == "l2":
            scores = np.sqrt(np.maximum(scores, 0))
        return positions, scores

    def vectors(self, positions) -> np.ndarray:
        """The stored vectors at ``positions`` (unit length for cosine; float16-rounded for IVF)."""
        if self.kind == "ivf":
            ivf = faiss_module().extract_index_ivf(self.index)
            if not ivf.direct_map.type:  # ids -> list entries, built once on first use
                ivf.make_direct_map()
        return self.index.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def position(self, row: int) -> int:
        """Position in the index of row ``row`` of the embed table."""
        rows = np.asarray(self.meta["row"])
        i = int(np.searchsorted(rows, row))
        if i == len(rows) or rows[i] != row:
            if 0 <= row < int(self.meta.meta.get("NROWS", rows.max() + 1)):
                raise DatasetError(f"row {row}: its features are NaN (the image could not be "
                                   "read), so it has no neighbours; query another row.")
            raise ConfigError(f"row {row}: the table has rows 0 to {rows.max()}.")
        return i

    def query(self, query, k: int = 10, *, tolerance=None, model=None) -> Table:
        """The ``k`` nearest neighbours of one query or a list of queries.

        Parameters
        ----------
        query : int, str, SkyCoord, image path, or a list of these
            A row of the table (int), a source name, a sky position (``SkyCoord`` or
            ``"RA DEC"`` in degrees or sexagesimal: the nearest catalogued entry within
            ``tolerance``), or an image file, embedded with the table's model, weights,
            pooling and preprocessing. A query from the table is not its own neighbour.
        k : int
            Neighbours per query.
        tolerance : astropy Quantity, optional
            Largest separation of a sky-position match (default 5 arcsec).
        model : Backbone, optional
            The backbone that embedded the table, for image queries when it cannot be
            rebuilt from the table's metadata; its parameters must match WDIGEST.

        Returns
        -------
        astropy.table.Table
            One row per neighbour: ``query``, ``query_source``, ``query_row`` (-1 for a
            new image), ``query_ra``/``query_dec``, ``rank``, ``neighbour`` (source), ``row``,
            ``similarity`` (cosine) or ``distance`` (l2), ``ra``, ``dec`` and
            ``label``/``class_name`` when known.
        """
        from astrofm.discover.query import resolve

        return resolve(self, query, k, tolerance=tolerance, model=model)

    def results(self, names, positions, scores, query_positions=None,
                query_sources=None) -> Table:
        """The neighbours found by :meth:`search` as a table (see :meth:`query`).

        ``query_positions`` gives each query's position in the index (-1 for a new
        image) and ``query_sources`` the source of a new image, for the gallery.
        """
        return neighbour_table(self.meta, names, positions, scores, query_positions,
                               query_sources)

    # -- persistence -------------------------------------------------------------------

    def save(self, path=None) -> Path:
        """Write the index and its metadata to one FITS file, atomically.

        The faiss index is stored as bytes in an image HDU named ``FAISS``; the metadata
        table (with the embed provenance in its header) in a table HDU named ``META``.

        Parameters
        ----------
        path : str or path, optional
            Default: next to the table file the index was built from
            (:func:`default_index_path`).
        """
        from astropy.io import fits

        from astrofm.features.store import atomic_path

        faiss = faiss_module()
        if path is None:
            table = self.meta.meta.get("TABLE")
            if not table:
                raise ConfigError("save(): this index was built from a table in memory, so "
                                  "there is no table file to save it next to; give a path.")
            path = default_index_path(table)
        path = Path(path)
        blob = faiss.serialize_index(self.index)
        meta_hdu = fits.table_to_hdu(self.meta)
        meta_hdu.name = "META"
        hdus = fits.HDUList([fits.PrimaryHDU(), meta_hdu, fits.ImageHDU(blob, name="FAISS")])
        with atomic_path(path) as tmp:
            hdus.writeto(tmp)
        return path

    @classmethod
    def load(cls, path) -> SimilarityIndex:
        """An index written by :meth:`save`."""
        from astropy.io import fits

        faiss = faiss_module()
        path = Path(path)
        if not path.is_file():
            raise InputFileError(f"{path}: no such index file; build one with "
                                 "SimilarityIndex.build(table).save(path).")
        try:
            with fits.open(path) as hdus:
                meta = Table.read(hdus["META"])
                blob = np.array(hdus["FAISS"].data, dtype=np.uint8)
        except (OSError, KeyError) as err:
            raise DatasetError(f"{path}: not an index written by SimilarityIndex.save "
                               f"({err}); build the index again.") from err
        out = cls(faiss.deserialize_index(blob), meta)
        out.set_search(nprobe=meta.meta.get("NPROBE"), ef_search=meta.meta.get("EFSEARCH"))
        return out

