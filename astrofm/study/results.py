"""The results table of a study: one row per finished cell, appended atomically.

``results.ecsv`` is rewritten whole through a temporary file and ``os.replace`` after
each cell, so a run killed at any moment leaves the table of the cells finished before
it, never half a row. Per-class scores, confusion matrices and mAP against IoU are JSON
strings, in the order of ``meta["classes"]`` and ``meta["ious"]``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from astropy.table import Table

__all__ = ["COLUMNS", "ResultsTable", "classification_row", "detection_row", "check_run_folder"]

_NAN = math.nan

#: Every column of ``results.ecsv`` with the value a row has when it does not apply.
COLUMNS = {
    "key": "", "task": "", "name": "", "backbone": "", "weights": "", "baseline": False,
    "pooling": "", "head": "", "tuning": "", "variant": "", "preprocessing": "",
    "fraction": _NAN, "seed": 0, "n_train": 0, "fit_seconds": _NAN, "eval_seconds": _NAN,
    "macro_f1": _NAN, "macro_precision": _NAN, "macro_recall": _NAN,
    "balanced_accuracy": _NAN, "accuracy": _NAN, "f1_per_class": "",
    "precision_per_class": "", "recall_per_class": "", "confusion": "",
    "map_50": _NAN, "map_50_95": _NAN, "map_per_iou": "", "det_precision": _NAN,
    "det_recall": _NAN,
}


def _cell_columns(cell, origin: str) -> dict:
    return {"key": cell.key, "task": cell.task, "name": cell.name, "backbone": cell.backbone,
            "weights": origin, "baseline": cell.baseline, "pooling": cell.pooling,
            "head": cell.head, "tuning": cell.tuning, "variant": cell.variant,
            "preprocessing": json.dumps(cell.preprocessing, sort_keys=True, default=str),
            "fraction": cell.fraction, "seed": cell.seed}


def classification_row(cell, origin: str, report, n_train: int, fit_seconds: float,
                       eval_seconds: float) -> dict:
    """The results row of a classification cell from its :class:`ClassificationReport`."""
    return {**_cell_columns(cell, origin), "n_train": int(n_train),
            "fit_seconds": fit_seconds, "eval_seconds": eval_seconds,
            "macro_f1": report.macro_f1,
            "macro_precision": float(np.mean(report.precision)),
            "macro_recall": float(np.mean(report.recall)),
            "balanced_accuracy": report.balanced_accuracy, "accuracy": report.accuracy,
            "f1_per_class": json.dumps(report.f1.tolist()),
            "precision_per_class": json.dumps(report.precision.tolist()),
            "recall_per_class": json.dumps(report.recall.tolist()),
            "confusion": json.dumps(report.confusion.tolist())}


def detection_row(cell, origin: str, report, ious, n_train: int, fit_seconds: float,
                  eval_seconds: float) -> dict:
    """The results row of a detection cell from its :class:`DetectionReport`."""
    return {**_cell_columns(cell, origin), "fraction": 1.0, "n_train": int(n_train),
            "fit_seconds": fit_seconds, "eval_seconds": eval_seconds,
            "map_50": report.map_50, "map_50_95": report.map_50_95,
            "map_per_iou": json.dumps([report.ap_per_iou[round(t, 2)] for t in ious]),
            "det_precision": report.precision, "det_recall": report.recall}


class ResultsTable:
    """``results.ecsv`` of a run folder.

    Parameters
    ----------
    path : path
        The table file; read when it exists.
    meta : dict
        ``classes`` and ``ious``, written into the table's metadata.
    """

    def __init__(self, path, meta: dict):
        self.path = Path(path)
        self.meta = dict(meta)
        self.rows: list[dict] = []
        if self.path.exists():
            self.rows = [dict(zip(r.colnames, r.as_void().tolist(), strict=True))
                         for r in Table.read(self.path, format="ascii.ecsv")]

    @property
    def done(self) -> set[str]:
        """Keys of the finished cells."""
        return {str(r["key"]) for r in self.rows}

    def append(self, row: dict) -> None:
        """Add one finished cell's row and rewrite the file atomically (rank 0 of a job writes)."""
        from astrofm.features.store import atomic_path
        from astrofm.trainer import global_rank

        self.rows.append({name: row.get(name, default) for name, default in COLUMNS.items()})
        if global_rank() != 0:
            return
        table = Table(rows=[[r[c] for c in COLUMNS] for r in self.rows], names=list(COLUMNS))
        table.meta.update(self.meta)
        with atomic_path(self.path) as tmp:
            table.write(tmp, format="ascii.ecsv")


def check_run_folder(run_dir) -> Path:
    """``run_dir`` as a path, once it is known to hold a study run.

    Raises
    ------
    ConfigError
        When the folder, its ``study.json`` or its ``results.ecsv`` is missing.
    """
    from astrofm.errors import ConfigError

    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such run folder; give the folder written by "
                          "'astrofm study STUDY.toml -o DIR'.")
    missing = [name for name in ("study.json", "results.ecsv") if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{folder}: {' and '.join(missing)} missing, so this is not a study "
                          "run folder (or its run has not finished a cell yet); give the "
                          "folder written by 'astrofm study STUDY.toml -o DIR'.")
    return folder
