"""The data-set base class shared by every kind of data set."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from astrofm.data.labels import encode_labels
from astrofm.errors import DatasetError
from astrofm.image import AstroImage

__all__ = ["ImageDataset", "image_to_tensor", "encode_labels"]

UNLABELLED = -1


def image_to_tensor(image) -> torch.Tensor:
    """float32 tensor ``(C, H, W)`` from an AstroImage, array or tensor.

    A 2-D image gets a leading channel axis; masked pixels are set to zero so that no
    NaN reaches a model.
    """
    if isinstance(image, torch.Tensor):
        return image if image.ndim == 3 else image.unsqueeze(0)
    if isinstance(image, AstroImage):
        data = np.where(image.mask, np.float32(0), image.data)
    else:
        data = np.asarray(image, dtype=np.float32)
    data = np.ascontiguousarray(data, dtype=np.float32)
    return torch.from_numpy(data if data.ndim == 3 else data[np.newaxis])


class ImageDataset(Dataset, ABC):
    """A torch data set of astronomical images with optional labels.

    Subclasses say how to read image ``i`` (:meth:`load`); this class applies the
    transform and makes the ``(tensor, target)`` pairs a DataLoader expects. It holds
    only paths and small arrays, so it pickles cheaply into DataLoader workers.

    Parameters
    ----------
    sources : sequence of str
        One name per image (a path, or ``"file.npz[12]"`` for arrays).
    labels : sequence, optional
        Class names or codes, one per image; the accepted kinds and the class order
        are those of :mod:`astrofm.data.labels` (one kind per data set, no missing
        labels, classes sorted).
    classes : sequence, optional
        Class names in code order; with names given, integer labels index them.
    transform : callable, optional
        Applied to each loaded AstroImage, e.g. a :class:`astrofm.preprocess.Pipeline`.
    """

    def __init__(self, sources, labels=None, classes=None, transform: Callable | None = None):
        self.sources = [str(s) for s in sources]
        if not self.sources:
            raise DatasetError(f"{type(self).__name__}: the data set holds no images.")
        if labels is None:
            self.labels = None
            self.classes = list(classes) if classes is not None else []
        else:
            if len(labels) != len(self.sources):
                raise DatasetError(
                    f"{type(self).__name__}: {len(labels)} labels for {len(self.sources)} "
                    "images; give exactly one label per image."
                )
            self.labels, self.classes = encode_labels(
                labels, classes, where=f"{type(self).__name__} labels")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.sources)

    @abstractmethod
    def load(self, index: int) -> AstroImage:
        """The AstroImage of item ``index``, before the transform."""

    def label(self, index: int) -> int:
        """Integer label of item ``index``, or -1 when the data set is unlabelled."""
        return UNLABELLED if self.labels is None else int(self.labels[index])

    def target(self, index: int, image: AstroImage):
        """What ``__getitem__`` returns beside the image: the label, by default."""
        return self.label(index)

    def __getitem__(self, index: int):
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image_to_tensor(image), self.target(index, image)

    def __repr__(self):
        classes = f", classes={self.classes}" if self.classes else ""
        return f"<{type(self).__name__} of {len(self)} images{classes}>"
