"""Stacking processed images into the (N, C, H, W) tensor a model takes."""

from __future__ import annotations

import numpy as np
import torch

from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = ["to_tensor"]


def to_tensor(images) -> torch.Tensor:
    """A float32 tensor ``(N, C, H, W)`` from one image or a list of same-shape images.

    2-D images become one channel. The data are copied once, into the tensor.

    Raises
    ------
    ConfigError
        When the images differ in shape or channels, or the list is empty.
    """
    if isinstance(images, AstroImage):
        images = [images]
    images = list(images)
    if not images:
        raise ConfigError("to_tensor needs at least one image.")
    arrays = [im.data if im.data.ndim == 3 else im.data[np.newaxis] for im in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        examples = ", ".join(
            f"{im.source} {a.shape}" for im, a in list(zip(images, arrays, strict=True))[:4]
        )
        raise ConfigError(
            f"to_tensor needs images of one shape (C, H, W); got {len(shapes)} shapes "
            f"({examples} ...). Add ResizeForPatch(size=...) to give them one size, and "
            "ToChannels to give them one number of channels."
        )
    return torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))
