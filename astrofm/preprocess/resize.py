"""Resizing to a grid of whole patches, with torch's interpolation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from astrofm.errors import AstrofmWarning, ConfigError, ImageShapeError
from astrofm.geometry import Geometry
from astrofm.preprocess.base import Step, check_choice
from astrofm.preprocess.sources import central_source_box
from astrofm.threads import one_thread

__all__ = ["ResizeForPatch"]

# Interpolation name -> torch mode. "nearest-exact" samples pixel centres, which is
# what the edge convention of astrofm.geometry assumes; torch's "nearest" is off by
# half a pixel.
_MODES = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest-exact",
          "area": "area"}


def _positive_int(value, name):
    if value is None:
        return None
    if int(value) != value or value < 1:
        raise ConfigError(f"{name} must be a positive int or None; got {value!r}.")
    return int(value)


def _round_to(n, patch):
    """``n`` rounded to the nearest multiple of ``patch`` (half up), at least one patch."""
    return max(patch, math.floor(n / patch + 0.5) * patch)


def _as_tensor(array):
    """A tensor sharing memory with ``array`` where numpy allows it."""
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).copy()
    return torch.from_numpy(array)


class ResizeForPatch(Step):
    r"""Resize so that each side is a whole number of patches.

    The output size :math:`(H', W')` is chosen as follows:

    * ``size`` given: that size (an int or ``(h, w)``), which must be a multiple of
      ``patch_size``;
    * otherwise the input size, scaled up by :math:`N p / s` when
      ``min_patches_per_source`` :math:`N` is given and the source spans :math:`s`
      pixels (``source_size``, or ``"auto"``: the larger side of the bounding box of the
      source nearest the centre, found by segmentation as in
      :class:`~astrofm.preprocess.CropToSource`), so that the source spans at least
      :math:`N` patches of :math:`p` pixels; each side is then rounded to the nearest
      multiple of :math:`p`, at least one patch;
    * ``max_size`` caps the longer side: the target is scaled down to it before the
      rounding (keeping the aspect ratio), and no side exceeds it after.

    The float data are interpolated with ``torch.nn.functional.interpolate``
    (``align_corners=False``, which matches the edge pixel convention), with
    antialiasing when bilinear shrinks an axis and always for bicubic (torch's
    antialiased bicubic is PIL's, the kernel torchvision's ``Resize`` and most
    backbones' training pipelines use, in both directions); the mask is resized with
    nearest-neighbour sampling of pixel centres, and masked pixels are set to 0 before
    interpolating so that NaNs do not spread. Bicubic interpolation overshoots near
    sharp edges (a few per cent after a sigma clip); with ``clamp=True`` its output is
    clamped to the input's range, so a [0, 1] stretch stays in [0, 1]. The map is
    recorded with :meth:`Geometry.resize`.

    Parameters
    ----------
    patch_size : int or None
        Patch size :math:`p` of the backbone; None leaves the size unrounded.
    size : int or (int, int), optional
        Fixed output size ``(h, w)``.
    min_patches_per_source : int, optional
        :math:`N`, the least number of patches the source should span.
    source_size : float or "auto", optional
        :math:`s` in pixels, or ``"auto"`` to measure it on each image.
    interpolation : {"bicubic", "bilinear", "nearest", "area"}
        Interpolation of the data.
    max_size : int, optional
        Cap on the longer output side.
    clamp : bool
        Clamp bicubic output to the input's minimum and maximum.
    nsigma, npixels : float, int
        Detection settings of ``source_size="auto"``.

    Raises
    ------
    ImageShapeError
        For an image with a side of fewer than 2 pixels.
    """

    def __init__(self, patch_size=14, size=None, *, min_patches_per_source=None,
                 source_size=None, interpolation="bicubic", max_size=None, clamp=True,
                 nsigma=3.0, npixels=10):
        self.patch_size = _positive_int(patch_size, "patch_size")
        check_choice("interpolation", interpolation, _MODES)
        self.interpolation = interpolation
        if size is not None:
            pair = (size, size) if np.isscalar(size) else tuple(size)
            if len(pair) != 2:
                raise ConfigError(f"size must be an int or (h, w); got {size!r}.")
            size = tuple(_positive_int(v, "size") for v in pair)
            p = self.patch_size
            if p is not None and any(v % p for v in size):
                raise ConfigError(
                    f"size {size} is not a multiple of patch_size {p}; use e.g. "
                    f"{tuple(_round_to(v, p) for v in size)} or size=None."
                )
        self.size = size
        self.min_patches_per_source = _positive_int(
            min_patches_per_source, "min_patches_per_source"
        )
        if self.min_patches_per_source is not None:
            if size is not None:
                raise ConfigError(
                    "give either size or min_patches_per_source to ResizeForPatch, not both: "
                    "a fixed size cannot also guarantee the source's patch count."
                )
            if self.patch_size is None:
                raise ConfigError("min_patches_per_source needs a patch_size.")
            if source_size is None:
                raise ConfigError(
                    "min_patches_per_source needs source_size (pixels, or 'auto' to measure it)."
                )
        if source_size is not None and source_size != "auto":
            if not np.isfinite(source_size) or source_size <= 0:
                raise ConfigError(f"source_size must be positive or 'auto'; got {source_size!r}.")
            source_size = float(source_size)
        self.source_size = source_size
        self.max_size = _positive_int(max_size, "max_size")
        if self.max_size is not None and self.patch_size and self.max_size < self.patch_size:
            raise ConfigError(f"max_size {max_size} is smaller than one patch ({patch_size}).")
        self.clamp = bool(clamp)
        self.nsigma = float(nsigma)
        self.npixels = int(npixels)

    def get_config(self):
        config = {"patch_size": self.patch_size, "size": self.size and list(self.size)}
        if self.min_patches_per_source is not None:
            config["min_patches_per_source"] = self.min_patches_per_source
        if self.source_size is not None:
            config["source_size"] = self.source_size
        config["interpolation"] = self.interpolation
        config["clamp"] = self.clamp
        if self.max_size is not None:
            config["max_size"] = self.max_size
        if self.source_size == "auto":
            config.update(nsigma=self.nsigma, npixels=self.npixels)
        return config

    def _source_pixels(self, image):
        if self.source_size != "auto":
            return self.source_size
        box = central_source_box(image.data, image.mask, nsigma=self.nsigma,
                                 npixels=self.npixels)
        if box is None:
            warnings.warn(
                f"{image.source}: ResizeForPatch(source_size='auto') found no source; the "
                "image is not enlarged for it.",
                AstrofmWarning,
                stacklevel=4,
            )
            return None
        return max(box[2] - box[0], box[3] - box[1])

    def output_shape(self, image):
        """The output ``(H', W')`` for ``image`` (see the class docstring)."""
        h, w = image.height, image.width
        if min(h, w) < 2:
            raise ImageShapeError(
                f"{image.source}: an image of shape {image.shape} has a side under 2 pixels "
                "and cannot be resized meaningfully; check the file or the crop before it."
            )
        if self.size is not None:
            return self.size
        p = self.patch_size
        th, tw = float(h), float(w)
        if self.min_patches_per_source is not None:
            s = self._source_pixels(image)
            if s is not None:
                scale = max(1.0, self.min_patches_per_source * p / s)
                th, tw = th * scale, tw * scale
        if self.max_size is not None and max(th, tw) > self.max_size:
            # Scale before rounding, so the aspect ratio survives the cap.
            scale = self.max_size / max(th, tw)
            th, tw = th * scale, tw * scale
        if p is None:
            out = [max(1, round(th)), max(1, round(tw))]
        else:
            out = [_round_to(th, p), _round_to(tw, p)]
        if self.max_size is not None:
            # Rounding to the nearest patch may step over the cap; step back under it.
            cap = self.max_size if p is None else max(p, self.max_size // p * p)
            out = [min(v, cap) for v in out]
        return tuple(out)

    def apply(self, image):
        out_shape = self.output_shape(image)
        in_shape = (image.height, image.width)
        if out_shape == in_shape:
            return self._record(image, image.data, image.mask)
        data, mask = image.data, image.mask
        has_mask = bool(mask.any())
        if has_mask:
            data = np.where(mask, np.float32(0.0), data)
        mode = _MODES[self.interpolation]
        shrinking = out_shape[0] < in_shape[0] or out_shape[1] < in_shape[1]
        kwargs = {}
        if mode in ("bilinear", "bicubic"):
            # Bicubic always takes torch's separable antialiased kernel: PIL's bicubic
            # (Keys a = -0.5), as torchvision's Resize gives, and twice as fast as the
            # plain one. For bilinear upsampling both kernels agree; plain is faster.
            aa = shrinking or mode == "bicubic"
            kwargs = {"align_corners": False, "antialias": aa}
        lead = data.shape[:-2]
        x = _as_tensor(data).reshape(1, -1, *in_shape)
        with one_thread():
            out = F.interpolate(x, size=out_shape, mode=mode, **kwargs)
            if self.clamp and mode == "bicubic":
                # Per plane, so a channel's range does not depend on the other channels.
                lo = x.amin(dim=(-2, -1), keepdim=True)
                hi = x.amax(dim=(-2, -1), keepdim=True)
                out.clamp_(lo, hi)
            out = out.reshape(*lead, *out_shape).numpy()
            if has_mask:
                m = _as_tensor(mask.view(np.uint8)).reshape(1, -1, *in_shape)
                out_mask = F.interpolate(m, size=out_shape, mode="nearest-exact")
                out_mask = out_mask.reshape(*lead, *out_shape).numpy().astype(bool)
            else:
                out_mask = np.zeros(out.shape, dtype=bool)
        return self._record(image, out, out_mask, Geometry.resize(in_shape, out_shape))
