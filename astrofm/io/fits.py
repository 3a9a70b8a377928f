"""FITS reading: HDU choice, plane selection, BLANK/NaN masks, WCS, units, truncation.

Files are opened with astropy's default memory mapping and read through
``hdu.section``, so asking for one plane of a large cube reads that plane only, and
a tile-compressed HDU decompresses only the tiles it needs. (astropy refuses an
explicit ``memmap=True`` for scaled integer data, BZERO/BSCALE/BLANK; its default
maps the raw bytes and scales the slice that is read.)
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from astropy.io import fits

from astrofm.errors import (
    ConfigError,
    FileFormatError,
    ImageShapeError,
    NoImageDataError,
)
from astrofm.image import AstroImage
from astrofm.io.arrays import make_image, plane_index
from astrofm.io.headers import header_warnings, image_wcs, parse_unit

__all__ = ["read_fits", "is_image_hdu"]

_HDU_TYPES = (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, IndexError, zlib.error,
                gzip.BadGzipFile)


def is_image_hdu(hdu) -> bool:
    """True for an image HDU (primary, image or tile-compressed) with at least two axes."""
    if not isinstance(hdu, _HDU_TYPES) or isinstance(hdu, fits.GroupsHDU):
        return False
    return int(hdu.header.get("NAXIS", 0)) >= 2


def read_fits(source, *, hdu=None, plane=None) -> AstroImage:
    """Read one image plane from a FITS file, HDUList or HDU.

    Parameters
    ----------
    source : str, pathlib.Path, astropy.io.fits.HDUList or image HDU
        A path (plain, gzip/bzip2-compressed, or holding tile-compressed
        ``CompImageHDU``), an open HDUList, or a ``PrimaryHDU``, ``ImageHDU`` or
        ``CompImageHDU``.
    hdu : int, str or tuple, optional
        HDU index, ``EXTNAME`` or ``(EXTNAME, EXTVER)``. Default: the first HDU that
        holds image data (an empty primary HDU and tables are skipped).
    plane : int or tuple of int, optional
        For data with more than one plane (after dropping length-1 axes such as the
        Stokes and frequency axes of radio images): the plane to read, in numpy axis
        order (the last FITS axis first).

    Returns
    -------
    AstroImage
        float32 ``(H, W)`` data in stored row order (row 0 is the bottom of the sky
        for a standard WCS); BLANK, NaN and inf pixels are NaN and masked; the WCS is
        the celestial part of the header's; ``unit`` comes from ``BUNIT``.

    Raises
    ------
    FileFormatError
        The file is not FITS, or is corrupt or truncated.
    NoImageDataError
        The HDU (or the whole file) holds no image.
    ConfigError
        A cube without ``plane``, or an ``hdu``/``plane`` that does not exist.
    ImageValueError
        The plane has no finite pixel.
    """
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        with header_warnings(name) as log:
            try:
                hdul = fits.open(Path(source))
            except ImportError as exc:  # e.g. LZW (.Z) files need the uncompresspy package
                raise FileFormatError(
                    f"{name}: astropy cannot decompress this file ({exc}); decompress it "
                    "first or install the package named."
                ) from None
            except _READ_ERRORS as exc:
                raise FileFormatError(
                    f"{name}: not a readable FITS file ({exc}); it may be corrupt, "
                    "truncated or not FITS at all. Check that the file was written or "
                    "downloaded completely."
                ) from None
            with hdul:
                return _read_hdulist(hdul, hdu, plane, name, log, owned=True)
    if isinstance(source, fits.HDUList):
        name = source.filename() or "<HDUList>"
        with header_warnings(name) as log:
            return _read_hdulist(source, hdu, plane, name, log)
    if isinstance(source, _HDU_TYPES):
        name = _hdu_filename(source) or f"<{type(source).__name__}>"
        if hdu is not None:
            raise ConfigError(
                f"{name}: hdu={hdu!r} was given with a single HDU; pass the HDUList or "
                "the file path to choose among HDUs, or drop hdu."
            )
        with header_warnings(name) as log:
            return _read_hdu(source, None, plane, name, log, fobj=None)
    raise FileFormatError(
        f"{source!r}: read_fits needs a path, an HDUList or an image HDU; got "
        f"{type(source).__name__}."
    )


def _hdu_filename(hdu) -> str | None:
    info = hdu.fileinfo()
    return getattr(info["file"], "name", None) if info else None


def _describe(hdul) -> str:
    parts = []
    for i, h in enumerate(hdul):
        what = type(h).__name__
        if isinstance(h, _HDU_TYPES) and not is_image_hdu(h):
            naxis = int(h.header.get("NAXIS", 0))
            what = "empty" if naxis == 0 else f"{naxis}-D, not an image"
        parts.append(f"{i} {h.name or '-'} ({what})")
    return ", ".join(parts)


def _read_hdulist(hdul, hdu, plane, name, log, owned=False) -> AstroImage:
    try:
        index = _choose_hdu(hdul, hdu, name)
    except (ConfigError, NoImageDataError):
        raise
    except _READ_ERRORS as exc:
        raise FileFormatError(
            f"{name}: the FITS structure cannot be read ({exc}); the file may be corrupt "
            "or truncated."
        ) from None
    return _read_hdu(hdul[index], index, plane, name, log, fobj=hdul, owned=owned)


def _choose_hdu(hdul, hdu, name) -> int:
    if hdu is None:
        for i, h in enumerate(hdul):
            if is_image_hdu(h):
                return i
        raise NoImageDataError(
            f"{name}: no HDU holds image data (HDUs: {_describe(hdul)}). Pass a FITS "
            "file with an image, or read tables with astropy.table.Table.read."
        )
    if isinstance(hdu, bool) or not isinstance(hdu, int | str | tuple):
        raise ConfigError(f"{name}: hdu must be an int, a name or (name, ver); got {hdu!r}.")
    try:
        index = hdul.index_of(hdu)
        hdul[index]
    except (KeyError, IndexError):
        raise ConfigError(
            f"{name}: there is no HDU {hdu!r}; the file has HDUs {_describe(hdul)}."
        ) from None
    if not is_image_hdu(hdul[index]):
        raise NoImageDataError(
            f"{name}: HDU {hdu!r} holds no image data (HDUs: {_describe(hdul)}); "
            "choose an image HDU with hdu=, or leave hdu=None to take the first one."
        )
    return index


def _read_hdu(hdu, index, plane, name, log, *, fobj, owned=False) -> AstroImage:
    if not is_image_hdu(hdu):
        raise NoImageDataError(
            f"{name}: the {type(hdu).__name__} holds no image data (NAXIS = "
            f"{hdu.header.get('NAXIS', 0)}); an image needs two axes or more."
        )
    shape = tuple(int(n) for n in hdu.shape)
    if 0 in shape:
        raise ImageShapeError(
            f"{name}: the image has 0 pixels (shape {shape} from NAXISn); the HDU is empty."
        )
    where = name if index is None else f"{name}[{index}]"
    key = plane_index(shape, plane, source=where, channels=False)
    info = hdu.fileinfo()
    try:
        # section reads only the requested plane (and only the needed tiles of a
        # compressed HDU); it needs a file behind the HDU.
        data = hdu.section[key] if info is not None else hdu.data[key]
    except _READ_ERRORS as exc:
        if log.file_length is not None:
            raise _truncated(name, log.file_length) from None
        raise FileFormatError(
            f"{where}: the image data cannot be read ({exc}); the file may be corrupt."
        ) from None
    if info is not None and log.file_length is not None:
        # Missing bytes are harmless if they were only the padding after the data;
        # for a compressed HDU the padded span is required, as its exact end is private.
        data_bytes = info["datSpan"] if isinstance(hdu, fits.CompImageHDU) else hdu.size
        if log.file_length < info["datLoc"] + data_bytes:
            raise _truncated(name, log.file_length)
    # A file opened here is closed after the read, so nobody else holds its header;
    # an HDU or HDUList the caller passed keeps its own.
    header = hdu.header if owned else hdu.header.copy()
    wcs = image_wcs(header, fobj=fobj, source=name)
    return make_image(
        data,
        source=name,
        wcs=wcs,
        header=header,
        unit=parse_unit(header.get("BUNIT"), source=name),
        hdu=index,
        display=False,
    )


def _truncated(name, length) -> FileFormatError:
    return FileFormatError(
        f"{name}: the file looks truncated: it ends after {length} bytes, before the "
        "end of the image data its header describes. Download or write it again."
    )
