"""Augmented views of unlabelled astronomy images for self-supervised pretraining.

Each image first goes through astrofm's preprocessing (for float FITS data: sigma clip,
asinh stretch on a zscale interval, resize, channels, normalisation), so the views are
cut from the same model-ready tensor a backbone sees at inference. The augmentations are
lightly's view recipe (``MultiViewTransform``, its 90-degree
rotation) on top of torchvision's tensor crops and flips, keeping only what makes sense
for single-band flux images:

* kept: random resized crops (two global views and ``n_local`` smaller local views for
  DINO, one view for MAE), horizontal and vertical flips, and rotations by multiples of
  90 degrees (the sky has no up; these rotations resample nothing);
* dropped: colour jitter, random grey scale and solarisation, which have no meaning
  when the channels replicate one band of calibrated flux, and lightly's Gaussian blur,
  which converts tensors to 8-bit PIL images and would quantise the stretched float data.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

__all__ = ["view_transform", "ViewDataset"]

# DINO's published crop scales (Caron et al. 2021) and MAE's (He et al. 2022).
GLOBAL_SCALE = (0.4, 1.0)
LOCAL_SCALE = (0.05, 0.4)
MAE_SCALE = (0.2, 1.0)


def _one_view(size: int, scale: tuple[float, float]):
    from lightly.transforms.rotation import random_rotation_transform
    from torchvision.transforms import v2 as T

    return T.Compose([
        T.RandomResizedCrop(size, scale=scale, interpolation=T.InterpolationMode.BICUBIC,
                            antialias=True),
        T.RandomHorizontalFlip(0.5),
        T.RandomVerticalFlip(0.5),
        random_rotation_transform(rr_prob=0.5, rr_degrees=None),
    ])


def view_transform(method: str, size: int, local_size: int | None = None, n_local: int = 0):
    """The multi-view augmentation of a pretraining method.

    Parameters
    ----------
    method : {"dino", "mae"}
        ``dino``: two global views of side ``size`` then ``n_local`` views of side
        ``local_size``; ``mae``: one view of side ``size``.
    size : int
        Side of the global views, a size the backbone accepts.
    local_size : int, optional
        Side of DINO's local views.
    n_local : int
        Number of DINO's local views.

    Returns
    -------
    lightly.transforms.multi_view_transform.MultiViewTransform
        Called on a (C, H, W) tensor, returns the list of views.
    """
    from lightly.transforms.multi_view_transform import MultiViewTransform

    if method == "mae":
        return MultiViewTransform([_one_view(size, MAE_SCALE)])
    views = [_one_view(size, GLOBAL_SCALE)] * 2 + [_one_view(local_size, LOCAL_SCALE)] * n_local
    return MultiViewTransform(views)


class ViewDataset(Dataset):
    """Views of the images of a preprocessed data set; its labels are never read.

    Parameters
    ----------
    dataset : ImageDataset or Subset
        Yields ``(tensor, target)`` with the backbone's preprocessing as transform.
    views : callable
        From :func:`view_transform`.
    """

    def __init__(self, dataset, views):
        self.dataset = dataset
        self.views = views

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        tensor = self.dataset[index][0]
        # torchvision v2 returns tv_tensors.Image; the loss and the backbone want tensors.
        return [v.as_subclass(torch.Tensor) for v in self.views(tensor)]
