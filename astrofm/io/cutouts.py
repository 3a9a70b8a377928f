"""Cutouts by pixel or sky position, through astropy's Cutout2D, keeping geometry and WCS."""

from __future__ import annotations

import numpy as np

from astrofm.errors import BoxError, ConfigError
from astrofm.geometry import Geometry
from astrofm.image import AstroImage

__all__ = ["cutout"]

_MODES = ("trim", "partial", "strict")


def cutout(image, position, size, *, mode: str = "trim") -> AstroImage:
    """Cut a rectangle out of an image with :class:`astropy.nddata.Cutout2D`.

    Parameters
    ----------
    image : AstroImage or anything :func:`~astrofm.io.load` accepts
        The image; ``(C, H, W)`` images are cut on every channel alike.
    position : tuple of float or astropy.coordinates.SkyCoord
        Centre of the cutout: ``(x, y)`` in pixels in astrofm's edge convention
        (pixel ``i`` covers ``[i, i + 1)``, so the centre of a ``W x H`` image is
        ``(W / 2, H / 2)``; see :mod:`astrofm.geometry`), as for
        ``CropToBox(position=...)``, or a sky position, which needs the image's WCS.
        (Cutout2D itself puts pixel centres at integers; the half-pixel shift is
        made here.)
    size : int, tuple, or astropy.units.Quantity
        ``n`` or ``(ny, nx)`` pixels, or an angle (or a pair of them, ``(ny, nx)``),
        which needs the WCS. Pixel sizes are rounded as Cutout2D rounds them.
    mode : {"trim", "partial", "strict"}
        What happens where the rectangle leaves the image: "trim" keeps only the
        overlap, "partial" keeps the full size and masks the pixels outside (their
        data are NaN), "strict" raises :class:`~astrofm.errors.BoxError`.

    Returns
    -------
    AstroImage
        The cutout, with Cutout2D's WCS and a ``geometry`` that composes
        ``Geometry.crop(x0, y0)``, where ``(x0, y0)`` is the input pixel at the
        cutout's first pixel, so results map back to the input (and the image as
        loaded). ``history`` gains a ``{"step": "Cutout", ...}`` entry whose ``box`` is the
        cutout's ``(x0, y0, x1, y1)`` on the input (edge convention).

    Raises
    ------
    BoxError
        Position outside the image, a size of zero or less, or (mode "strict") a
        rectangle not wholly inside the image.
    ConfigError
        A sky position or angular size for an image without WCS, or an unknown mode.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D
    from astropy.nddata.utils import NoOverlapError, PartialOverlapError

    from astrofm.io.loader import load

    image = load(image)
    if mode not in _MODES:
        raise ConfigError(f"cutout: mode={mode!r} is not one of {', '.join(_MODES)}.")
    position, size = _check_args(image, position, size)
    plane = image.data.reshape(-1, *image.shape[-2:])[0]
    centre = position if isinstance(position, SkyCoord) else (
        position[0] - 0.5, position[1] - 0.5)
    try:
        cut = Cutout2D(plane, centre, size, wcs=image.wcs, mode=mode,
                       fill_value=np.nan, copy=False)
    except (NoOverlapError, PartialOverlapError, ValueError) as exc:
        # Cutout2D raises a plain ValueError for a sky position the projection cannot
        # place (NaN pixels), which is outside the image too.
        partial = isinstance(exc, PartialOverlapError)
        raise BoxError(
            f"{image.source}: the cutout at position={_describe(position)} with "
            f"size={_describe(size)} "
            f"{'is not wholly inside' if partial else 'lies outside'} the image of shape "
            f"{image.shape} (x in [0, {image.width}), y in [0, {image.height})). "
            + ("Use mode='trim' or 'partial' to allow that." if partial else
               "Check the position.")
        ) from None
    x0 = cut.origin_original[0] - cut.slices_cutout[1].start
    y0 = cut.origin_original[1] - cut.slices_cutout[0].start
    data = _extract(image.data, cut, np.nan)
    mask = _extract(image.mask, cut, True)
    step = {
        "step": "Cutout",
        "position": _describe(position),
        "size": _describe(size),
        "mode": mode,
        "box": [int(x0), int(y0), int(x0 + cut.shape[1]), int(y0 + cut.shape[0])],
    }
    out = image.with_step(step, data, mask, Geometry.crop(x0, y0))
    # Cutout2D also moves the SIP reference pixel and sets the pixel shape.
    return out.evolve(wcs=cut.wcs)


def _extract(array, cut, fill):
    lead = array.shape[:-2]
    out = np.full((*lead, *cut.shape), fill, dtype=array.dtype)
    out[(..., *cut.slices_cutout)] = array[(..., *cut.slices_original)]
    return out


def _check_args(image, position, size):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        if image.wcs is None:
            raise ConfigError(
                f"{image.source}: position is a SkyCoord but the image has no WCS; give "
                "the position in pixels (x, y)."
            )
        if not position.isscalar:
            raise BoxError(f"{image.source}: position must be one SkyCoord, not an array.")
    else:
        try:
            position = tuple(float(v) for v in position)
        except (TypeError, ValueError):
            position = ()
        if len(position) != 2 or not np.all(np.isfinite(position)):
            raise BoxError(
                f"{image.source}: position={position!r} must be (x, y) in pixels or a "
                "SkyCoord."
            )
    is_pair = isinstance(size, tuple | list) or (isinstance(size, np.ndarray) and size.ndim)
    sizes = list(size) if is_pair else [size]
    if not 1 <= len(sizes) <= 2:
        raise BoxError(f"{image.source}: size={size!r} must be n or (ny, nx).")
    for s in sizes:
        if isinstance(s, u.Quantity) and s.unit.physical_type == "angle" and image.wcs is None:
            raise ConfigError(
                f"{image.source}: size={size!r} is an angle but the image has no WCS; "
                "give the size in pixels."
            )
        try:
            value = float(s.value if isinstance(s, u.Quantity) else s)
        except (TypeError, ValueError):
            raise BoxError(
                f"{image.source}: size={size!r} must be a number of pixels or an angle."
            ) from None
        if not np.isfinite(value) or value <= 0:
            raise BoxError(
                f"{image.source}: size={size!r} must be positive; a cutout needs at "
                f"least one pixel (image shape {image.shape})."
            )
        if not isinstance(s, u.Quantity) and round(float(value)) < 1:
            raise BoxError(
                f"{image.source}: size={size!r} rounds to zero pixels; give at least 1."
            )
    return position, size


def _describe(value):
    """A JSON-friendly form of a position or size, for messages and history."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if isinstance(value, SkyCoord):
        icrs = value.icrs
        return {"ra_deg": float(icrs.ra.deg), "dec_deg": float(icrs.dec.deg)}
    if isinstance(value, u.Quantity):
        return value.to_string() if value.isscalar else [q.to_string() for q in value]
    if isinstance(value, tuple | list | np.ndarray):
        return [_describe(v) for v in value]
    return float(value)
