"""Crops to a given box or sky position, and to the source nearest the centre."""

from __future__ import annotations

import math
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.wcs.utils import proj_plane_pixel_scales

from astrofm.errors import AstrofmWarning, BoxError, ConfigError
from astrofm.geometry import Geometry
from astrofm.preprocess.base import Step, check_choice
from astrofm.preprocess.sources import central_source_box

__all__ = ["CropToBox", "CropToSource", "crop_image"]

# Box coordinates computed in floating point land a hair off integers; do not let
# that grow a crop by a whole pixel.
_EPS = 1e-6


def _margin_pixels(margin, width, height):
    """Margin ``(mx, my)`` in pixels: ``margin >= 1`` is pixels, ``0 <= margin < 1`` a fraction."""
    if not np.isfinite(margin) or margin < 0:
        raise ConfigError(f"margin must be a non-negative number; got {margin!r}.")
    if margin < 1:
        return margin * width, margin * height
    return float(margin), float(margin)


def _square_axis(start, length, side, n):
    """Start of a ``side``-long window that holds ``[start, start + length)`` on an axis of ``n``.

    The window grows evenly about the box, is shifted back inside ``[0, n)`` when it
    sticks out, and is centred on the axis (padding both ends) when ``side > n``.
    """
    if side > n:
        return -((side - n) // 2)
    start -= (side - length) // 2
    return min(max(start, 0), n - side)


def crop_image(step: Step, image, box, margin=0, square=True, argument="box"):
    """Crop ``image`` to ``box`` ``(x0, y0, x1, y1)`` (edge convention) as ``step`` does.

    See :class:`CropToBox` for the rules; ``argument`` names the box in error messages.
    """
    h, w = image.height, image.width
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(map(math.isfinite, (x0, y0, x1, y1))) or x1 <= x0 or y1 <= y0:
        raise BoxError(
            f"{image.source}: {argument} {tuple(box)} has zero or negative area; give "
            f"(x0, y0, x1, y1) with x1 > x0 and y1 > y0 (image shape {image.shape})."
        )
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise BoxError(
            f"{image.source}: {argument} {tuple(box)} lies outside the image of shape "
            f"{image.shape} (x in [0, {w}), y in [0, {h})); check the box or the position."
        )
    mx, my = _margin_pixels(margin, x1 - x0, y1 - y0)
    x0, y0, x1, y1 = max(x0 - mx, 0.0), max(y0 - my, 0.0), min(x1 + mx, w), min(y1 + my, h)
    ix0, iy0 = math.floor(x0 + _EPS), math.floor(y0 + _EPS)
    ix1, iy1 = max(math.ceil(x1 - _EPS), ix0 + 1), max(math.ceil(y1 - _EPS), iy0 + 1)
    if square:
        side = max(ix1 - ix0, iy1 - iy0)
        ix0 = _square_axis(ix0, ix1 - ix0, side, w)
        iy0 = _square_axis(iy0, iy1 - iy0, side, h)
        ix1, iy1 = ix0 + side, iy0 + side
    data, mask = _extract(image.data, image.mask, ix0, iy0, ix1, iy1)
    return step._record(image, data, mask, Geometry.crop(ix0, iy0))


def _extract(data, mask, x0, y0, x1, y1):
    """Copy of ``data[..., y0:y1, x0:x1]``, padded with masked zeros outside the image."""
    h, w = data.shape[-2:]
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return data[..., y0:y1, x0:x1].copy(), mask[..., y0:y1, x0:x1].copy()
    shape = (*data.shape[:-2], y1 - y0, x1 - x0)
    out = np.zeros(shape, dtype=data.dtype)
    out_mask = np.ones(shape, dtype=bool)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    inner = (..., slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
    out[inner] = data[..., sy0:sy1, sx0:sx1]
    out_mask[inner] = mask[..., sy0:sy1, sx0:sx1]
    return out, out_mask


def _size_pair(size):
    """``(ny, nx)`` and a unit (None for pixels) from a number, a pair, or a Quantity."""
    unit = None
    if isinstance(size, u.Quantity):
        if size.unit.physical_type not in ("angle", "dimensionless"):
            raise ConfigError(f"size must be in pixels or an angle; got {size}.")
        unit = None if size.unit.physical_type == "dimensionless" else size.unit
        size = size.value
    pair = np.broadcast_to(np.asarray(size, dtype=float), (2,))
    if not np.all(np.isfinite(pair)) or np.any(pair <= 0):
        raise ConfigError(f"size must be positive; got {size!r}.")
    return (float(pair[0]), float(pair[1])), unit


class CropToBox(Step):
    r"""Crop to a pixel box, or to a position (pixel or sky) and a size (pixels or angle).

    The box :math:`(x_0, y_0, x_1, y_1)` uses the edge convention (pixel :math:`i`
    covers :math:`[i, i+1)`); a position :math:`(x_c, y_c)` and size
    :math:`(n_y, n_x)` give :math:`(x_c - n_x/2,\ y_c - n_y/2,\ x_c + n_x/2,\ y_c +
    n_y/2)` with the size rounded to whole pixels and the corner to the nearest pixel
    edge, a SkyCoord being placed with the image's WCS and an angular size turned into
    pixels with its pixel scale. Then:

    1. the margin is added on every side: ``margin >= 1`` is a number of pixels,
       ``0 <= margin < 1`` a fraction of the box's width (left and right) and height
       (top and bottom);
    2. the box is clipped to the image and rounded outwards to whole pixels;
    3. with ``square=True`` the shorter side grows evenly to the longer one; the square
       is shifted back inside the image when it sticks out, and when it is longer than
       the image on an axis it is centred there and the part outside the image is
       padded with zeros that are **masked** (so statistics and stretches ignore them).

    The crop is recorded with :meth:`Geometry.crop`, so boxes found on the output map
    back to the input and the WCS follows. ``astropy.nddata.Cutout2D`` is not used:
    it handles 2-D data only and pads without a mask.

    Parameters
    ----------
    box : (x0, y0, x1, y1), optional
        Box in pixels, edge convention.
    position : SkyCoord or (x, y), optional
        Centre of the crop, on the sky or in pixels (edge convention).
    size : float, (ny, nx), or Quantity
        Size of the crop with ``position``: pixels, or an angle.
    margin : float
        Margin added around the box (pixels, or a fraction when below 1).
    square : bool
        Make the crop square (see above).

    Raises
    ------
    BoxError
        A box of zero area, or one outside the image.
    ConfigError
        Neither or both of ``box`` and ``position``; a sky position or angular size for
        an image without WCS.
    """

    def __init__(self, box=None, *, position=None, size=None, margin=0, square=True):
        if (box is None) == (position is None):
            raise ConfigError("CropToBox needs either box=(x0, y0, x1, y1) or position and size.")
        if position is not None and size is None:
            raise ConfigError("CropToBox(position=...) needs size (pixels or an angle).")
        _margin_pixels(margin, 1.0, 1.0)
        if box is not None:
            box = tuple(float(v) for v in np.asarray(box, dtype=float).ravel())
            if len(box) != 4:
                raise BoxError(f"box must be (x0, y0, x1, y1); got {box!r}.")
            size_pair, unit = None, None
        else:
            size_pair, unit = _size_pair(size)
            if not isinstance(position, SkyCoord):
                position = tuple(float(v) for v in np.asarray(position, dtype=float).ravel())
                if len(position) != 2:
                    raise ConfigError(f"position must be a SkyCoord or (x, y); got {position!r}.")
        self.box = box
        self.position = position
        self.size = size_pair
        self.unit = unit
        self.margin = float(margin)
        self.square = bool(square)

    def get_config(self):
        config = {}
        if self.box is not None:
            config["box"] = list(self.box)
        elif isinstance(self.position, SkyCoord):
            icrs = self.position.icrs
            config.update(ra=float(icrs.ra.deg), dec=float(icrs.dec.deg))
        else:
            config["position"] = list(self.position)
        if self.size is not None:
            config["size"] = list(self.size)
            config["size_unit"] = "pixel" if self.unit is None else self.unit.to_string()
        return {**config, "margin": self.margin, "square": self.square}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "ra" in config or "dec" in config:
            config["position"] = SkyCoord(config.pop("ra") * u.deg, config.pop("dec") * u.deg)
        unit = config.pop("size_unit", "pixel")
        if unit != "pixel" and "size" in config:
            config["size"] = np.asarray(config["size"], dtype=float) * u.Unit(unit)
        return cls(**config)

    def pixel_box(self, image):
        """The box ``(x0, y0, x1, y1)`` on ``image`` before margin and squaring."""
        if self.box is not None:
            return self.box
        needs_wcs = isinstance(self.position, SkyCoord) or self.unit is not None
        if needs_wcs and image.wcs is None:
            raise ConfigError(
                f"{image.source}: CropToBox with a sky position or an angular size needs a "
                "celestial WCS and the image has none; give position and size in pixels."
            )
        if isinstance(self.position, SkyCoord):
            xc, yc = (float(v) + 0.5 for v in image.wcs.world_to_pixel(self.position))
        else:
            xc, yc = self.position
        ny, nx = self.size
        if self.unit is not None:
            # wcslib normalises celestial axes to degrees, so the scales are deg/pixel (x, y).
            sx, sy = (proj_plane_pixel_scales(image.wcs.celestial) * u.deg).to_value(self.unit)
            nx, ny = nx / sx, ny / sy
        # Whole pixels, as a cutout of a given size: round the size, then the corner.
        nx, ny = max(1, round(nx)), max(1, round(ny))
        x0 = math.floor(xc - nx / 2 + 0.5 + _EPS)
        y0 = math.floor(yc - ny / 2 + 0.5 + _EPS)
        return (x0, y0, x0 + nx, y0 + ny)

    def apply(self, image):
        argument = "box" if self.box is not None else "position/size box"
        return crop_image(self, image, self.pixel_box(image), self.margin, self.square, argument)


class CropToSource(Step):
    r"""Crop to the source nearest the image centre, found by photutils segmentation.

    The detection threshold is :math:`t = \mu + n_\sigma\,\sigma_\mathrm{rms}` with
    the sigma-clipped mean and rms of the valid pixels; ``detect_sources`` finds the
    connected regions of at least ``npixels`` pixels above :math:`t` (on the mean of
    the channels for a ``(C, H, W)`` image). The segment that holds the pixel nearest
    the centre is chosen (``select="all"``: the union of all segments), and the image is
    cropped to its bounding box plus ``margin`` as :class:`CropToBox` does.

    This is the label-free close crop: for radio classification a close crop was the
    largest single gain in Lastufka et al.

    When no source is detected (an empty or constant image) the image is returned
    unchanged, with an :class:`~astrofm.errors.AstrofmWarning`; the step is still
    recorded in the history.

    Parameters
    ----------
    nsigma : float
        Detection threshold in units of the clipped rms.
    npixels : int
        Minimum number of connected pixels of a source.
    margin : float
        Margin around the source's box: pixels when >= 1, else a fraction of its size.
    square : bool
        Make the crop square (see :class:`CropToBox`).
    connectivity : {4, 8}
        Pixel connectivity of a segment.
    select : {"nearest", "all"}
        Keep the segment nearest the centre, or the box of every segment.
    """

    def __init__(self, nsigma=3.0, npixels=10, *, margin=0.2, square=True, connectivity=8,
                 select="nearest"):
        check_choice("CropToSource connectivity", connectivity, (4, 8))
        check_choice("CropToSource select", select, ("nearest", "all"))
        if int(npixels) != npixels or npixels < 1:
            raise ConfigError(f"npixels must be a positive int; got {npixels!r}.")
        _margin_pixels(margin, 1.0, 1.0)
        self.nsigma = float(nsigma)
        self.npixels = int(npixels)
        self.margin = float(margin)
        self.square = bool(square)
        self.connectivity = int(connectivity)
        self.select = select

    def get_config(self):
        return {
            "nsigma": self.nsigma, "npixels": self.npixels, "margin": self.margin,
            "square": self.square, "connectivity": self.connectivity, "select": self.select,
        }

    def source_box(self, image):
        """Bounding box ``(x0, y0, x1, y1)`` of the chosen source, or None."""
        return central_source_box(
            image.data, image.mask, nsigma=self.nsigma, npixels=self.npixels,
            connectivity=self.connectivity, select=self.select,
        )

    def apply(self, image):
        box = self.source_box(image)
        if box is None:
            warnings.warn(
                f"{image.source}: CropToSource found no source above {self.nsigma} sigma "
                f"with {self.npixels} pixels; the image is left uncropped.",
                AstrofmWarning,
                stacklevel=4,
            )
            return self._record(image, image.data, image.mask)
        return crop_image(self, image, box, self.margin, self.square, "source box")
