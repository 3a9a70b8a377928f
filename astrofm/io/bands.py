"""Several images stacked as the channels of one image, reprojected when grids differ."""

from __future__ import annotations

import numpy as np

from astrofm.errors import AstrofmWarning, BandMismatchError, ConfigError
from astrofm.image import AstroImage
from astrofm.io.headers import warn_user

__all__ = ["stack_bands"]


def stack_bands(bands, *, hdu=None, plane=None) -> AstroImage:
    """Load several images and stack them as channels ``(C, H, W)``.

    The first band defines the grid. A band on another grid (a different shape, or
    a WCS that differs from the first band's) is reprojected onto the first band's
    WCS and shape with :func:`reproject.reproject_interp` (bilinear); pixels outside
    its footprint, or next to its own invalid pixels, are masked. Bands of the same
    shape are stacked as they are when either lacks a WCS, on the assumption that
    they share a grid; bands of different shapes without a WCS cannot be aligned and
    raise :class:`~astrofm.errors.BandMismatchError`.

    Parameters
    ----------
    bands : sequence
        Each item is anything :func:`~astrofm.io.load` accepts (a path, HDU, array,
        NDData, AstroImage), or a tuple ``(source, hdu)`` or ``(source, hdu, plane)``
        to read a given HDU or plane of that band. A band with several channels
        contributes all of them, in order.
    hdu, plane : optional
        Default ``hdu`` and ``plane`` for bands that do not give their own.

    Returns
    -------
    AstroImage
        ``(C, H, W)`` data (also for a single band). ``source``, ``hdu``, ``header``
        and ``wcs`` are those of the first band; ``unit`` is the bands' common unit,
        or None (with a warning) when they differ; ``display`` is True only if every
        band is an 8-bit display image.

    Raises
    ------
    ConfigError
        No bands.
    BandMismatchError
        Different shapes without WCS, or a band that does not overlap the first.
    """
    from astrofm.io.loader import load

    items = list(bands) if not isinstance(bands, (str, bytes)) else [bands]
    if not items:
        raise ConfigError("bands: the list is empty; pass at least one image.")
    images = []
    for item in items:
        source, band_hdu, band_plane = item, hdu, plane
        if isinstance(item, tuple):
            if not 2 <= len(item) <= 3:
                raise ConfigError(
                    f"bands: {item!r} must be a source or (source, hdu) or "
                    "(source, hdu, plane)."
                )
            source, band_hdu = item[0], item[1]
            band_plane = item[2] if len(item) == 3 else plane
        images.append(load(source, hdu=band_hdu, plane=band_plane))

    ref = images[0]
    datas, masks = [], []
    for i, image in enumerate(images):
        data, mask = _on_grid(image, ref, i)
        datas.append(data.reshape(-1, *data.shape[-2:]))
        masks.append(mask.reshape(-1, *mask.shape[-2:]))
    return AstroImage(
        np.concatenate(datas),
        mask=np.concatenate(masks),
        wcs=ref.wcs,
        header=ref.header,
        unit=_common_unit(images),
        source=ref.source,
        hdu=ref.hdu,
        display=all(image.display for image in images),
    )


def _label(i, image) -> str:
    return f"band {i} ({image.source}, {image.height}x{image.width})"


def _same_wcs(a, b) -> bool:
    from astropy.wcs import WCSCOMPARE_ANCILLARY

    return a.wcs.compare(b.wcs, cmp=WCSCOMPARE_ANCILLARY, tolerance=1e-10)


def _on_grid(image, ref, i):
    same_shape = image.shape[-2:] == ref.shape[-2:]
    if image.wcs is None or ref.wcs is None:
        if same_shape:
            return image.data, image.mask
        missing = [
            _label(j, im) for j, im in ((0, ref), (i, image)) if im.wcs is None
        ]
        raise BandMismatchError(
            f"bands: {_label(0, ref)} and {_label(i, image)} have different shapes and "
            f"{' and '.join(missing)} has no WCS to reproject with. Resample them onto "
            "one grid first, or give bands whose headers carry a celestial WCS."
        )
    if same_shape and _same_wcs(image.wcs, ref.wcs):
        return image.data, image.mask
    return _reproject(image, ref, i)


def _reproject(image, ref, i):
    from reproject import reproject_interp

    shape_out = ref.shape[-2:]
    values = np.where(image.mask, np.nan, image.data)
    data, mask = [], []
    for channel in values.reshape(-1, *values.shape[-2:]):
        out, footprint = reproject_interp(
            (channel, image.wcs), ref.wcs, shape_out=shape_out, order="bilinear"
        )
        bad = (footprint <= 0) | ~np.isfinite(out)
        out[bad] = np.nan
        data.append(out.astype(np.float32))
        mask.append(bad)
    mask = np.stack(mask)
    if mask.all():
        raise BandMismatchError(
            f"bands: {_label(i, image)} does not overlap {_label(0, ref)} on the sky; "
            "check that the bands show the same field."
        )
    return np.stack(data), mask


def _common_unit(images):
    units = {image.unit for image in images}
    if len(units) == 1:
        return units.pop()
    warn_user(
        f"bands: the bands have different units ({', '.join(map(str, units))}); the "
        "stacked image has unit=None.",
        AstrofmWarning,
    )
    return None
