"""Sliding tiles over images of any size, and merging their detections.

Tiles are read one batch at a time: a FITS file through astropy's memory map and
``hdu.section`` (only the tile's bytes are read; a tile-compressed HDU decompresses
only the tiles it needs), anything else from the loaded array. Memory therefore
depends on the tile and batch sizes, not on the mosaic.

Each tile *owns* a core: along each axis, the boundary between two neighbouring tiles
is the middle of their overlap, so the cores partition the image. A tile keeps only
the detections whose centre lies in its core, so a source is reported once, by the
tile in which it lies furthest from an edge; with an overlap at least as large as
the largest source, that tile sees the whole source. Non-maximum suppression over
the whole image then removes what duplicates remain (a source the network found
twice). Tiles with too few valid pixels (NaN borders, blanked areas) or no signal at
all are skipped, and detections centred on masked pixels are dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrofm.errors import ConfigError
from astrofm.geometry import Geometry
from astrofm.image import AstroImage

__all__ = ["Window", "tile_windows", "MosaicReader", "detect_tiled", "check_tile", "auto_tile"]

_FITS_MAGIC = b"SIMPLE  ="


@dataclass(frozen=True)
class Window:
    """One tile: rows ``y0:y1`` and columns ``x0:x1``, and the core it owns."""

    y0: int
    y1: int
    x0: int
    x1: int
    core: tuple  # (cy0, cy1, cx0, cx1), half-open, in image pixels

    def owns(self, x, y) -> np.ndarray:
        """Which points ``x, y`` (image pixels, edge convention) lie in the core."""
        cy0, cy1, cx0, cx1 = self.core
        return (x >= cx0) & (x < cx1) & (y >= cy0) & (y < cy1)


def _axis(length: int, tile: int, overlap: int):
    if length <= tile:
        return [(0, length, 0.0, float(length))]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    stops = [s + tile for s in starts]
    # Boundary between neighbours: the middle of the strip both cover.
    bounds = [0.0] + [(starts[i + 1] + stops[i]) / 2 for i in range(len(starts) - 1)]
    bounds.append(float(length))
    return [(starts[i], stops[i], bounds[i], bounds[i + 1]) for i in range(len(starts))]


def tile_windows(shape, tile: int, overlap: int) -> list[Window]:
    """Tiles of side ``tile`` overlapping by ``overlap`` pixels over an ``(H, W)`` image.

    Tiles step by ``tile - overlap``; the last tile of a row or column is aligned with
    the image edge, so every tile has the full size unless the image is smaller.

    Raises
    ------
    ConfigError
        ``overlap`` negative or not smaller than ``tile``.
    """
    tile, overlap = int(tile), int(overlap)
    if tile < 1:
        raise ConfigError(f"tile={tile}: give a positive tile side in pixels.")
    if not 0 <= overlap < tile:
        raise ConfigError(f"overlap={overlap}: give a number of pixels in [0, tile={tile}).")
    h, w = shape
    return [Window(y0, y1, x0, x1, (cy0, cy1, cx0, cx1))
            for y0, y1, cy0, cy1 in _axis(h, tile, overlap)
            for x0, x1, cx0, cx1 in _axis(w, tile, overlap)]


class MosaicReader:
    """Read rectangular windows of an image without loading all of it.

    Parameters
    ----------
    source : str, path, AstroImage, array, HDU ...
        A FITS path is memory-mapped and read window by window; anything else is
        loaded with :func:`astrofm.load` first.
    hdu, plane : optional
        As for :func:`astrofm.load`.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)``.
    wcs : astropy.wcs.WCS or None
        Celestial WCS of the whole image.
    name : str
        The source, for messages and the catalogue.
    """

    def __init__(self, source, *, hdu=None, plane=None):
        from astrofm.io import load

        self._hdul = None
        self.display = False
        self.unit = None
        if isinstance(source, str | os.PathLike) and _is_fits(source):
            self._open_fits(Path(source), hdu, plane)
            return
        image = load(source, hdu=hdu, plane=plane)
        self._image = image
        self.shape = (image.height, image.width)
        self.wcs = image.original_wcs if image.geometry.is_identity else image.wcs
        self.name = image.source
        self.display = image.display
        self.unit = image.unit

    def _open_fits(self, path, hdu, plane):
        from astropy.io import fits

        from astrofm.io.arrays import plane_index
        from astrofm.io.fits import _choose_hdu
        from astrofm.io.headers import celestial_wcs, parse_unit, read_wcs

        self.name = str(path)
        # astropy memory-maps by default; data are read window by window in read().
        self._hdul = fits.open(path)
        self._hdu = self._hdul[_choose_hdu(self._hdul, hdu, self.name)]
        header = self._hdu.header
        shape = tuple(int(n) for n in self._hdu.shape)
        self._key = plane_index(shape, plane, source=self.name, channels=False)[:-2]
        self.shape = shape[-2:]
        self.wcs = celestial_wcs(read_wcs(header, fobj=self._hdul, source=self.name),
                                 source=self.name)
        self.unit = parse_unit(header.get("BUNIT"), source=self.name)

    def read(self, window: Window, min_valid: float = 0.02) -> AstroImage | None:
        """The window as an AstroImage whose geometry maps it into the whole image.

        Returns None for a window to skip: fewer than ``min_valid`` of its pixels are
        valid, or its valid pixels are all equal (a blanked area).
        """
        from astrofm.io.arrays import make_image

        rows, cols = slice(window.y0, window.y1), slice(window.x0, window.x1)
        if self._hdul is not None:
            data = np.asarray(self._hdu.section[(*self._key, rows, cols)], dtype=np.float32)
            mask = None
        else:
            data = self._image.data[..., rows, cols]
            mask = self._image.mask[..., rows, cols]
        valid = np.isfinite(data) if mask is None else np.isfinite(data) & ~mask
        if valid.mean() < min_valid or np.ptp(data[valid]) == 0:
            return None
        return make_image(data, source=f"{self.name}[{window.y0}:{window.y1}, "
                          f"{window.x0}:{window.x1}]", mask=mask, display=self.display,
                          unit=self.unit, geometry=Geometry.crop(window.x0, window.y0),
                          original_shape=self.shape, original_wcs=self.wcs)

    def close(self):
        """Close the memory-mapped file, if any."""
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _is_fits(path) -> bool:
    """True for an uncompressed (or tile-compressed) FITS file, which can be memory-mapped."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_FITS_MAGIC)) == _FITS_MAGIC
    except OSError:
        return False


