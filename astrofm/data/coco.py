"""Detection data sets in COCO JSON form."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from astrofm.data.base import ImageDataset
from astrofm.errors import BoxError, DatasetError, FileFormatError, InputFileError
from astrofm.image import AstroImage

__all__ = ["CocoDataset"]


class CocoDataset(ImageDataset):
    """Images and boxes from a COCO JSON annotation file, for detection.

    Boxes are in array pixel coordinates with the COCO convention: ``(x, y)`` of the
    corner of pixel ``(0, 0)`` is ``(0, 0)``, ``x`` runs along columns and ``y`` along
    rows *of the stored array* (for FITS, row 0 is the bottom of the displayed image).

    Items are ``(tensor, target)`` with ``target = {"boxes": (N, 4) float tensor of
    x0, y0, x1, y1 on the transformed image, "labels": (N,) int64, "image_id": int}``, as
    torchvision's detection models expect: labels count from 1, 0 being background, in
    the order of :attr:`classes`.

    Parameters
    ----------
    annotations : str or path
        The COCO JSON file.
    image_root : str or path, optional
        Folder that ``file_name`` entries are relative to; default: the JSON's folder.
    transform : callable, optional
        Applied to each AstroImage; the boxes follow its crops and resizes through the
        image's geometry.
    """

    def __init__(self, annotations, image_root=None, transform=None):
        from pycocotools.coco import COCO

        path = Path(os.fspath(annotations))
        if not path.is_file():
            raise InputFileError(f"{path}: no such annotation file; give a COCO JSON file.")
        try:
            # pycocotools prints progress on stdout; a library should not.
            with contextlib.redirect_stdout(io.StringIO()):
                self.coco = COCO(str(path))
        except (json.JSONDecodeError, KeyError, TypeError, AssertionError) as err:
            raise FileFormatError(f"{path}: not a COCO annotation file ({err}).") from err
        root = Path(os.fspath(image_root)) if image_root is not None else path.parent
        self.image_ids = sorted(self.coco.getImgIds())
        cat_ids = sorted(self.coco.getCatIds())
        self._label_of = {c: i + 1 for i, c in enumerate(cat_ids)}
        infos = self.coco.loadImgs(self.image_ids)
        files = [root / info["file_name"] for info in infos]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise DatasetError(
                f"{path}: {len(missing)} image(s) named in the annotations do not exist, e.g. "
                f"{missing[:3]}; fix file_name or pass image_root=."
            )
        self._boxes = [self._read_boxes(path, info) for info in infos]
        classes = [c["name"] for c in self.coco.loadCats(cat_ids)]
        super().__init__(files, None, classes, transform)

    def _read_boxes(self, path, info):
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=info["id"], iscrowd=None))
        boxes = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        labels = np.array([self._label_of[a["category_id"]] for a in anns], dtype=np.int64)
        w, h = info.get("width"), info.get("height")
        for ann, (x0, y0, x1, y1) in zip(anns, boxes, strict=True):
            if x1 <= x0 or y1 <= y0:
                raise BoxError(f"{path}: annotation {ann['id']} has a box of zero area "
                               f"{ann['bbox']}; remove it or give it a size.")
            if w is not None and h is not None and (x0 < 0 or y0 < 0 or x1 > w or y1 > h):
                raise BoxError(
                    f"{path}: annotation {ann['id']} box {ann['bbox']} lies outside image "
                    f"{info['id']} ({w} x {h}); clip it to the image."
                )
        return boxes, labels

    def load(self, index: int) -> AstroImage:
        """Read image ``index`` with :func:`astrofm.load`."""
        from astrofm.io import load

        return load(self.sources[index])

    def boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` as x0, y0, x1, y1 on the original image, and their labels."""
        return self._boxes[index]

    def target(self, index: int, image: AstroImage) -> dict:
        """Boxes mapped onto the transformed image, labels and the COCO image id."""
        boxes, labels = self._boxes[index]
        if len(boxes):
            boxes = image.geometry.from_original(boxes)
        return {
            "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels, dtype=torch.int64),
            "image_id": self.image_ids[index],
        }
