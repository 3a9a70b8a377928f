"""Sliding tiles over images of any size, and merging their detections.

Tiles are read one batch at a time: a FITS file through astropy's memory map and
``hdu.section`` (only the tiles' bytes are read; a tile-compressed HDU decompresses
only the tiles it needs), mapped for the batch and unmapped after it; anything else
from the loaded array. Memory therefore depends on the tile and batch sizes, not on
the mosaic.

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

__all__ = ["Window", "tile_windows", "MosaicReader", "detect_tiled", "check_tile", "auto_tile",
           "check_detect_options"]

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

    A FITS file is memory-mapped for each batch of windows and unmapped after it:
    only the windows' bytes are read, and the mapped pages do not accumulate in the
    process's memory as the tiles sweep the mosaic. Any other source is loaded with
    :func:`astrofm.load` and sliced.

    Parameters
    ----------
    source : str, path, AstroImage, array or HDU
        What :func:`astrofm.load` takes.
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
    header : astropy.io.fits.Header or None
        Header of the image's HDU (its beam, for instance); None for arrays.
    """

    def __init__(self, source, *, hdu=None, plane=None):
        from astrofm.io import load

        self._path = self._image = None
        self.display = False
        self.unit = None
        if isinstance(source, str | os.PathLike) and _is_fits(source):
            self._describe_fits(Path(source), hdu, plane)
            return
        image = load(source, hdu=hdu, plane=plane)
        self._image = image
        self.shape = (image.height, image.width)
        self.wcs = image.original_wcs if image.geometry.is_identity else image.wcs
        self.name = image.source
        self.display = image.display
        self.unit = image.unit
        self.header = image.header

    def _describe_fits(self, path, hdu, plane):
        from astropy.io import fits

        from astrofm.io.arrays import plane_index
        from astrofm.io.fits import _choose_hdu
        from astrofm.io.headers import celestial_wcs, parse_unit, read_wcs

        self.name = str(path)
        with fits.open(path) as hdul:
            self._hdu = _choose_hdu(hdul, hdu, self.name)
            header = hdul[self._hdu].header
            shape = tuple(int(n) for n in hdul[self._hdu].shape)
            self.wcs = celestial_wcs(read_wcs(header, fobj=hdul, source=self.name),
                                     source=self.name)
        self._path, self.header = path, header
        self._key = plane_index(shape, plane, source=self.name, channels=False)[:-2]
        self.shape = shape[-2:]
        self.unit = parse_unit(header.get("BUNIT"), source=self.name)

    def read(self, windows, min_valid: float = 0.02) -> list:
        """The windows as AstroImages whose geometry maps them into the whole image.

        A window comes back as None when it is to be skipped: fewer than
        ``min_valid`` of its pixels are valid, or its valid pixels are all equal (a
        blanked area).
        """
        if self._path is None:
            return [self._window(self._image.data[..., w.y0:w.y1, w.x0:w.x1],
                                 self._image.mask[..., w.y0:w.y1, w.x0:w.x1], w, min_valid)
                    for w in windows]
        from astropy.io import fits

        with fits.open(self._path) as hdul:
            section = hdul[self._hdu].section
            # np.asarray(..., float32) copies out of the map, which closes with the file.
            return [self._window(np.asarray(section[(*self._key, slice(w.y0, w.y1),
                                                     slice(w.x0, w.x1))], dtype=np.float32),
                                 None, w, min_valid) for w in windows]

    def _window(self, data, mask, window, min_valid):
        from astrofm.io.arrays import make_image

        valid = np.isfinite(data) if mask is None else np.isfinite(data) & ~mask
        if not valid.any() or valid.mean() < min_valid or np.ptp(data[valid]) == 0:
            return None
        return make_image(data, source=f"{self.name}[{window.y0}:{window.y1}, "
                          f"{window.x0}:{window.x1}]", mask=mask, display=self.display,
                          unit=self.unit, geometry=Geometry.crop(window.x0, window.y0),
                          original_shape=self.shape, original_wcs=self.wcs)


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
                 batch_size: int = 2, nms_iou: float = 0.5, min_valid: float = 0.02,
                 progress: bool = True, measure=None):
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
    measure : callable, optional
        ``measure(tile, boxes) -> dict of (N,) arrays``: values of the detections
        taken from the pixels of the tile that owns them (while it is in memory), such
        as :class:`~astrofm.detect.snr.PeakSNR`; called for every tile fed to
        ``predict``.

    Returns
    -------
    boxes, scores, labels : numpy.ndarray
        Merged detections, ``(N, 4)``, ``(N,)``, ``(N,)``.
    measured : dict of numpy.ndarray
        What ``measure`` returned for the merged detections (empty without it, or
        when no tile was read).
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
        todo = [(w, im) for w, im in zip(batch, reader.read(batch, min_valid), strict=True)
                if im is not None]
        skipped += len(batch) - len(todo)
        if todo:
            for (w, image), (boxes, scores, labels) in zip(
                    todo, predict([im for _, im in todo]), strict=True):
                boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
                cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
                keep = w.owns(cx, cy) & ~_masked_centres(image, boxes)
                found.append((boxes[keep], np.asarray(scores)[keep], np.asarray(labels)[keep],
                              {} if measure is None else measure(image, boxes[keep])))
        bar.update(len(batch))
    bar.close()
    info = {"tiles": len(windows), "skipped": skipped}
    if not found:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), {}, info
    boxes = np.concatenate([f[0] for f in found])
    scores = np.concatenate([f[1] for f in found]).astype(float)
    labels = np.concatenate([f[2] for f in found]).astype(np.int64)
    keep = batched_nms(torch.as_tensor(boxes), torch.as_tensor(scores),
                       torch.as_tensor(labels), nms_iou).numpy()
    measured = {name: np.concatenate([f[3][name] for f in found])[keep]
                for name in found[0][3]}
    return boxes[keep], scores[keep], labels[keep], measured, info


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


def check_detect_options(tile, batch_size, output=None, regions=None):
    """Check the options of :meth:`Detector.detect <astrofm.detect.Detector.detect>` up front.

    Returns
    -------
    ``tile`` as ``"auto"``, None or an int.

    Raises
    ------
    ConfigError
        Naming the option: a tile that is not ``"auto"``, None or a positive int, a
        batch size under 1, or an output (catalogue, region file) that cannot be
        written.
    """
    from astrofm.detect.catalog import check_catalog_path
    from astrofm.runtime import check_writable, parse_tile, positive_int

    tile = parse_tile(tile)
    positive_int(batch_size, "batch_size")
    if output is not None:
        check_catalog_path(output)
    if regions is not None:
        check_writable(regions, "regions")
    return tile
