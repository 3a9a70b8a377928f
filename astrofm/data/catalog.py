"""Data sets described by a catalogue table (CSV, ECSV or FITS)."""

from __future__ import annotations

import os
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from astrofm.data.base import ImageDataset
from astrofm.data.labels import normalise_labels
from astrofm.errors import DatasetError, FileFormatError, InputFileError
from astrofm.image import AstroImage

__all__ = ["CatalogDataset", "read_table"]


def read_table(table) -> tuple[Table, Path | None]:
    """An astropy Table from a Table or a CSV / ECSV / FITS file, and the file's folder."""
    if isinstance(table, Table):
        return table, None
    path = Path(os.fspath(table))
    if not path.is_file():
        raise InputFileError(f"{path}: no such catalogue file; give a CSV, ECSV or FITS table.")
    fmt = "ascii.csv" if path.suffix.lower() == ".csv" else None
    try:
        return Table.read(path, format=fmt), path.parent
    except Exception as err:  # astropy raises many types for unreadable tables
        raise FileFormatError(
            f"{path}: not a readable table ({type(err).__name__}: {err}); write it as CSV, "
            "ECSV or a FITS binary table."
        ) from err


class CatalogDataset(ImageDataset):
    """Images listed in a catalogue, one row per image.

    Parameters
    ----------
    table : astropy.table.Table, str or path
        The catalogue, or a CSV / ECSV / FITS file holding it.
    path_column : str
        Column with the image paths; relative paths are taken from ``root``.
    label_column : str, optional
        Column with class names or codes, following :mod:`astrofm.data.labels`: one
        kind per column (names are stripped of padding), no blank or masked entry.
    classes : sequence, optional
        Class names in code order (default: the sorted distinct labels).
    box_columns : sequence of 4 str, optional
        Columns ``x0, y0, x1, y1`` of a box in pixels (edge convention: pixel ``i``
        covers ``[i, i + 1)``); each image is cropped to its box with
        :class:`astrofm.preprocess.CropToBox`.
    position_columns : sequence of 2 str, optional
        Columns of RA and Dec (degrees unless the columns carry units); each image is
        cropped around that position. Crops use :class:`astrofm.preprocess.CropToBox`, so
        they are recorded in the image's geometry and history.
    size_column : str, optional
        Column with the cutout size for ``position_columns``: an angle when the column
        has an angular unit or ``size_unit`` is given, else pixels.
    size_unit : str or astropy.units.Unit, optional
        Unit of ``size_column`` when the table does not say.
    margin : float
        Margin added around the crop, passed to ``CropToBox``.
    square : bool
        Make crops square, passed to ``CropToBox``.
    hdu_column : str, optional
        Column with the HDU to read from each FITS file.
    root : str or path, optional
        Folder relative paths start from; default: the catalogue file's folder.
    transform : callable, optional
        Applied to each image after the crop.
    """

    def __init__(self, table, path_column="path", label_column=None, classes=None,
                 box_columns=None, position_columns=None, size_column=None, size_unit=None,
                 margin=0, square=True, hdu_column=None, root=None, transform=None):
        self.table, folder = read_table(table)
        where = "catalogue" if isinstance(table, Table) else str(table)
        named = [path_column, label_column, size_column, hdu_column,
                 *(box_columns or ()), *(position_columns or ())]
        missing = [c for c in named if c is not None and c not in self.table.colnames]
        if missing:
            raise DatasetError(
                f"{where}: no column(s) {missing}; the table has {self.table.colnames}."
            )
        if box_columns is not None and len(box_columns) != 4:
            raise DatasetError(f"{where}: box_columns must name 4 columns (x0, y0, x1, y1).")
        if position_columns is not None and len(position_columns) != 2:
            raise DatasetError(f"{where}: position_columns must name 2 columns (RA, Dec).")
        if position_columns is not None and size_column is None:
            raise DatasetError(f"{where}: position_columns need a size_column for the cutout.")
        root = Path(os.fspath(root)) if root is not None else folder
        paths = [Path(str(p).strip()) for p in self.table[path_column]]
        if root is not None:
            paths = [p if p.is_absolute() else root / p for p in paths]
        # Normalised here too, so that an error names the file and the column.
        labels = None if label_column is None else normalise_labels(
            _plain(self.table[label_column]), where=f"{where}: column {label_column!r}")
        self.boxes = None if box_columns is None else np.stack(
            [np.asarray(self.table[c], dtype=float) for c in box_columns], axis=1)
        self.positions = None
        if position_columns is not None:
            ra, dec = (self.table[c] for c in position_columns)
            self.positions = SkyCoord(_quantity(ra, u.deg), _quantity(dec, u.deg))
            self.sizes = _quantity(self.table[size_column], size_unit)
        self.hdus = None if hdu_column is None else _plain(self.table[hdu_column])
        self.margin = margin
        self.square = square
        super().__init__(paths, labels, classes, transform)

    def load(self, index: int) -> AstroImage:
        """Read image ``index`` and crop it to its box or sky position."""
        from astrofm.io import load
        from astrofm.preprocess import CropToBox

        hdu = None if self.hdus is None else self.hdus[index]
        image = load(self.sources[index], hdu=hdu)
        if self.boxes is not None:
            crop = CropToBox(self.boxes[index].tolist(), margin=self.margin, square=self.square)
        elif self.positions is not None:
            size = self.sizes[index]
            if size.unit == u.dimensionless_unscaled:
                size = float(size.value)
            crop = CropToBox(position=self.positions[index], size=size, margin=self.margin,
                             square=self.square)
        else:
            return image
        return crop(image)


def _plain(column) -> list:
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return [v.strip() if isinstance(v, str) else v for v in values]


def _quantity(column, unit):
    """Column values as a Quantity: the column's own unit, else ``unit``, else pixels."""
    if getattr(column, "unit", None) is not None:
        return u.Quantity(column)
    values = np.asarray(column, dtype=float)
    return values * u.Unit(unit) if unit is not None else values * u.dimensionless_unscaled
