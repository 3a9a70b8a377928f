"""``load``: one entry point for every kind of image source."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from astrofm.errors import ConfigError, FileFormatError, InputFileError
from astrofm.image import AstroImage

__all__ = ["load", "image_size", "FORMATS"]

#: What :func:`load` reads from a path, for error messages.
FORMATS = ("FITS (.fits, .fit, .fts; gzip, bzip2 or zip compressed; tile-compressed .fz), "
           "PNG, JPEG, TIFF and the other images PIL reads, and models saved by astrofm "
           "(.astrofm)")

_FITS_MAGIC = b"SIMPLE  ="
_ZIP_MAGIC = b"PK\x03\x04"
# astropy opens gzip-, bzip2-, zip-, xz- and (with uncompresspy) LZW-compressed FITS.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", _ZIP_MAGIC, b"\xfd7zXZ\x00", b"\x1f\x9d")
_NPY_MAGIC = b"\x93NUMPY"


def load(source=None, *, hdu=None, plane=None, bands=None) -> AstroImage:
    """Load an image from a file, HDU, array or NDData.

    Parameters
    ----------
    source : str, pathlib.Path, HDUList, HDU, numpy.ndarray, NDData or AstroImage
        What to load:

        - a path to a FITS file (plain, ``.gz``/``.bz2``, or with tile-compressed
          HDUs, ``.fz``) or to a PNG, JPEG, TIFF or other image PIL reads; the
          kind is found from the file's first bytes, not its name;
        - an ``astropy.io.fits`` HDUList, PrimaryHDU, ImageHDU or CompImageHDU;
        - a numpy array (axis rules in :func:`~astrofm.io.from_array`);
        - an ``astropy.nddata.NDData`` or ``CCDData`` (its mask, WCS, unit used);
        - an :class:`~astrofm.image.AstroImage`, returned unchanged;
        - a saved model (a ``.astrofm`` file written by a classifier's or detector's
          ``save``, or such a file renamed), which is rebuilt and returned instead of
          an image.

        Other files (safetensors weights, NumPy ``.npy``/``.npz``, text) are refused
        with a :class:`~astrofm.errors.FileFormatError` that lists these formats.

        Leave it None when ``bands`` is given.
    hdu : int, str or tuple, optional
        FITS only: HDU index, ``EXTNAME`` or ``(EXTNAME, EXTVER)``. Default: the
        first HDU with image data.
    plane : int or tuple of int, optional
        The plane of a cube (FITS data with more than one non-degenerate axis ahead
        of the image axes), the frame of a multi-frame raster, or a plane of a
        higher-dimensional array. Required for FITS cubes.
    bands : list, optional
        Several sources stacked as channels ``(C, H, W)``; see
        :func:`~astrofm.io.stack_bands`. ``hdu`` and ``plane`` then apply to every
        band that does not give its own.

    Returns
    -------
    AstroImage
        float32 data ``(H, W)`` or ``(C, H, W)`` in stored row order (a FITS image's
        row 0 is the bottom of the sky, a PNG's row 0 the top; nothing is flipped),
        a mask of invalid pixels, the celestial WCS, the header, the unit and the
        source name. A 1-pixel image loads (it is valid data); steps that need more
        pixels, such as resizing for a backbone, reject it.

    Raises
    ------
    InputFileError
        The path does not exist or cannot be read.
    FileFormatError
        The file is neither FITS nor an image, or is truncated or corrupt.
    NoImageDataError
        A FITS file or HDU without image data.
    ImageShapeError
        0 pixels, a complex or non-numeric dtype, too many non-degenerate axes.
    ImageValueError
        No finite pixel.
    ConfigError
        A FITS cube without ``plane``; ``hdu`` for a source that is not FITS.

    Examples
    --------
    >>> import astrofm, numpy as np
    >>> astrofm.load(np.ones((4, 5))).shape
    (4, 5)
    """
    if bands is not None:
        if source is not None:
            raise ConfigError(
                "load: pass either a source or bands=[...], not both; put every band, "
                "the first included, in the bands list."
            )
        from astrofm.io.bands import stack_bands

        return stack_bands(bands, hdu=hdu, plane=plane)
    if source is None:
        raise ConfigError("load: no source given; pass a path, HDU, array or NDData.")
    if isinstance(source, AstroImage):
        if hdu is not None or plane is not None:
            raise ConfigError(
                f"{source.source}: hdu= and plane= cannot apply to an AstroImage that is "
                "already loaded; load the file again with them."
            )
        return source
    if isinstance(source, (str, os.PathLike)):
        from astrofm.saving import is_saved_model, load_model

        if is_saved_model(source):
            return load_model(source)
        return _load_path(source, hdu, plane)

    from astropy.io import fits
    from astropy.nddata import NDData

    if isinstance(source, (fits.HDUList, fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        from astrofm.io.fits import read_fits

        return read_fits(source, hdu=hdu, plane=plane)
    if isinstance(source, fits.hdu.base.ExtensionHDU | fits.GroupsHDU):
        from astrofm.errors import NoImageDataError

        raise NoImageDataError(
            f"<{type(source).__name__}>: a {type(source).__name__} holds no image data; "
            "pass an image HDU or the whole HDUList."
        )
    _no_hdu(hdu, f"<{type(source).__name__}>")
    if isinstance(source, NDData):
        from astrofm.io.arrays import from_nddata

        return from_nddata(source, plane=plane)
    if isinstance(source, (list, tuple)):
        raise ConfigError(
            f"load: got a {type(source).__name__} of {len(source)} items; to stack several "
            "images as channels pass them as bands=[...], or pass one array."
        )
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        from astrofm.io.arrays import from_array

        return from_array(np.asarray(source), plane=plane)
    raise ConfigError(
        f"load: cannot load a {type(source).__name__}; pass a path, an astropy HDU or "
        "HDUList, a numpy array, an NDData or an AstroImage."
    )


def image_size(path) -> tuple[int, int]:
    """``(height, width)`` of the image :func:`load` reads from ``path``.

    The size comes from the file's header (the first FITS HDU with image data, as
    ``load`` chooses it; PIL's header of a raster image) without reading the pixels.
    Files whose header astropy or PIL cannot read alone are loaded whole, so that
    they raise the errors ``load`` raises.

    Parameters
    ----------
    path : str or pathlib.Path
        An image file.

    Returns
    -------
    tuple of int
    """
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(len(_FITS_MAGIC))
        size = _fits_size(path) if head.startswith(_FITS_MAGIC) else _raster_size(path)
        if size is not None:
            return size
    return tuple(load(path).shape[-2:])


def _fits_size(path):
    from astropy.io import fits

    from astrofm.io.fits import is_image_hdu

    try:
        with fits.open(path) as hdul:
            return next((tuple(int(n) for n in hdu.shape[-2:]) for hdu in hdul
                         if is_image_hdu(hdu)), None)
    except (OSError, ValueError, EOFError):
        return None  # load reports what is wrong with the file


def _raster_size(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # load reports what is wrong with the file, or reads it otherwise


def _no_hdu(hdu, name):
    if hdu is not None:
        raise ConfigError(f"{name}: hdu={hdu!r} applies to FITS sources only; drop it.")


def _load_path(source, hdu, plane) -> AstroImage:
    name = str(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputFileError(
            f"{name}: no such file (looked in {path.resolve().parent}). Check the path; "
            "relative paths start from the current directory."
        )
    if path.is_dir():
        raise InputFileError(f"{name}: is a directory; pass the path of one image file.")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_FITS_MAGIC))
    except OSError as exc:
        raise InputFileError(f"{name}: cannot be read ({exc.strerror}); check its "
                             "permissions.") from None
    if not head:
        raise FileFormatError(f"{name}: the file is empty (0 bytes); write or download it "
                              "again.")
    if _is_safetensors(head, path):
        return _load_safetensors(path, name)
    if head.startswith(_NPY_MAGIC) or (head.startswith(_ZIP_MAGIC) and _is_npz(path)):
        raise FileFormatError(
            f"{name}: a NumPy array file, not an image file; astrofm.load reads {FORMATS}. "
            "Read the arrays with numpy.load and pass an array to astrofm.load (or the "
            ".npz file to astrofm.data.ArrayDataset)."
        )
    if head.startswith(_FITS_MAGIC) or head.startswith(_COMPRESSED_MAGIC):
        from astrofm.io.fits import read_fits

        return read_fits(path, hdu=hdu, plane=plane)
    _no_hdu(hdu, name)
    from astrofm.io.raster import read_raster

    return read_raster(path, plane=plane)


def _is_safetensors(head: bytes, path: Path) -> bool:
    """A safetensors file starts with the length of its JSON header, then the header."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _is_npz(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def _load_safetensors(path: Path, name: str):
    """A saved model under another name is loaded; other safetensors files are refused."""
    from safetensors import SafetensorError, safe_open

    from astrofm.saving import _FORMAT, load_model

    try:
        # Only the header is read; the tensors stay on disk.
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise FileFormatError(
            f"{name}: looks like a safetensors file but cannot be read ({err}); it may be "
            f"truncated. astrofm.load reads {FORMATS}."
        ) from None
    if metadata.get("format") == _FORMAT:
        return load_model(path)
    raise FileFormatError(
        f"{name}: a safetensors file of tensors, not an image or a saved astrofm model; "
        f"astrofm.load reads {FORMATS}. To use it as backbone weights, pass it as "
        "weights= to astrofm.backbones.load."
    )
