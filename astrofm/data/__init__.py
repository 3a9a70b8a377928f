"""Torch data sets of astronomical images, and seeded stratified splits.

Every data set yields ``(tensor, target)`` pairs and works with DataLoader workers:
it holds paths and small arrays, and reads each image in the worker that needs it.
Labels follow one set of rules everywhere (:mod:`astrofm.data.labels`).
"""

from astrofm.data.arrays import ArrayDataset
from astrofm.data.base import ImageDataset, image_to_tensor
from astrofm.data.catalog import CatalogDataset, read_table
from astrofm.data.coco import CocoDataset
from astrofm.data.folder import FolderDataset
from astrofm.data.labels import encode_labels, normalise_labels
from astrofm.data.opening import open_labelled
from astrofm.data.sources import ListDataset
from astrofm.data.splits import LabelledSubset, label_fraction, subset, train_val_split

__all__ = [
    "ImageDataset",
    "ArrayDataset",
    "CatalogDataset",
    "CocoDataset",
    "FolderDataset",
    "LabelledSubset",
    "ListDataset",
    "encode_labels",
    "image_to_tensor",
    "label_fraction",
    "normalise_labels",
    "open_labelled",
    "read_table",
    "subset",
    "train_val_split",
]