def _masked_centres(image: AstroImage, boxes: np.ndarray) -> np.ndarray:
    """Which boxes (image pixels) have their centre on a masked pixel of ``image``."""
    mask = image.mask if image.mask.ndim == 2 else image.mask.all(axis=0)
    if not mask.any() or not len(boxes):
        return np.zeros(len(boxes), dtype=bool)
    x0, y0 = image.geometry.offset
    col = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2 - x0).astype(int), 0, mask.shape[1] - 1)
    row = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2 - y0).astype(int), 0, mask.shape[0] - 1)
    return mask[row, col]


def detect_tiled(reader: MosaicReader, predict, *, tile: int, overlap: int,
                 batch_size: int = 4, nms_iou: float = 0.5, min_valid: float = 0.02,
                 progress: bool = True):
    """Run ``predict`` over the tiles of an image and merge the detections.

    Parameters
    ----------
    reader : MosaicReader
        The image.
    predict : callable
        ``predict(list of AstroImage) -> list of (boxes, scores, labels)``, boxes in
        the pixels of the whole image (the tiles' geometry maps them there).
    tile, overlap : int
        Tile side and overlap in pixels of the image.
    batch_size : int
        Tiles per call of ``predict``.
    nms_iou : float
        IoU above which the whole-image NMS suppresses the lower-scoring box.
    min_valid : float
        Smallest fraction of valid pixels for a tile to be processed.
    progress : bool
        Show a progress bar.

    Returns
    -------
    boxes, scores, labels : numpy.ndarray
        Merged detections, ``(N, 4)``, ``(N,)``, ``(N,)``.
    info : dict
        ``tiles`` (number), ``skipped`` (tiles not fed to the model).
    """
    import torch
    from torchvision.ops import batched_nms
    from tqdm.auto import tqdm

    windows = tile_windows(reader.shape, tile, overlap)
    found, skipped = [], 0
    bar = tqdm(total=len(windows), desc=f"detect {Path(reader.name).name}", unit="tile",
               disable=not progress)
    for start in range(0, len(windows), batch_size):
        batch = windows[start:start + batch_size]
        images = [(w, reader.read(w, min_valid)) for w in batch]
        todo = [(w, im) for w, im in images if im is not None]
        skipped += len(batch) - len(todo)
        if todo:
            for (w, image), (boxes, scores, labels) in zip(
                    todo, predict([im for _, im in todo]), strict=True):
                boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                keep = w.owns(cx, cy) & ~_masked_centres(image, boxes)
                found.append((boxes[keep], np.asarray(scores)[keep], np.asarray(labels)[keep]))
        bar.update(len(batch))
    bar.close()
    info = {"tiles": len(windows), "skipped": skipped}
    if not found:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), info
    boxes = np.concatenate([f[0] for f in found])
    scores = np.concatenate([f[1] for f in found]).astype(float)
    labels = np.concatenate([f[2] for f in found]).astype(np.int64)
    keep = batched_nms(torch.as_tensor(boxes), torch.as_tensor(scores),
                       torch.as_tensor(labels), nms_iou).numpy()
    return boxes[keep], scores[keep], labels[keep], info


def check_tile(tile: int, overlap: int, minimum: int) -> None:
    """Raise ConfigError naming ``tile`` or ``overlap`` when they cannot work."""
    if tile < minimum:
        raise ConfigError(f"tile={tile}: smaller than the model's minimum of {minimum} pixels "
                          f"(after the input scale the network needs at least its coarsest "
                          f"stride); give tile >= {minimum}.")
    if overlap * 2 >= tile:
        raise ConfigError(f"overlap={overlap}: must be under half the tile ({tile} px), or "
                          "tiles would repeat each other; give a larger tile or a smaller "
                          "overlap.")


def auto_tile(shape, scale: float, overlap: int, minimum: int, budget: int = 1024) -> int | None:
    """The default tile side: None (whole image) when the scaled image fits ``budget``².

    Otherwise tiles of about ``budget / 2`` scaled pixels, enough to hold twice the
    overlap.
    """
    h, w = shape
    if h * w * scale * scale <= budget * budget:
        return None
    return max(minimum, math.ceil(budget / 2 / scale), 4 * overlap)
