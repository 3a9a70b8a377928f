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
        The COCO JSON file: top-level lists ``images`` (``id``, ``file_name``;
        ``width`` and ``height`` optional), ``annotations`` (``id``, ``image_id``,
        ``category_id``, ``bbox``) and ``categories`` (``id``, ``name``). Image sizes
        are read from the image files' headers; boxes must lie inside them.
    image_root : str or path, optional
        Folder that ``file_name`` entries are relative to; default: the JSON's folder.
    transform : callable, optional
        Applied to each AstroImage; the boxes follow its crops and resizes through the
        image's geometry.

    Raises
    ------
    FileFormatError
        The file is not JSON, or lacks a top-level list or a key of an entry.
    DatasetError
        A missing image file, an unknown ``category_id``, or a ``width``/``height``
        that differs from the image file's.
    BoxError
        A box of zero area, or one outside its image.
    """

    def __init__(self, annotations, image_root=None, transform=None):
        path = Path(os.fspath(annotations))
        if not path.is_file():
            raise InputFileError(f"{path}: no such annotation file; give a COCO JSON file.")
        self.coco = _read_coco(path)
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
        self._boxes = [self._read_boxes(path, info, file) for info, file in zip(infos, files,
                                                                                strict=True)]
        classes = [c["name"] for c in self.coco.loadCats(cat_ids)]
        super().__init__(files, None, classes, transform)

    def _read_boxes(self, path, info, file):
        """Boxes and labels of one image, checked against the image's real size.

        The size is read from the image file's header: ``width`` and ``height`` in the
        JSON are optional, and when given they must match it, since boxes drawn on an
        image of another size (a resized or re-cut version) would be misplaced.
        """
        from astrofm.io.loader import image_size

        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=info["id"], iscrowd=None))
        unknown = [a["id"] for a in anns if a["category_id"] not in self._label_of]
        if unknown:
            raise DatasetError(f"{path}: annotation(s) {unknown[:5]} have a category_id that "
                               f"is not among the categories {sorted(self._label_of)}; add the "
                               "category or fix category_id.")
        boxes = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        labels = np.array([self._label_of[a["category_id"]] for a in anns], dtype=np.int64)
        h, w = image_size(file)
        stated = (info.get("width"), info.get("height"))
        if stated != (None, None) and stated != (w, h):
            raise DatasetError(
                f"{path}: image {info['id']} ({file.name}) is given as width x height = "
                f"{stated[0]} x {stated[1]}, but the file holds {w} x {h} pixels; correct "
                "width and height (or drop them), and check the boxes were drawn on this "
                "image."
            )
        for ann, (x0, y0, x1, y1) in zip(anns, boxes, strict=True):
            if x1 <= x0 or y1 <= y0:
                raise BoxError(f"{path}: annotation {ann['id']} has a box of zero area "
                               f"{ann['bbox']}; remove it or give it a size.")
            if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
                raise BoxError(
                    f"{path}: annotation {ann['id']} box {ann['bbox']} (x, y, width, height) "
                    f"lies outside image {info['id']} ({file.name}, {w} x {h} pixels); clip "
                    "it to the image."
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


#: The lists a COCO file holds at the top level, and the keys each entry needs.
_REQUIRED = {"images": ("id", "file_name"),
             "annotations": ("id", "image_id", "category_id", "bbox"),
             "categories": ("id", "name")}


def _read_coco(path):
    """A pycocotools COCO index of ``path``, after checking the file's structure."""
    from pycocotools.coco import COCO

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{path}: not a JSON file ({err}); give a COCO annotation "
                              "file.") from err
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: a JSON {type(data).__name__}, not a COCO annotation "
                              f"file (an object with the lists {list(_REQUIRED)}).")
    missing = [k for k in _REQUIRED if not isinstance(data.get(k), list)]
    if missing:
        raise FileFormatError(
            f"{path}: no {missing} list at the top level; a COCO annotation file holds the "
            f"lists {list(_REQUIRED)} (empty lists where there is nothing to list)."
        )
    for key, fields in _REQUIRED.items():
        for i, entry in enumerate(data[key]):
            if not isinstance(entry, dict):
                raise FileFormatError(f"{path}: {key}[{i}] is {str(entry)[:80]!r}, not an "
                                      f"object with {list(fields)}.")
            absent = [f for f in fields if f not in entry]
            if absent:
                raise FileFormatError(f"{path}: {key}[{i}] has no {absent}; each entry of "
                                      f"{key!r} is an object with {list(fields)}.")
    coco = COCO()
    coco.dataset = data
    # pycocotools prints progress on stdout; a library should not.
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
