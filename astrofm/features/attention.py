"""Attention maps of a ViT's class token, on the model input and on the original image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from astrofm.errors import ConfigError

__all__ = ["AttentionMaps", "plot_attention"]


@dataclass
class AttentionMaps:
    """Per-head class-token attention for a batch of processed images.

    Attributes
    ----------
    maps : torch.Tensor
        ``(N, heads, H, W)`` attention on the model input, one value per input pixel
        (each patch's weight spread over its pixels).
    images : list of AstroImage
        The processed images the maps belong to (their geometry maps back).
    block : int
        The transformer block the attention came from.
    """

    maps: torch.Tensor
    images: list
    block: int = -1

    @classmethod
    def from_patch_grid(cls, grid: torch.Tensor, images, block: int = -1,
                        mode: str = "nearest") -> AttentionMaps:
        """Upsample ``(N, heads, h, w)`` patch-grid attention to the input images' size.

        ``mode="nearest"`` keeps each patch's value on all its pixels, as DINO's own
        visualisation does, so no spatial detail finer than a patch is invented.
        """
        height, width = images[0].height, images[0].width
        kwargs = {} if mode == "nearest" else {"align_corners": False}
        maps = F.interpolate(grid.float(), size=(height, width), mode=mode, **kwargs)
        return cls(maps, list(images), block)

    def __len__(self):
        return self.maps.shape[0]

    def on_original(self, index: int = 0, mode: str = "nearest") -> np.ndarray:
        """The maps of image ``index`` resampled onto the pixels of the image as loaded.

        Every original pixel centre is mapped through the image's geometry to the model
        input and the map is sampled there; pixels that the preprocessing cropped away
        are NaN.

        Returns
        -------
        numpy.ndarray
            ``(heads, H0, W0)`` float32.
        """
        image = self.images[index]
        h0, w0 = image.original_shape
        ys, xs = np.mgrid[0:h0, 0:w0] + 0.5
        xo, yo = image.geometry.points_from_original(xs, ys)
        h, w = self.maps.shape[-2:]
        grid = torch.from_numpy(np.stack([2 * xo / w - 1, 2 * yo / h - 1], axis=-1)).float()
        sampled = F.grid_sample(self.maps[index:index + 1], grid[None], mode=mode,
                                align_corners=False)[0].numpy()
        outside = (xo < 0) | (xo > w) | (yo < 0) | (yo > h)
        sampled[:, outside] = np.nan
        return sampled.astype(np.float32)

    def levels(self, index: int = 0, percentile: float = 90.0) -> np.ndarray:
        """Per-head contour level: the ``percentile`` of the head's map on the input."""
        if not 0 <= percentile < 100:
            raise ConfigError(f"percentile={percentile!r}: give a value in [0, 100).")
        maps = self.maps[index].flatten(1).numpy()
        return np.percentile(maps, percentile, axis=1)


def plot_attention(image, maps: AttentionMaps, index: int = 0, percentile: float = 90.0,
                   heads=None, ax=None, cmap: str = "gray"):
    """Overlay attention contours on the original image.

    Each head's map is drawn on the original pixels (see
    :meth:`AttentionMaps.on_original`) as one contour at its ``percentile`` level (the
    paper used the 90th), over the image shown with an asinh stretch on a zscale
    interval (:mod:`astropy.visualization`). With a WCS and no ``ax``, the axes show
    sky coordinates.

    Parameters
    ----------
    image : AstroImage
        The image as loaded (before preprocessing).
    maps : AttentionMaps
        Attention from :meth:`astrofm.features.Adapted.attention`.
    index : int
        Which image of the batch ``maps`` belongs to.
    percentile : float
        Contour level per head, as a percentile of its map.
    heads : sequence of int, optional
        Heads to draw; all by default.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    cmap : str
        Colour map of the image.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval

    data = image.data if image.data.ndim == 2 else image.data.mean(axis=0)
    if data.shape != tuple(maps.images[index].original_shape):
        raise ConfigError(
            f"{image.source}: image shape {data.shape} is not the original shape "
            f"{tuple(maps.images[index].original_shape)} the attention maps belong to; "
            "pass the image as loaded, before preprocessing."
        )
    if ax is None:
        projection = image.wcs if image.wcs is not None and not image.display else None
        ax = plt.figure(figsize=(6, 6)).add_subplot(projection=projection)
    shown = np.where(image.mask if image.mask.ndim == 2 else image.mask.any(0), np.nan, data)
    norm = ImageNormalize(shown[np.isfinite(shown)], interval=ZScaleInterval(),
                          stretch=AsinhStretch())
    # FITS rows run from the bottom of the sky; display images from the top.
    origin = "upper" if image.display else "lower"
    ax.imshow(shown, cmap=cmap, norm=norm, origin=origin)
    on_original = maps.on_original(index)
    levels = maps.levels(index, percentile)
    heads = range(on_original.shape[0]) if heads is None else heads
    colours = plt.get_cmap("tab10")
    for k, head in enumerate(heads):
        ax.contour(on_original[head], levels=[levels[head]], colors=[colours(k % 10)],
                   linewidths=1.0, origin=origin)
    ax.set_title(f"class-token attention, block {maps.block}, {percentile:g}th percentile")
    return ax
