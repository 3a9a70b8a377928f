"""The image type every part of astrofm passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from astrofm.errors import ImageShapeError
from astrofm.geometry import Geometry

__all__ = ["AstroImage", "Deferred"]


class Deferred:
    """A value computed on first use, once: ``make(*args)``.

    Deferred arguments are computed first, so a chain of deferred values (a WCS, then
    the WCS after each crop or resize) costs nothing until its end is asked for.
    ``make`` must be a module-level function or a bound method, so the value pickles
    into DataLoader workers.
    """

    def __init__(self, make, *args):
        self._make, self._args, self._done, self._value = make, args, False, None

    def value(self):
        """The value, computed now if it has not been yet."""
        if not self._done:
            args = [a.value() if isinstance(a, Deferred) else a for a in self._args]
            self._value, self._done = self._make(*args), True
            self._make, self._args = None, ()
        return self._value


class _Lazy:
    """A dataclass field that may hold a :class:`Deferred`, computed when first read."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return None  # the field's default
        value = obj.__dict__[self.slot]
        if isinstance(value, Deferred):
            value = obj.__dict__[self.slot] = value.value()
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value


_LAZY = ("wcs", "original_wcs")


@dataclass
class AstroImage:
    """An astronomical image with its mask, WCS, header and processing history.

    Parameters
    ----------
    data : numpy.ndarray
        float32 array of shape ``(H, W)`` or ``(C, H, W)``.
    mask : numpy.ndarray
        Boolean array of the same shape as ``data``; True marks an invalid pixel
        (BLANK, NaN, inf, or outside the footprint of a reprojected band).
    wcs : astropy.wcs.WCS or None
        Celestial 2-D WCS of the current pixel grid. Readers pass a
        :class:`Deferred` so that the WCS is built from the header only when it is
        first read (building one costs more than reading a small cutout); steps that
        crop or resize defer their change of the WCS the same way.
    header : astropy.io.fits.Header or None
        Header of the HDU the data came from.
    unit : astropy.units.UnitBase or None
        Unit of the pixel values (from BUNIT).
    source : str
        Where the image came from: a path, ``"<array>"``, ``"<HDU>"`` ...
    hdu : int, str or None
        The HDU index or name read, for FITS sources.
    display : bool
        True for 8-bit display images (PNG/JPEG), which are already stretched.
    geometry : Geometry
        Map from this image's pixels to the pixels of the image as loaded.
    original_shape : tuple of int
        ``(H, W)`` of the image as loaded.
    original_wcs : astropy.wcs.WCS or None
        WCS of the image as loaded.
    history : list of dict
        The preprocessing steps applied, each as its :meth:`to_dict` form.
    """

    data: np.ndarray
    mask: np.ndarray | None = None
    wcs: object = _Lazy()
    header: object = None
    unit: object = None
    source: str = "<array>"
    hdu: int | str | None = None
    display: bool = False
    geometry: Geometry = field(default_factory=Geometry)
    original_shape: tuple[int, int] | None = None
    original_wcs: object = _Lazy()
    history: list = field(default_factory=list)

    def __post_init__(self):
        data = np.asarray(self.data)
        if data.ndim not in (2, 3):
            raise ImageShapeError(
                f"{self.source}: image data must be (H, W) or (C, H, W); got shape {data.shape}."
            )
        if data.dtype != np.float32:
            data = data.astype(np.float32)
        self.data = data
        if self.mask is None:
            self.mask = ~np.isfinite(data)
        else:
            mask = np.asarray(self.mask, dtype=bool)
            if mask.shape != data.shape:
                mask = np.broadcast_to(mask, data.shape).copy()
            self.mask = mask
        if self.original_shape is None:
            self.original_shape = tuple(data.shape[-2:])
        if self._original_wcs is None:
            self._original_wcs = self._wcs

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return self.data.shape

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.data.shape[-2]

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.data.shape[-1]

    @property
    def n_channels(self) -> int:
        """1 for a 2-D image, ``C`` for ``(C, H, W)``."""
        return 1 if self.data.ndim == 2 else self.data.shape[0]

    @property
    def valid(self) -> np.ndarray:
        """The finite, unmasked pixel values as a 1-D array."""
        return self.data[~self.mask]

    def evolve(self, **changes) -> AstroImage:
        """A copy with some fields replaced (the arrays are not copied)."""
        # replace() reads every field it is not given; a deferred WCS stays deferred.
        kept = {name: self.__dict__["_" + name] for name in _LAZY if name not in changes}
        return replace(self, **kept, **changes)

    def with_step(self, step: dict, data, mask=None, geometry: Geometry | None = None):
        """The image after one preprocessing step.

        ``geometry`` is the step's own map (output to input); it is composed with the
        image's and applied to the WCS.
        """
        changes = {"data": data, "history": [*self.history, step]}
        changes["mask"] = mask if mask is not None else np.broadcast_to(self.mask, np.shape(data))
        if geometry is not None and not geometry.is_identity:
            changes["geometry"] = self.geometry.then(geometry)
            if self._wcs is not None:
                changes["wcs"] = Deferred(geometry.transform_wcs, self._wcs,
                                          tuple(np.shape(data)[-2:]))
        return self.evolve(**changes)

    def to_original(self, boxes):
        """Map boxes ``(N, 4)`` on this image to the pixels of the image as loaded."""
        return self.geometry.to_original(boxes)

    def to_sky(self, x, y):
        """Sky coordinates of points ``x, y`` (edge convention) on this image.

        Returns
        -------
        astropy.coordinates.SkyCoord
        """
        from astrofm.errors import ConfigError

        if self.original_wcs is None:
            raise ConfigError(
                f"{self.source}: the image has no celestial WCS, so pixels cannot be mapped "
                "to the sky; load a FITS file whose header has one."
            )
        xo, yo = self.geometry.points_to_original(x, y)
        return self.original_wcs.pixel_to_world(xo - 0.5, yo - 0.5)

    def __repr__(self):
        unit = f", unit={self.unit}" if self.unit is not None else ""
        wcs = ", wcs" if self.wcs is not None else ""
        return f"<AstroImage {self.source} shape={self.shape}{unit}{wcs}>"
