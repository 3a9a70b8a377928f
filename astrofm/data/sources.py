"""A data set over a plain list of inputs (paths, arrays, HDUs, AstroImages)."""

from __future__ import annotations

import os

from astrofm.data.base import ImageDataset
from astrofm.image import AstroImage

__all__ = ["ListDataset"]


class ListDataset(ImageDataset):
    """Any inputs :func:`astrofm.load` takes, one item each.

    Parameters
    ----------
    items : sequence
        Paths, arrays, HDUs, NDData or AstroImages.
    labels : sequence, optional
        One class name or code per item, following :mod:`astrofm.data.labels` (all of
        one kind, none missing; classes are the sorted distinct labels).
    classes : sequence, optional
        Class names in code order; with names given, integer labels index them.
    transform : callable, optional
        Applied to each loaded AstroImage.
    hdu, plane : optional
        Passed to :func:`astrofm.load` for every item.
    """

    def __init__(self, items, labels=None, classes=None, transform=None, hdu=None, plane=None):
        self.items = list(items)
        self.hdu, self.plane = hdu, plane
        super().__init__([_name(x, i) for i, x in enumerate(self.items)], labels, classes,
                         transform)

    def load(self, index: int) -> AstroImage:
        """Item ``index`` read with :func:`astrofm.load`."""
        from astrofm.io import load

        item = self.items[index]
        return item if isinstance(item, AstroImage) else load(item, hdu=self.hdu,
                                                              plane=self.plane)


def _name(item, index) -> str:
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    if isinstance(item, AstroImage):
        return item.source
    return f"<{type(item).__name__} {index}>"
