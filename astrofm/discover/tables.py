"""Embed tables as the discovery tools read them: features, provenance, usable rows.

A table from :func:`astrofm.embed` holds one feature vector per image; rows whose image
could not be read carry NaN features. Every discovery tool reads tables through
:func:`read_table` and :func:`usable_rows`, so they all refuse the same bad input with
the same message and skip the same rows.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.errors import ConfigError, DatasetError, InputFileError

__all__ = ["read_table", "fingerprint", "usable_rows", "normalise", "FINGERPRINT_KEYS"]

log = logging.getLogger("astrofm.discover")

#: Table meta keys that decide what a feature vector means.
FINGERPRINT_KEYS = ("MODEL", "WDIGEST", "POOLING", "PREPROC")


def read_table(table, option: str = "table") -> Table:
    """An embed table, read from FITS or HDF5 when given as a path, with its features checked.

    Parameters
    ----------
    table : Table, str or path
        A table from :func:`astrofm.embed`, or the file it was written to.
    option : str
        The argument or command-line option that gave ``table``, for messages.

    Returns
    -------
    astropy.table.Table
        Its ``source`` column added (``row<i>``) when missing.

    Raises
    ------
    InputFileError
        For a path that does not exist.
    DatasetError
        For a file astropy cannot read as a table, or a table without a 2-D
        ``feature`` column.
    """
    if not isinstance(table, Table):
        from astrofm.features.embed import table_format

        path = Path(table)
        if not path.is_file():
            raise InputFileError(f"{option}={path}: no such file; give a feature table "
                                 "written by 'astrofm embed' (.fits or .h5).")
        fmt = table_format(path)
        try:
            table = (Table.read(path, format="hdf5", path="features") if fmt == "hdf5"
                     else Table.read(path, format="fits"))
        except (OSError, ValueError, KeyError) as err:
            raise DatasetError(f"{option}={path}: cannot be read as a feature table ({err}); "
                               "give a table written by 'astrofm embed'.") from err
        table.meta["PATH"] = os.fspath(path)
    name = table.meta.get("PATH", option)
    if "feature" not in table.colnames:
        raise DatasetError(f"{name}: has no 'feature' column (columns: {table.colnames}); "
                           "give a table written by 'astrofm embed'.")
    if table["feature"].ndim != 2 or len(table) == 0:
        raise DatasetError(f"{name}: the 'feature' column must hold one vector per row "
                           f"(shape (N, D)), not shape {table['feature'].shape}.")
    if "source" not in table.colnames:
        table["source"] = [f"row{i}" for i in range(len(table))]
    return table


def fingerprint(table: Table) -> dict:
    """The embed fingerprint of a table: model, weights digest, pooling, preprocessing."""
    return {key: str(table.meta.get(key, "")) for key in FINGERPRINT_KEYS}


def usable_rows(table: Table) -> np.ndarray:
    """Indices of the rows whose features are all finite; the others are logged and counted."""
    features = np.asarray(table["feature"], dtype=np.float32)
    good = np.isfinite(features).all(axis=1)
    skipped = int((~good).sum())
    if skipped:
        log.warning("%s: %d of %d rows have NaN features (images that could not be read) "
                    "and are skipped", table.meta.get("PATH", "table"), skipped, len(table))
    if not good.any():
        raise DatasetError(f"{table.meta.get('PATH', 'table')}: every row has NaN features; "
                           "embed the images again (see the table's error column).")
    return np.flatnonzero(good)


def normalise(features: np.ndarray, metric: str) -> np.ndarray:
    """float32 C-contiguous vectors, scaled to unit length for the cosine metric."""
    if metric not in ("cosine", "l2"):
        raise ConfigError(f"metric={metric!r}: choose 'cosine' or 'l2'.")
    out = np.ascontiguousarray(features, dtype=np.float32)
    if metric == "cosine":
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        # A zero vector has no direction; it stays zero and matches nothing.
        out = out / np.where(norm > 0, norm, 1).astype(np.float32)
    return out
