"""Arrays to images: shape rules, plane selection, dtype and value checks.

Every reader ends in :func:`make_image`, so the rules on what an image may be (its
dtype, its size, at least one finite pixel) are stated once, here.
"""

from __future__ import annotations

import operator

import numpy as np

from astrofm.errors import (
    AstrofmWarning,
    ConfigError,
    ImageShapeError,
    ImageValueError,
)
from astrofm.image import AstroImage
from astrofm.io.headers import celestial_wcs, warn_user

__all__ = ["from_array", "from_nddata", "make_image", "plane_index"]


def plane_index(shape, plane, *, source: str, channels: bool):
    """The index that picks the image out of an array of ``shape``.

    The last two axes are always ``(H, W)``; the axes ahead of them are *plane axes*.
    Plane axes of length 1 (radio images stored as ``(1, 1, H, W)``) are dropped.

    Parameters
    ----------
    shape : tuple of int
        Shape of the stored array (numpy order).
    plane : int, tuple of int or None
        Which plane to read. An int, or a tuple with one index per plane axis of
        length > 1 (or one per plane axis, degenerate ones included).
    source : str
        Name used in error messages.
    channels : bool
        What to do with one non-degenerate plane axis when ``plane`` is None: keep it
        as channels (arrays) or refuse and ask for ``plane`` (FITS cubes).

    Returns
    -------
    tuple
        An index for ``array[index]`` that gives ``(H, W)`` or ``(C, H, W)``.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        raise ImageShapeError(
            f"{source}: an image needs two axes (H, W); got shape {shape}. "
            "Reshape the array to (H, W) before loading it."
        )
    lead = shape[:-2]
    real = [i for i, n in enumerate(lead) if n != 1]
    if plane is None:
        index = [0] * len(lead)
        if not real:
            return tuple(index) + (slice(None), slice(None))
        if channels and len(real) == 1:
            index[real[0]] = slice(None)
            return tuple(index) + (slice(None), slice(None))
        sizes = " x ".join(str(lead[i]) for i in real)
        hint = "plane=k" if len(real) == 1 else f"plane=({', '.join('ijklmn'[: len(real)])})"
        error = ConfigError if not channels else ImageShapeError
        raise error(
            f"{source}: the data have shape {shape}, i.e. {sizes} planes of "
            f"{shape[-2]} x {shape[-1]} pixels; pass {hint} (0-based, numpy axis order) "
            "to choose one."
        )
    picks = (plane,) if np.ndim(plane) == 0 else tuple(plane)
    if not real:
        raise ConfigError(
            f"{source}: plane={plane!r} was given but the data {shape} hold a single "
            "plane; drop the plane argument."
        )
    if len(picks) == len(real) and len(real) != len(lead):
        axes = real
    elif len(picks) == len(lead):
        axes = list(range(len(lead)))
    else:
        raise ConfigError(
            f"{source}: plane={plane!r} has {len(picks)} index(es) but the data "
            f"{shape} have {len(real)} plane axes of length > 1 ({len(lead)} in all); "
            "give one index per plane axis."
        )
    index = [0] * len(lead)
    for axis, pick in zip(axes, picks, strict=True):
        try:
            pick = operator.index(pick)
        except TypeError:
            raise ConfigError(
                f"{source}: plane={plane!r} must hold integers; got {pick!r}."
            ) from None
        if not -lead[axis] <= pick < lead[axis]:
            raise ConfigError(
                f"{source}: plane={plane!r} is out of range for plane axis {axis} of "
                f"length {lead[axis]} (data shape {shape})."
            )
        index[axis] = pick
    return tuple(index) + (slice(None), slice(None))


def make_image(data, *, source: str, mask=None, **fields) -> AstroImage:
    """Check ``data`` and wrap it in an :class:`~astrofm.image.AstroImage`.

    Parameters
    ----------
    data : array_like
        ``(H, W)`` or ``(C, H, W)`` values of a real numeric or bool dtype.
    source : str
        Name used in error messages and stored on the image.
    mask : array_like of bool, optional
        True where a pixel is invalid; combined with the non-finite pixels.
    **fields
        Further :class:`~astrofm.image.AstroImage` fields (wcs, header, unit ...).

    Returns
    -------
    AstroImage
        float32 data; non-finite values are stored as NaN and are True in the mask.
        The mask is authoritative: masked pixels from ``mask`` keep their values.

    Raises
    ------
    ImageShapeError
        A complex or non-numeric dtype, a shape that is not 2-D or 3-D, or 0 pixels.
    ImageValueError
        No valid pixel at all.
    """
    data = np.asarray(data)
    if np.iscomplexobj(data):
        raise ImageShapeError(
            f"{source}: complex data ({data.dtype}) cannot be an image; pass np.abs(x), "
            "x.real or x.imag, whichever you mean."
        )
    if data.dtype.kind not in "biuf":
        raise ImageShapeError(
            f"{source}: data of dtype {data.dtype} cannot be an image; pass numbers."
        )
    if data.ndim not in (2, 3):
        raise ImageShapeError(
            f"{source}: image data must be (H, W) or (C, H, W); got shape {data.shape}."
        )
    if data.size == 0:
        raise ImageShapeError(
            f"{source}: the image has 0 pixels (shape {data.shape}); check the file or "
            "the slice that produced it."
        )
    with np.errstate(over="ignore"):  # overflow is reported below, as masked pixels
        values = data.astype(np.float32)  # always a copy, so memory maps can be closed
    bad = ~np.isfinite(values)
    if data.dtype.kind == "f" and data.dtype.itemsize > 4:
        overflow = int(np.count_nonzero(bad & np.isfinite(data)))
        if overflow:
            warn_user(
                f"{source}: {overflow} pixel(s) exceed the float32 range and are masked.",
                AstrofmWarning,
            )
    values[bad] = np.nan
    if mask is not None:
        bad = bad | np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)
    if bad.all():
        raise ImageValueError(
            f"{source}: no finite, unmasked pixels (all NaN, inf, BLANK or masked); "
            "there is nothing to process. Check the HDU or plane you asked for."
        )
    return AstroImage(values, mask=bad, source=source, **fields)


def from_array(array, *, plane=None, mask=None, wcs=None, unit=None,
               source: str = "<array>") -> AstroImage:
    """Make an image from a numpy array.

    Axis rules:

    - 2-D is ``(H, W)``.
    - 3-D is channel-first ``(C, H, W)``, except that an array whose last axis has
      length 3 or 4 and whose first axis is longer than 4 is taken to be
      channel-last ``(H, W, C)`` (the layout of PIL and matplotlib) and moved to
      ``(C, H, W)``. A fourth channel is a channel, not alpha.
    - Axes of length 1 ahead of ``(H, W)`` are dropped: ``(1, 1, H, W)`` is 2-D.
    - More than one axis of length > 1 ahead of ``(H, W)`` needs ``plane``.

    bool and integer arrays become float32; rows stay in stored order.

    Parameters
    ----------
    array : array_like
        The pixel values.
    plane : int or tuple of int, optional
        Index into the axes ahead of ``(H, W)`` (after the channel-last move), to
        pick a single 2-D plane.
    mask : array_like of bool, optional
        True where a pixel is invalid.
    wcs : astropy.wcs.WCS, optional
        WCS of the array; reduced to its celestial part.
    unit : astropy.units.UnitBase or str, optional
        Unit of the values.
    source : str
        Name stored on the image and used in messages.

    Returns
    -------
    AstroImage
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4:
        array = np.moveaxis(array, -1, 0)
        if mask is not None and np.ndim(mask) == 3:
            mask = np.moveaxis(np.asarray(mask), -1, 0)
    if array.size == 0:
        raise ImageShapeError(
            f"{source}: the image has 0 pixels (shape {array.shape}); check the array."
        )
    index = plane_index(array.shape, plane, source=source, channels=True)
    if mask is not None and np.ndim(mask) == array.ndim:
        mask = np.asarray(mask)[index]
    if unit is not None:
        import astropy.units as u

        unit = u.Unit(unit)
    return make_image(array[index], source=source, mask=mask,
                      wcs=celestial_wcs(wcs, source=source), unit=unit)


