"""Detection data sets as the detector takes them: COCO JSON files, CocoDatasets, subsets."""

from __future__ import annotations

import copy
import os

from astrofm.errors import ConfigError

__all__ = ["detection_set", "boxes_of", "with_transform"]


def detection_set(data, argument: str):
    """A data set with boxes: a COCO JSON path, a CocoDataset, or a subset of one.

    Parameters
    ----------
    data : str, path, CocoDataset or torch Subset of one
        What the caller passed.
    argument : str
        The argument's name, for the error message.
    """
    from torch.utils.data import Subset

    from astrofm.data import CocoDataset

    if isinstance(data, str | os.PathLike):
        return CocoDataset(data)
    base = data.dataset if isinstance(data, Subset) else data
    if not (hasattr(base, "boxes") and hasattr(base, "load")):
        raise ConfigError(f"{argument}: give a COCO JSON file or an astrofm.data.CocoDataset "
                          f"(or a subset of one); got {type(data).__name__}.")
    return data


def boxes_of(data, index: int):
    """Boxes (original pixels) and labels of item ``index`` of a data set or a subset."""
    if hasattr(data, "indices"):
        return data.dataset.boxes(data.indices[index])
    return data.boxes(index)


def with_transform(data, transform):
    """A shallow copy of ``data`` (or of a subset's parent) that uses ``transform``."""
    out = copy.copy(data)
    if hasattr(data, "indices"):
        out.dataset = with_transform(data.dataset, transform)
    else:
        out.transform = transform
    return out
