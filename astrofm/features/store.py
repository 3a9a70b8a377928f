"""Atomic file writes and the shard store that makes feature extraction resumable.

A run writes one small ``.npz`` shard per batch into a cache folder, each holding the
data-set indices it covers; a restarted run reads which indices are done and computes
only the rest. Every file appears through ``os.replace`` of a finished temporary file,
so a killed run leaves whole shards or none, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from astrofm.errors import ConfigError
from astrofm.runtime import cannot_write

__all__ = ["atomic_path", "ShardStore"]


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so writers that choose a
    format by suffix still work. On an exception the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}",
                                   dir=path.parent)
    except OSError as err:
        raise cannot_write(path, err) from err
    os.close(fd)
    os.unlink(tmp)  # writers such as astropy's refuse to overwrite without being told
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):
            # mkstemp makes files private (0600); a result should get the usual mode.
            os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise cannot_write(path, err) from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ShardStore:
    """A folder of feature shards tied to one configuration.

    Parameters
    ----------
    folder : str or path
        Where shards live. Created if needed.
    fingerprint : dict
        Everything that decides the features (model, weights, pooling, preprocessing,
        inputs). A folder made with another fingerprint is refused, so a resumed run can
        never mix features of two configurations.
    """

    FINGERPRINT = "fingerprint.json"

    def __init__(self, folder, fingerprint: dict):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(fingerprint, sort_keys=True, default=str)
        stored = self.folder / self.FINGERPRINT
        if stored.exists():
            if stored.read_text() != text:
                raise ConfigError(
                    f"cache={self.folder}: this folder holds features of another "
                    "configuration (model, weights, pooling, preprocessing or inputs differ); "
                    "delete it or pass another cache folder."
                )
        else:
            with atomic_path(stored) as tmp:
                tmp.write_text(text)

    def shards(self) -> list[Path]:
        """The finished shard files, in name order."""
        return sorted(self.folder.glob("shard-*.npz"))

    def done(self) -> np.ndarray:
        """Indices already computed."""
        parts = [np.load(p)["index"] for p in self.shards()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def write(self, index, tag: str = "", **columns) -> Path:
        """Write one shard atomically.

        Parameters
        ----------
        index : array of int
            Data-set indices of the rows.
        tag : str
            Distinguishes writers (e.g. the rank of a distributed run).
        **columns : array
            One row per index each (features, error messages, coordinates ...).
        """
        index = np.asarray(index, dtype=np.int64)
        path = self.folder / f"shard-{int(index.min()):09d}{tag}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, index=index, **{k: np.asarray(v) for k, v in columns.items()})
        return path

    def read(self) -> dict[str, np.ndarray]:
        """All shards gathered into one array per column, sorted by index.

        An index written twice (by two jobs sharing the folder at once; the processes of
        one job never repeat an image) is kept once. Numeric columns are filled into
        arrays allocated once, one shard at a time, so a survey-size table costs its
        own size in memory, not the several copies that concatenating and reordering
        would make; text columns (short error messages) vary in width per shard and
        are concatenated.
        """
        paths = self.shards()
        if not paths:
            raise ConfigError(f"cache={self.folder}: no shard has been written yet.")
        indices = [np.load(p)["index"] for p in paths]
        _, first = np.unique(np.concatenate(indices), return_index=True)
        # Row of the output that each stored row fills, -1 for a repeat.
        slot = np.full(sum(len(i) for i in indices), -1, dtype=np.int64)
        slot[first] = np.arange(len(first))
        columns, texts, start = {}, {}, 0
        for path, index in zip(paths, indices, strict=True):
            rows = slot[start:start + len(index)]
            start += len(index)
            keep = rows >= 0
            with np.load(path) as shard:
                for name in shard.files:
                    values = shard[name]
                    if values.dtype.kind in "USO":
                        texts.setdefault(name, []).append(values)
                        continue
                    if name not in columns:
                        columns[name] = np.empty((len(first),) + values.shape[1:],
                                                 values.dtype)
                    columns[name][rows[keep]] = values[keep]
        for name, parts in texts.items():
            columns[name] = np.concatenate(parts)[first]
        return columns
