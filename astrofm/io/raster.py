"""Raster images (PNG, JPEG, TIFF, ...) to AstroImage.

Decisions, stated once:

- Values keep their stored range as float32: 0..255 for 8-bit, 0..65535 for
  16-bit; nothing is rescaled.
- ``display=True`` for 8-bit images (they were stretched for display already);
  16-bit and float images are ``display=False``.
- Rows stay in stored order: row 0 is the *top* of a PNG/JPEG/TIFF, whereas row 0
  of a FITS image is the bottom of the sky. Nothing is flipped, so pixel
  coordinates match what other tools report for the same file.
- Grey is ``(H, W)``; colour is ``(3, H, W)`` in RGB order. An alpha channel (PIL
  modes LA/RGBA, PNG colour types 4/6, TIFF extra samples marked as alpha) is
  dropped after marking fully transparent pixels (alpha 0) in the mask; partly
  transparent pixels stay valid.

PIL reads most formats. TIFF goes through ``tifffile`` (16-bit and float colour
TIFFs would be cut to 8 bits by PIL), and 16-bit colour PNG through
``torchvision.io.decode_png`` for the same reason.
"""

from __future__ import annotations

import warnings

import numpy as np

from astrofm.errors import FileFormatError
from astrofm.image import AstroImage
from astrofm.io.arrays import make_image, plane_index
from astrofm.io.loader import FORMATS

__all__ = ["read_raster"]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PIL modes converted to ones with a fixed channel meaning.
_PIL_CONVERT = {"1": "L", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
                "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}


def read_raster(path, *, plane=None) -> AstroImage:
    """Read a PNG, JPEG, TIFF or other image that PIL or tifffile reads.

    Parameters
    ----------
    path : str or pathlib.Path
        The image file.
    plane : int, optional
        Frame or page of a multi-frame file (animated PNG/GIF, multi-page TIFF);
        required when there is more than one.

    Returns
    -------
    AstroImage
        ``(H, W)`` grey or ``(3, H, W)`` RGB float32 values in the stored range,
        rows in stored order (row 0 at the top), ``display`` True for 8-bit data.
        There is no WCS, header or unit.

    Raises
    ------
    FileFormatError
        The file is not an image format either library reads, or is truncated.
    """
    name = str(path)
    with open(path, "rb") as f:
        head = f.read(32)
    if head.startswith(_TIFF_MAGIC):
        data, alpha = _read_tiff(path, plane, name)
    elif head.startswith(_PNG_MAGIC) and len(head) >= 26 and head[24] == 16 and head[25] in (
        2, 4, 6
    ):
        data, alpha = _read_png16_colour(path, plane, name)
    else:
        data, alpha = _read_pil(path, plane, name)
    mask = None if alpha is None else np.broadcast_to(alpha == 0, data.shape[-2:])
    return make_image(data, source=name, mask=mask, display=bool(data.dtype == np.uint8))


def _channels_last_to_first(array, samples_axis: bool, has_alpha: bool):
    """``(H, W, S)`` to ``(S, H, W)`` or ``(H, W)``, with the alpha sample split off."""
    if not samples_axis:
        return array, None
    alpha = None
    if has_alpha:
        alpha, array = array[..., -1], array[..., :-1]
    array = np.moveaxis(array, -1, -3)
    return (array[..., 0, :, :] if array.shape[-3] == 1 else array), alpha


def _pick(frames: int, plane, name, height, width):
    index = plane_index((frames, height, width), plane, source=name, channels=False)
    return index[0]


def _read_pil(path, plane, name):
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise FileFormatError(
            f"{name}: neither a FITS file nor an image format astrofm reads; it reads "
            f"{FORMATS}. Check the file type; FITS files start with 'SIMPLE  ='."
        ) from None
    except Image.DecompressionBombError as exc:
        raise FileFormatError(
            f"{name}: {exc} If the image really is that large, raise "
            "PIL.Image.MAX_IMAGE_PIXELS; otherwise the file is corrupt."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # A few bytes that happen to match a format's signature (a safetensors header
        # passes for a BMP DIB) make PIL fail while parsing the rest of the header.
        raise FileFormatError(
            f"{name}: not an image astrofm can read: it starts like an image format PIL "
            f"knows, but its header is invalid ({exc}). astrofm reads {FORMATS}; check "
            "the file type, or write or download it again if it is truncated."
        ) from None
    with im:
        frames = getattr(im, "n_frames", 1)
        frame = _pick(frames, plane, name, im.height, im.width)
        try:
            im.seek(frame)
            im.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise FileFormatError(
                f"{name}: the {im.format} image cannot be decoded ({exc}); it looks "
                "truncated or corrupt."
            ) from None
        mode = im.mode
        if mode == "P":
            mode = "RGBA" if "transparency" in im.info else "RGB"
        mode = _PIL_CONVERT.get(mode, mode)
        if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
            array = np.asarray(im).astype(np.uint16)
        else:
            array = np.asarray(im if mode == im.mode else im.convert(mode))
    return _channels_last_to_first(array, array.ndim == 3, mode in ("LA", "RGBA"))


def _read_png16_colour(path, plane, name):
    _pick(1, plane, name, 1, 1)
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 marks its decoders deprecated in favour of torchcodec,
            # which is not a dependency; decode_png still works and is exact.
            warnings.simplefilter("ignore", DeprecationWarning)
            import torch
            from torchvision.io import ImageReadMode, decode_png, read_file

            tensor = decode_png(read_file(str(path)), mode=ImageReadMode.UNCHANGED)
    except ImportError as exc:
        raise FileFormatError(
            f"{name}: a 16-bit colour PNG needs torchvision.io.decode_png to be read without "
            f"losing bits, which is unavailable ({exc}); save the image as TIFF or FITS."
        ) from None
    except RuntimeError as exc:
        raise FileFormatError(
            f"{name}: the 16-bit PNG cannot be decoded ({exc}); it looks truncated or corrupt."
        ) from None
    array = tensor.to(dtype=torch.int32).numpy().astype(np.uint16)
    # PNG colour types 4 and 6 (grey + alpha, RGB + alpha) end in an alpha sample.
    return _channels_last_to_first(np.moveaxis(array, 0, -1), True, array.shape[0] in (2, 4))


def _read_tiff(path, plane, name):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.photometric.name not in ("MINISBLACK", "RGB"):
                # Palette, min-is-white, CMYK and YCbCr need PIL's colour handling.
                return _read_pil(path, plane, name)
            series = tif.series[0]
            array, axes = series.asarray(), series.axes
            has_alpha = any(kind.name.endswith("ALPHA") for kind in page.extrasamples)
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        # tifffile raises IndexError for a file whose first page cannot be found.
        raise FileFormatError(
            f"{name}: the TIFF cannot be read ({exc}); it looks truncated or corrupt."
        ) from None
    has_samples = "S" in axes
    if has_samples:
        array = np.moveaxis(array, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    n_lead = len(axes) - (3 if has_samples else 2)
    lead = array.shape[:n_lead]
    frames = int(np.prod(lead)) if lead else 1
    array = array.reshape((frames, *array.shape[n_lead:]))
    height, width = array.shape[1:3]
    return _channels_last_to_first(array[_pick(frames, plane, name, height, width)],
                                   has_samples, has_samples and has_alpha)
