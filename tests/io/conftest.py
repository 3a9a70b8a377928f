"""Generated fixtures for the reader tests: tiny FITS files, WCS grids, PNGs."""

import struct
import zlib

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from photutils.datasets import make_4gaussians_image

RA, DEC = 150.0, 2.0


def _sky_wcs(shape, scale_arcsec=1.0, crval=(RA, DEC)):
    """A TAN WCS centred on ``crval`` with square pixels of ``scale_arcsec``."""
    h, w = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = [(w + 1) / 2, (h + 1) / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    wcs.pixel_shape = (w, h)
    return wcs


def _write_fits(path, data, wcs=None, **cards):
    """Write ``data`` as a primary HDU with ``wcs`` and extra header cards."""
    header = wcs.to_header() if wcs is not None else fits.Header()
    for key, value in cards.items():
        header[key] = value
    fits.PrimaryHDU(data, header=header).writeto(path, overwrite=True)
    return path


def _write_png16_rgb(path, array):
    """Write an ``(H, W, 3)`` uint16 array as a 16-bit RGB PNG (PIL cannot write one)."""
    h, w, _ = array.shape
    rows = b"".join(b"\x00" + array[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind, payload):
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def gaussians():
    """photutils' four-Gaussian test image, float32 (100 x 200)."""
    return make_4gaussians_image().astype(np.float32)


@pytest.fixture
def fits_path(tmp_path, gaussians):
    """A FITS file of the Gaussian image with a TAN WCS and BUNIT = 'JY/BEAM'."""
    return _write_fits(tmp_path / "gauss.fits", gaussians, _sky_wcs(gaussians.shape),
                       BUNIT="JY/BEAM")


@pytest.fixture(scope="session")
def sky_wcs():
    """Factory: ``sky_wcs(shape, scale_arcsec=1.0, crval=(150, 2))`` gives a TAN WCS."""
    return _sky_wcs


@pytest.fixture(scope="session")
def write_fits():
    """Factory: ``write_fits(path, data, wcs=None, **cards)`` writes a primary HDU."""
    return _write_fits


@pytest.fixture(scope="session")
def write_png16_rgb():
    """Factory: ``write_png16_rgb(path, array)`` writes a 16-bit RGB PNG."""
    return _write_png16_rgb
