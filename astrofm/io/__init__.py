"""Readers: FITS, raster images, arrays and NDData to :class:`~astrofm.image.AstroImage`.

:func:`load` is the entry point (also ``astrofm.load``); :func:`cutout` cuts by pixel
or sky position (also ``astrofm.cutout``). The other functions are the readers
``load`` dispatches to, for callers that know what they hold.
"""

from astrofm.io.arrays import from_array, from_nddata
from astrofm.io.bands import stack_bands
from astrofm.io.cutouts import cutout
from astrofm.io.fits import read_fits
from astrofm.io.headers import parse_unit
from astrofm.io.loader import load
from astrofm.io.raster import read_raster

__all__ = [
    "load",
    "cutout",
    "read_fits",
    "read_raster",
    "from_array",
    "from_nddata",
    "stack_bands",
    "parse_unit",
]