def from_nddata(nddata, *, plane=None, source: str | None = None) -> AstroImage:
    """Make an image from an :class:`astropy.nddata.NDData` (or ``CCDData``).

    Its ``mask``, ``wcs`` (reduced to the celestial part), ``unit`` and, when it is
    a FITS header, ``meta`` are used; ``uncertainty`` is not. The axis rules are
    those of :func:`from_array`, without the channel-last rule.

    Parameters
    ----------
    nddata : astropy.nddata.NDData
        The data.
    plane : int or tuple of int, optional
        As in :func:`from_array`.
    source : str, optional
        Name stored on the image; default ``"<NDData>"`` (or ``"<CCDData>"``).

    Returns
    -------
    AstroImage
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    source = source or f"<{type(nddata).__name__}>"
    data = np.asarray(nddata.data)
    index = plane_index(data.shape, plane, source=source, channels=True)
    mask = nddata.mask
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), data.shape)[index]
    wcs = nddata.wcs
    wcs = getattr(wcs, "low_level_wcs", wcs)
    if wcs is not None and not isinstance(wcs, WCS):
        warn_user(
            f"{source}: its WCS is a {type(wcs).__name__}, not an astropy.wcs.WCS; the "
            "image is loaded without a WCS.",
            AstrofmWarning,
        )
        wcs = None
    meta = getattr(nddata, "meta", None)
    header = meta if isinstance(meta, fits.Header) else None
    return make_image(data[index], source=source, mask=mask,
                      wcs=celestial_wcs(wcs, source=source), unit=nddata.unit,
                      header=header)
