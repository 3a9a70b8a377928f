"""One labelled data set from a path, whatever form the labels come in."""

from __future__ import annotations

import os
from pathlib import Path

from astrofm.errors import InputFileError

__all__ = ["open_labelled"]


def open_labelled(path, *, label_column: str = "label", hdu=None):
    """A labelled data set from a class-per-folder tree, a ``.npz`` file or a catalogue.

    Parameters
    ----------
    path : str or os.PathLike
        A folder with one sub-folder per class (:class:`FolderDataset`), a ``.npz``
        file of images and labels (:class:`ArrayDataset`), or a table of image paths
        and labels (``.csv``, ``.ecsv``, ``.fits``: :class:`CatalogDataset`).
    label_column : str
        Label column of a catalogue.
    hdu : int or str, optional
        HDU read from FITS images.

    Returns
    -------
    ImageDataset

    Raises
    ------
    InputFileError
        When ``path`` does not exist.
    """
    from astrofm.data.arrays import ArrayDataset
    from astrofm.data.catalog import CatalogDataset
    from astrofm.data.folder import FolderDataset

    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise InputFileError(f"{path}: no such file or folder; give a class-per-folder tree, "
                             "a .npz file or a catalogue of image paths and labels.")
    if path.is_dir():
        return FolderDataset(path, hdu=hdu)
    if path.suffix.lower() == ".npz":
        return ArrayDataset(path)
    return CatalogDataset(path, label_column=label_column)
