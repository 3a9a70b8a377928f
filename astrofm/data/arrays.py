"""Data sets held as arrays in a ``.npz`` file (MiraBest, FR-DEEP style)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from astrofm.data.base import ImageDataset
from astrofm.data.labels import normalise_labels
from astrofm.errors import DatasetError, FileFormatError, InputFileError
from astrofm.image import AstroImage

__all__ = ["ArrayDataset"]


class ArrayDataset(ImageDataset):
    """Images and labels from a ``.npz`` file or from arrays in memory.

    Parameters
    ----------
    source : str, path or dict
        A ``.npz`` file, or a mapping of array names to arrays.
    images : str
        Name of the image array, ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, 3)``
        (channels last is recognised by a last axis of 3 or 4).
    labels : str or None
        Name of the label array; None for unlabelled images. Labels follow
        :mod:`astrofm.data.labels`: integer codes (floats with whole values count as
        integers), names or bools, all of one kind, none missing (NaN).
    class_names : str or None
        Name of an array of class names (as MiraBest's ``label_names``), if present;
        integer labels index it. Without it, classes are the sorted distinct labels.
    transform : callable, optional
        Applied to each AstroImage.

    Notes
    -----
    ``uint8`` images are marked as display images (already stretched), so the default
    preprocessing does not stretch them again.
    """

    def __init__(self, source, images="images", labels="labels", class_names="label_names",
                 transform=None):
        arrays, self.path = _read_npz(source)
        if images not in arrays:
            raise DatasetError(
                f"{self.path}: no array named {images!r}; it holds {sorted(arrays)}. "
                "Pass images= with the right name."
            )
        data = np.asarray(arrays[images])
        if data.ndim == 4 and data.shape[-1] in (3, 4) and data.shape[1] not in (3, 4):
            data = np.moveaxis(data, -1, 1)
        if data.ndim not in (3, 4) or 0 in data.shape:
            raise DatasetError(
                f"{self.path}: array {images!r} has shape {data.shape}; expected (N, H, W) or "
                "(N, C, H, W) with N >= 1."
            )
        self.images = data
        label_values = None
        if labels is not None:
            if labels not in arrays:
                raise DatasetError(
                    f"{self.path}: no label array {labels!r}; it holds {sorted(arrays)}. "
                    "Pass labels=None for unlabelled images."
                )
            # Normalised here too, so that an error names the file and the array.
            label_values = normalise_labels(arrays[labels],
                                            where=f"{self.path}: array {labels!r}")
        names = None
        if class_names is not None and class_names in arrays:
            names = [str(c) for c in np.asarray(arrays[class_names]).tolist()]
        sources = [f"{self.path}[{i}]" for i in range(len(data))]
        super().__init__(sources, label_values, names, transform)

    def load(self, index: int) -> AstroImage:
        """Image ``index`` as an AstroImage."""
        data = self.images[index]
        return AstroImage(data, source=self.sources[index], display=data.dtype == np.uint8)


def _read_npz(source):
    if isinstance(source, dict):
        return source, "<arrays>"
    path = Path(os.fspath(source))
    if not path.is_file():
        raise InputFileError(f"{path}: no such file; give the path of a .npz file.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}, str(path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise FileFormatError(
            f"{path}: not a readable .npz file ({err}); write it with numpy.savez."
        ) from err
