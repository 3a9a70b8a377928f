"""Data sets laid out as one sub-folder per class."""

from __future__ import annotations

import os
from pathlib import Path

from torchvision.datasets.folder import find_classes, make_dataset

from astrofm.data.base import ImageDataset
from astrofm.errors import DatasetError, InputFileError
from astrofm.image import AstroImage

__all__ = ["FolderDataset", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz", ".fz",
                  ".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


class FolderDataset(ImageDataset):
    """Images under ``root/<class name>/``, one sub-folder per class.

    The layout and class order are those of torchvision's ``ImageFolder`` (classes
    sorted by folder name), extended to FITS files.

    Parameters
    ----------
    root : str or path
        The folder that holds one sub-folder per class.
    transform : callable, optional
        Applied to each loaded AstroImage.
    hdu : int or str, optional
        HDU to read from FITS files (default: the first with image data).
    """

    def __init__(self, root, transform=None, hdu=None):
        root = Path(os.fspath(root))
        if not root.is_dir():
            raise InputFileError(f"{root}: no such folder; give a folder with one sub-folder "
                                 "per class.")
        try:
            classes, class_to_idx = find_classes(root)
        except FileNotFoundError as err:
            raise DatasetError(f"{root}: {err}; make one sub-folder per class.") from err
        try:
            items = make_dataset(root, class_to_idx, is_valid_file=_is_image,
                                 allow_empty=True)
        except FileNotFoundError as err:
            raise DatasetError(f"{root}: {err}") from err
        if not items:
            raise DatasetError(
                f"{root}: the class folders {classes} hold no images with a suffix in "
                f"{IMAGE_SUFFIXES}."
            )
        self.root = root
        self.hdu = hdu
        paths, labels = zip(*items, strict=True)
        super().__init__(paths, list(labels), classes, transform)

    def load(self, index: int) -> AstroImage:
        """Read image ``index`` with :func:`astrofm.load`."""
        from astrofm.io import load

        return load(self.sources[index], hdu=self.hdu)
