"""The metadata a :class:`~astrofm.discover.SimilarityIndex` keeps row for row with its
vectors, and the neighbour tables read from it.

Vector ``i`` of an index is row ``i`` of its metadata table: ``row`` (its row in the
embed table), ``source``, ``ra``, ``dec`` and ``label``/``class_name`` when the table
has them; the table's meta holds the embed provenance and the index settings.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table, vstack

__all__ = ["META_COLUMNS", "PROVENANCE", "meta_table", "stack", "neighbour_table"]

#: Columns of the metadata table, those of the embed table it copies after ``row``.
META_COLUMNS = ("row", "source", "ra", "dec", "label", "class_name")
#: Embed table meta keys an index keeps: what its vectors mean.
PROVENANCE = ("MODEL", "WEIGHTS", "WDIGEST", "POOLING", "PREPROC")


def meta_table(table: Table, rows: np.ndarray) -> Table:
    """The metadata of rows ``rows`` of embed table ``table``, NaN RA/Dec when it has none."""
    meta = Table()
    meta["row"] = rows.astype(np.int64)
    for name in META_COLUMNS[1:]:
        if name in table.colnames:
            meta[name] = table[name][rows]
    if "ra" not in meta.colnames:
        meta["ra"] = np.full(len(rows), np.nan)
        meta["dec"] = np.full(len(rows), np.nan)
    meta.meta.update({k: table.meta.get(k, "") for k in PROVENANCE})
    meta.meta["NROWS"] = len(table)
    meta.meta["TABLE"] = table.meta.get("PATH", "")
    return meta


def stack(metas: list[Table]) -> Table:
    """The metadata of chunks in one table, numbered by position when they have no ``row``."""
    meta = metas[0] if len(metas) == 1 else vstack(metas, metadata_conflicts="silent")
    if "row" not in meta.colnames:
        meta["row"] = np.arange(len(meta), dtype=np.int64)
    meta.meta["NROWS"] = int(meta.meta.get("NROWS", len(meta)))
    return meta


def neighbour_table(meta: Table, names, positions, scores, query_positions=None,
                    query_sources=None) -> Table:
    """The neighbours at ``positions`` of an index with metadata ``meta``, one per row.

    See :meth:`SimilarityIndex.results <astrofm.discover.SimilarityIndex.results>`,
    which gives its arguments, and :meth:`~astrofm.discover.SimilarityIndex.query` for
    the columns.
    """
    found = positions >= 0
    query_pos, rank = np.nonzero(found)
    picked = positions[found]
    n = len(names)
    at = np.full(n, -1) if query_positions is None else np.asarray(query_positions)
    inside = at >= 0
    sources = np.array(["" if query_sources is None else str(query_sources[i])
                        for i in range(n)], dtype=object)
    sources[inside] = np.asarray(meta["source"])[at[inside]]
    rows = np.where(inside, np.asarray(meta["row"])[np.maximum(at, 0)], -1)
    coords = {}
    for name in ("ra", "dec"):
        values = np.asarray(meta[name], dtype=float)[np.maximum(at, 0)]
        coords[name] = np.where(inside, values, np.nan)
    out = Table()
    out["query"] = np.asarray(names, dtype=str)[query_pos]
    out["query_source"] = sources.astype(str)[query_pos]
    out["query_row"] = rows[query_pos]
    out["query_ra"] = coords["ra"][query_pos]
    out["query_dec"] = coords["dec"][query_pos]
    out["rank"] = rank + 1
    out["neighbour"] = meta["source"][picked]
    out["row"] = meta["row"][picked]
    out["similarity" if meta.meta["METRIC"] == "cosine" else "distance"] = scores[found]
    for name in ("ra", "dec", "label", "class_name"):
        if name in meta.colnames:
            out[name] = meta[name][picked]
    out.meta.update({k: meta.meta[k] for k in ("MODEL", "WEIGHTS", "METRIC", "KIND")
                     if k in meta.meta})
    return out
