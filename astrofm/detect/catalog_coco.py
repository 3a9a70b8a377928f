"""Detection training sets from images and a source catalogue, as COCO JSON.

A catalogue gives each source a position and a Gaussian FWHM ellipse; the box of a
source is the one :mod:`astrofm.detect.catalog` defines for that ellipse. Two kinds of
catalogue are read:

- sky positions (columns ``RA``, ``DEC``, ``Maj``, ``Min``, ``PA`` as PyBDSF writes
  them, or others named by the caller), placed on each image through its WCS with
  :func:`~astrofm.detect.catalog.catalog_to_boxes`; one catalogue serves many images,
  each getting the sources that fall on it;
- pixel positions of one image, with the columns of
  :func:`~astrofm.detect.simulate.simulate_field`'s source table: ``x``, ``y`` (edge
  convention), ``major``, ``minor`` (FWHM in pixels) and ``theta`` (radians from +x
  towards +y), boxed by :func:`~astrofm.detect.catalog.ellipse_boxes`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from astrofm.detect.catalog import FWHM_SCALE, _clip, catalog_to_boxes, ellipse_boxes, write_coco
from astrofm.errors import ConfigError, DatasetError, InputFileError

__all__ = ["catalog_to_coco", "PIXEL_COLUMNS"]

#: Columns of a catalogue in pixels, as :func:`~astrofm.detect.simulate.simulate_field` writes.
PIXEL_COLUMNS = ("x", "y", "major", "minor", "theta")


def _read(catalog):
    from astropy.table import Table

    if isinstance(catalog, Table):
        return catalog
    path = Path(os.fspath(catalog))
    if not path.is_file():
        raise InputFileError(f"{path}: no such catalogue; give an ECSV, FITS or CSV table of "
                             "sources.")
    try:
        return Table.read(path, format="ascii.csv") if path.suffix.lower() == ".csv" \
            else Table.read(path)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a readable table ({err}); give an ECSV, FITS or CSV "
                           "catalogue.") from err


def catalog_to_coco(images, catalog, path, *, ra: str = "RA", dec: str = "DEC",
                    major: str = "Maj", minor: str = "Min", pa: str = "PA",
                    fwhm_scale: float = FWHM_SCALE, hdu=None) -> Path:
    """Write a COCO JSON file of the boxes a catalogue gives on some images.

    Parameters
    ----------
    images : str, path or sequence of them
        Image files (FITS with a celestial WCS for a sky catalogue).
    catalog : str, path or astropy.table.Table
        The sources: a sky catalogue with the columns named below, or a pixel one with
        :data:`PIXEL_COLUMNS` for a single image (see the module docstring).
    path : str or path
        The JSON file to write; its images are named by absolute path, so it may live
        in any folder.
    ra, dec, major, minor, pa : str
        Column names of a sky catalogue, as for
        :func:`~astrofm.detect.catalog.catalog_to_boxes`.
    fwhm_scale : float
        :math:`k` of :mod:`astrofm.detect.catalog`.
    hdu : int or str, optional
        FITS HDU of the images.

    Returns
    -------
    pathlib.Path
        The COCO JSON, ready for :class:`astrofm.data.CocoDataset` and
        :meth:`astrofm.detect.Detector.fit`; one category, ``"source"``.

    Raises
    ------
    DatasetError
        A catalogue with neither the sky nor the pixel columns, a pixel catalogue given
        with several images, or an image without a WCS for a sky catalogue.
    """
    from astrofm.io import load

    images = [images] if isinstance(images, str | os.PathLike) else list(images)
    table = _read(catalog)
    sky = ra in table.colnames
    if not sky and not set(PIXEL_COLUMNS) <= set(table.colnames):
        raise DatasetError(f"catalogue: no {ra!r} column for sky positions and not all of the "
                           f"pixel columns {list(PIXEL_COLUMNS)}; its columns are "
                           f"{table.colnames[:12]}. Name the sky columns or add the pixel ones.")
    if not sky and len(images) != 1:
        raise ConfigError(f"a catalogue in pixels describes one image; got {len(images)}. Give "
                          "one image, or a catalogue with RA and Dec.")
    entries = []
    for image_path in images:
        image = load(image_path, hdu=hdu)
        shape = image.data.shape[-2:]
        if sky:
            if image.wcs is None:
                raise DatasetError(f"{image_path}: no celestial WCS, so the catalogue's RA and "
                                   "Dec cannot be placed on it; give FITS images with a WCS.")
            boxes, _ = catalog_to_boxes(table, image.wcs, shape, ra=ra, dec=dec, major=major,
                                        minor=minor, pa=pa, fwhm_scale=fwhm_scale)
        else:
            x, y, maj, mnr, theta = (np.asarray(table[c], dtype=float) for c in PIXEL_COLUMNS)
            boxes, keep = _clip(ellipse_boxes(x, y, maj, mnr, theta, fwhm_scale=fwhm_scale),
                                shape)
            boxes = boxes[keep]
        entries.append({"file_name": str(Path(image_path).resolve()), "height": shape[0],
                        "width": shape[1], "boxes": boxes,
                        "labels": np.ones(len(boxes), dtype=int)})
    return write_coco(path, entries, classes=["source"])
