"""Geometry kept through crops and resizes, so results map back to pixels and sky.

Coordinates follow the convention of torchvision and COCO: pixel ``i`` covers the
interval ``[i, i + 1)``, so a box ``(x0, y0, x1, y1)`` that covers the whole of an
``H x W`` image is ``(0, 0, W, H)``. astropy's WCS uses pixel *centres* at integers;
the conversion is ``x_astropy = x_edge - 0.5`` and is done here, nowhere else.

Every crop and resize is an axis-aligned affine map from output to input pixels,

.. math:: x_\\mathrm{in} = s_x\\, x_\\mathrm{out} + o_x, \\qquad
          y_\\mathrm{in} = s_y\\, y_\\mathrm{out} + o_y,

so a chain of steps composes into one :class:`Geometry`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from astropy.wcs import Sip

from astrofm.errors import BoxError

__all__ = ["Geometry"]


@dataclass(frozen=True)
class Geometry:
    """Affine map from the pixels of a processed image to the pixels of the original.

    Parameters
    ----------
    scale : tuple of float
        ``(s_x, s_y)``: input pixels per output pixel along x and y.
    offset : tuple of float
        ``(o_x, o_y)``: input coordinate of the output's ``(0, 0)`` corner.
    """

    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def crop(cls, x0: float, y0: float) -> Geometry:
        """Geometry of a crop whose first output pixel is input pixel ``(x0, y0)``."""
        return cls((1.0, 1.0), (float(x0), float(y0)))

    @classmethod
    def resize(cls, in_shape: tuple[int, int], out_shape: tuple[int, int]) -> Geometry:
        """Geometry of a resize from ``(H_in, W_in)`` to ``(H_out, W_out)`` pixels."""
        (h_in, w_in), (h_out, w_out) = in_shape, out_shape
        return cls((w_in / w_out, h_in / h_out), (0.0, 0.0))

    def then(self, later: Geometry) -> Geometry:
        """The geometry of applying ``self`` and then ``later`` to an image.

        ``later`` maps its output to its input (``self``'s output); the result maps
        ``later``'s output all the way back to ``self``'s input.
        """
        sx, sy = self.scale
        ox, oy = self.offset
        lx, ly = later.scale
        mx, my = later.offset
        return Geometry((sx * lx, sy * ly), (sx * mx + ox, sy * my + oy))

    @property
    def is_identity(self) -> bool:
        """True when the map does nothing."""
        return self.scale == (1.0, 1.0) and self.offset == (0.0, 0.0)

    def points_to_original(self, x, y):
        """Map points ``x, y`` (edge convention) on the output to the original image."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return self.scale[0] * x + self.offset[0], self.scale[1] * y + self.offset[1]

    def points_from_original(self, x, y):
        """Map points ``x, y`` (edge convention) on the original image to the output."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return (x - self.offset[0]) / self.scale[0], (y - self.offset[1]) / self.scale[1]

    def to_original(self, boxes):
        """Map boxes ``(N, 4)`` as ``(x0, y0, x1, y1)`` on the output to the original pixels."""
        b = _as_boxes(boxes)
        x0, y0 = self.points_to_original(b[:, 0], b[:, 1])
        x1, y1 = self.points_to_original(b[:, 2], b[:, 3])
        return np.stack([x0, y0, x1, y1], axis=1)

    def from_original(self, boxes):
        """Map boxes ``(N, 4)`` on the original pixels to the output pixels."""
        b = _as_boxes(boxes)
        x0, y0 = self.points_from_original(b[:, 0], b[:, 1])
        x1, y1 = self.points_from_original(b[:, 2], b[:, 3])
        return np.stack([x0, y0, x1, y1], axis=1)

    def transform_wcs(self, wcs, out_shape: tuple[int, int] | None = None):
        """Return the WCS of the output grid, given the WCS ``wcs`` of the input grid.

        The FITS linear transform is ``x = M (p - CRPIX)`` with 1-based pixels ``p``;
        substituting ``p_in = s p_out + c`` scales the columns of ``M`` by ``s`` and
        moves the reference pixel to ``(CRPIX - c) / s``. SIP distortion polynomials
        are in pixel offsets from their own reference pixel, which a crop moves with
        CRPIX; a resize would change them, so they are dropped when the map scales.

        Parameters
        ----------
        wcs : astropy.wcs.WCS or None
            WCS of the input grid.
        out_shape : tuple of int, optional
            ``(H, W)`` of the output, recorded as the new WCS's ``pixel_shape``.
        """
        if wcs is None or self.is_identity:
            return wcs
        new = copy.deepcopy(wcs)
        s = np.array(self.scale, dtype=float)
        o = np.array(self.offset, dtype=float)
        # Edge to 1-based FITS pixels: p = x_edge + 0.5, so p_in = s p_out + (o + 0.5 - 0.5 s).
        c = o + 0.5 - 0.5 * s
        new.wcs.crpix = (np.asarray(wcs.wcs.crpix, dtype=float) - c) / s
        if not np.allclose(s, 1.0):
            if wcs.wcs.has_cd():
                new.wcs.cd = np.asarray(wcs.wcs.cd, dtype=float) * s[np.newaxis, :]
            else:
                new.wcs.pc = np.asarray(wcs.wcs.get_pc(), dtype=float) * s[np.newaxis, :]
            new.sip = None
        elif wcs.sip is not None:
            sip = wcs.sip
            new.sip = Sip(sip.a, sip.b, sip.ap, sip.bp, np.asarray(sip.crpix, dtype=float) - c)
        new.wcs.set()
        if out_shape is not None:
            new.pixel_shape = (int(out_shape[1]), int(out_shape[0]))
        elif wcs.pixel_shape is not None and not np.allclose(s, 1.0):
            nx, ny = wcs.pixel_shape
            new.pixel_shape = (int(round(nx / s[0])), int(round(ny / s[1])))
        else:
            new.pixel_shape = None
        return new

    def to_dict(self) -> dict:
        """Plain-dict form, for storing with a model or in a table."""
        return {"scale": list(self.scale), "offset": list(self.offset)}

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(map(float, d["scale"])), tuple(map(float, d["offset"])))


def _as_boxes(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float)
    if b.ndim == 1:
        b = b[np.newaxis, :]
    if b.ndim != 2 or b.shape[1] != 4:
        raise BoxError(
            f"boxes must have shape (N, 4) as (x0, y0, x1, y1); got shape {np.shape(boxes)}."
        )
    return b
