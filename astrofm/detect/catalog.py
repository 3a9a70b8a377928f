"""Source catalogues: detections as astropy Tables, catalogues as boxes, and writers.

Box convention
--------------
Boxes are ``(x0, y0, x1, y1)`` in astrofm's edge convention (pixel ``i`` covers
``[i, i + 1)``, see :mod:`astrofm.geometry`), along the columns and rows of the
stored array (for FITS, row 0 is the bottom of the sky).

A catalogued source with a Gaussian fit, centre :math:`c`, full widths at half maximum
:math:`M \\ge m` and position angle :math:`\\phi` (as PyBDSF writes ``Maj``, ``Min``,
``PA``), becomes the axis-aligned box that encloses the ellipse of semi-axes
:math:`a = k M / 2` and :math:`b = k m / 2`. With :math:`\\vec u` and :math:`\\vec v` the
pixel vectors of those semi-axes,

.. math:: x_{0,1} = c_x \\mp \\sqrt{u_x^2 + v_x^2}, \\qquad
          y_{0,1} = c_y \\mp \\sqrt{u_y^2 + v_y^2}.

The default :math:`k = 2` encloses the ellipse PyBDSF draws in its DS9 region files
(semi-axes equal to the FWHM), which holds nearly all of a source's emission above
the noise; :math:`k = 1` gives the tighter FWHM box. Sky ellipses are mapped through
the WCS by the pixel positions of their axis end points, so flips, rotations and
the projection are taken into account. Boxes are clipped to the image, and a source
whose centre lies outside the image is dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.errors import BoxError, ConfigError, DatasetError

__all__ = ["ellipse_boxes", "catalog_to_boxes", "make_catalog", "write_catalog",
           "check_catalog_path", "write_regions", "region_shapes", "write_shapes", "write_coco",
           "CATALOG_FORMATS", "FWHM_SCALE"]

#: Default :math:`k`: boxes enclose the ellipse with the FWHM as semi-axes.
FWHM_SCALE = 2.0
#: Catalogue writers by file suffix.
CATALOG_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".reg": "ds9",
                   ".json": "coco"}


def ellipse_boxes(x, y, major, minor, theta, *, fwhm_scale: float = FWHM_SCALE):
    """Boxes enclosing ellipses given in pixels.

    Parameters
    ----------
    x, y : array_like
        Centres in the edge convention.
    major, minor : array_like
        Full widths at half maximum along the axes, in pixels.
    theta : array_like
        Angle of the major axis from the +x axis towards +y, in radians.
    fwhm_scale : float
        :math:`k`; semi-axes are :math:`k M / 2` and :math:`k m / 2`.

    Returns
    -------
    numpy.ndarray
        ``(N, 4)`` boxes ``x0, y0, x1, y1``.
    """
    x, y, major, minor, theta = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in
                                                      (x, y, major, minor, theta)))
    a, b = fwhm_scale * major / 2, fwhm_scale * minor / 2
    c, s = np.cos(theta), np.sin(theta)
    return _enclosing(x, y, (a * c, a * s), (-b * s, b * c))


def _enclosing(x, y, u, v):
    hx = np.hypot(u[0], v[0])
    hy = np.hypot(u[1], v[1])
    return np.stack([x - hx, y - hy, x + hx, y + hy], axis=-1).reshape(-1, 4)


def _clip(boxes, shape):
    """Clip boxes to an ``(H, W)`` image; keep those whose centre lies inside it."""
    h, w = shape
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    keep = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
    return out, keep


def _column(table, name, argument):
    if name not in table.colnames:
        more = " ..." if len(table.colnames) > 12 else ""
        raise DatasetError(f"{argument}={name!r}: the catalogue has no such column; its "
                           f"columns are {table.colnames[:12]}{more}.")
    return table[name]


def _degrees(column):
    import astropy.units as u

    unit = getattr(column, "unit", None)
    return np.asarray(column, dtype=float) * (1.0 if unit is None else unit.to(u.deg))


def catalog_to_boxes(catalog, wcs, shape, *, ra="RA", dec="DEC", major="Maj", minor="Min",
                     pa="PA", fwhm_scale: float = FWHM_SCALE):
    """Pixel boxes of the sources of a catalogue, with the documented convention.

    Parameters
    ----------
    catalog : astropy.table.Table or str
        A source list with sky positions and Gaussian sizes (a PyBDSF ``.srl`` FITS
        table, for instance), or the path of one.
    wcs : astropy.wcs.WCS
        Celestial WCS of the image the boxes are for.
    shape : tuple of int
        ``(H, W)`` of that image.
    ra, dec, major, minor, pa : str
        Column names: position (degrees), FWHM axes (degrees unless the column has a
        unit) and position angle (degrees east of north).
    fwhm_scale : float
        :math:`k` of the module docstring.

    Returns
    -------
    boxes : numpy.ndarray
        ``(N, 4)`` clipped boxes of the sources whose centre falls on the image.
    keep : numpy.ndarray of bool
        Which catalogue rows they are (``catalog[keep]["S_Code"]``, say, gives a class
        per box for several classes).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import wcs_to_celestial_frame

    if not isinstance(catalog, Table):
        catalog = Table.read(catalog)
    if wcs is None:
        raise ConfigError("wcs=None: sky positions need the image's celestial WCS to become "
                          "pixels; load the image from a FITS file with one.")
    centre = SkyCoord(_degrees(_column(catalog, ra, "ra")) * u.deg,
                      _degrees(_column(catalog, dec, "dec")) * u.deg,
                      frame=wcs_to_celestial_frame(wcs))
    pa_deg = _degrees(_column(catalog, pa, "pa")) * u.deg
    a = fwhm_scale * _degrees(_column(catalog, major, "major")) / 2 * u.deg
    b = fwhm_scale * _degrees(_column(catalog, minor, "minor")) / 2 * u.deg
    cx, cy = (np.asarray(p) + 0.5 for p in wcs.world_to_pixel(centre))
    ends = [centre.directional_offset_by(pa_deg, a),
            centre.directional_offset_by(pa_deg + 90 * u.deg, b)]
    (ux, uy), (vx, vy) = ((np.asarray(p) + 0.5 for p in wcs.world_to_pixel(e)) for e in ends)
    boxes = _enclosing(cx, cy, (ux - cx, uy - cy), (vx - cx, vy - cy))
    boxes, keep = _clip(boxes, shape)
    return boxes[keep], keep


def make_catalog(boxes, scores, labels, classes, *, wcs=None, source: str = "", meta=None,
                 columns=None):
    """A catalogue Table of detections.

    Parameters
    ----------
    boxes : array_like
        ``(N, 4)`` boxes on the original image, edge convention.
    scores : array_like
        ``(N,)`` detection scores.
    labels : array_like
        ``(N,)`` class codes counting from 1.
    classes : sequence of str
        Class names; ``classes[label - 1]`` names a detection.
    wcs : astropy.wcs.WCS, optional
        Celestial WCS of the image; adds ``ra`` and ``dec`` of the box centres.
    source : str
        The image the detections come from (stored in ``meta``).
    meta : dict, optional
        Further metadata.
    columns : dict, optional
        Further ``(N,)`` columns of the detections (arrays or Quantities), placed after
        ``score``, such as the ``peak``, ``rms`` and ``snr`` of
        :class:`~astrofm.detect.snr.PeakSNR`.

    Returns
    -------
    astropy.table.Table
        Columns ``id``, ``x0``, ``y0``, ``x1``, ``y1`` (box), ``x``, ``y`` (centre),
        ``width``, ``height`` (pixels, edge convention; subtract 0.5 from ``x`` and
        ``y`` for astropy's 0-based pixel centres), ``score``, ``label``, ``class_name``
        and, with a WCS, ``ra`` and ``dec`` in degrees; sorted by decreasing score.
    """
    import astropy.units as u

    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    x, y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    table = Table()
    table["id"] = np.arange(1, len(boxes) + 1)
    for i, name in enumerate(("x0", "y0", "x1", "y1")):
        table[name] = boxes[:, i] * u.pix
    table["x"], table["y"] = x * u.pix, y * u.pix
    table["width"] = (boxes[:, 2] - boxes[:, 0]) * u.pix
    table["height"] = (boxes[:, 3] - boxes[:, 1]) * u.pix
    table["score"] = scores
    for name, values in (columns or {}).items():
        table[name] = values[order]
    table["label"] = labels
    table["class_name"] = np.array([classes[i - 1] for i in labels], dtype=str) if len(
        labels) else np.zeros(0, dtype="U1")
    if wcs is not None:
        sky = wcs.pixel_to_world(x - 0.5, y - 0.5)
        table["ra"] = np.atleast_1d(sky.spherical.lon.deg) * u.deg
        table["dec"] = np.atleast_1d(sky.spherical.lat.deg) * u.deg
    table.meta.update({"source": str(source), "box_convention":
                       "edge: pixel i covers [i, i+1); x along columns, y along rows",
                       "classes": list(classes), **(meta or {})})
    if wcs is not None:
        table.meta["wcs"] = dict(wcs.to_header(relax=True))
    return table


def _table_wcs(table):
    from astropy.wcs import WCS

    header = table.meta.get("wcs")
    return WCS(header) if header else None


def region_shapes(table, *, sky: bool | None = None) -> list:
    """The boxes of a catalogue as ``regions`` shapes, labelled with class and score.

    Parameters
    ----------
    table : astropy.table.Table
        A catalogue from :func:`make_catalog`.
    sky : bool, optional
        Sky (fk5/icrs) regions when the table has a WCS; default: whenever it has one.

    Returns
    -------
    list of regions.Region
    """
    from regions import PixCoord, RectanglePixelRegion

    wcs = _table_wcs(table)
    if sky and wcs is None:
        raise ConfigError("sky=True: the catalogue has no WCS to place boxes on the sky.")
    sky = wcs is not None if sky is None else sky
    x, y, w, h = (np.asarray(table[c], dtype=float) for c in ("x", "y", "width", "height"))
    shapes = []
    for i, row in enumerate(table):
        # regions' pixel coordinates are astropy's: 0-based pixel centres.
        region = RectanglePixelRegion(PixCoord(x[i] - 0.5, y[i] - 0.5), w[i], h[i])
        region.meta["text"] = f"{row['class_name']} {row['score']:.2f}"
        shapes.append(region.to_sky(wcs) if sky else region)
    return shapes


def write_shapes(shapes, path) -> Path:
    """Write ``regions`` shapes to a DS9 region file, atomically."""
    from regions import Regions

    from astrofm.features.store import atomic_path

    with atomic_path(path) as tmp:
        Regions(list(shapes)).write(str(tmp), format="ds9", overwrite=True)
    return Path(path)


def write_regions(table, path, *, sky: bool | None = None):
    """Write detections as a DS9 region file of boxes (``regions`` package).

    Parameters
    ----------
    table : astropy.table.Table
        A catalogue from :func:`make_catalog`.
    path : str or path
        The ``.reg`` file, written atomically.
    sky : bool, optional
        Sky (fk5/icrs) regions when the table has a WCS; default: whenever it has one.
    """
    return write_shapes(region_shapes(table, sky=sky), path)


def write_coco(path, images, *, classes):
    """Write boxes as a COCO JSON file (ground truth, or results with scores).

    Parameters
    ----------
    path : str or path
        The ``.json`` file, written atomically.
    images : sequence of dict
        One entry per image: ``file_name``, ``width``, ``height``, ``boxes`` ((N, 4)
        edge-convention ``x0, y0, x1, y1``), ``labels`` ((N,) from 1) and optionally
        ``scores``.
    classes : sequence of str
        Category names; category ``i + 1`` is ``classes[i]``.

    Returns
    -------
    pathlib.Path
    """
    from astrofm.features.store import atomic_path

    out = {"images": [], "annotations": [],
           "categories": [{"id": i + 1, "name": str(c)} for i, c in enumerate(classes)]}
    for image_id, entry in enumerate(images, start=1):
        out["images"].append({"id": image_id, "file_name": str(entry["file_name"]),
                              "width": int(entry["width"]), "height": int(entry["height"])})
        boxes = np.asarray(entry["boxes"], dtype=float).reshape(-1, 4)
        labels = np.asarray(entry.get("labels", np.ones(len(boxes))), dtype=int).reshape(-1)
        scores = entry.get("scores")
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            if x1 <= x0 or y1 <= y0:
                raise BoxError(f"{entry['file_name']}: box {i} {boxes[i].tolist()} has zero "
                               "area; COCO boxes need a width and a height.")
            ann = {"id": len(out["annotations"]) + 1, "image_id": image_id,
                   "category_id": int(labels[i]), "bbox": [x0, y0, x1 - x0, y1 - y0],
                   "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            if scores is not None:
                ann["score"] = float(scores[i])
            out["annotations"].append(ann)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(out))
    return Path(path)


def _catalog_format(path, option):
    fmt = CATALOG_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"{option}={path}: give a file ending in one of "
                          f"{sorted(CATALOG_FORMATS)}.")
    return fmt


def check_catalog_path(path, option: str = "output") -> Path:
    """Check, before any detection, that a catalogue can be written at ``path``.

    Raises
    ------
    ConfigError
        Naming ``option``, for a suffix :func:`write_catalog` does not know or a path
        that cannot be written (see :func:`astrofm.features.store.check_writable`).
    """
    from astrofm.runtime import check_writable

    _catalog_format(path, option)
    return check_writable(path, option)


def _coco_entries(table) -> list:
    """One COCO image entry per image of a catalogue (several for a merged one)."""
    images = table.meta.get("images") or [table.meta]
    entries = []
    for image in images:
        rows = table if "image" not in table.colnames else table[
            np.asarray(table["image"]) == image.get("source", "")]
        shape = image.get("shape", (0, 0))
        entries.append({"file_name": image.get("source", ""), "height": shape[0],
                        "width": shape[1], "labels": np.asarray(rows["label"]),
                        "scores": np.asarray(rows["score"]),
                        "boxes": np.stack([np.asarray(rows[c], dtype=float) for c in
                                           ("x0", "y0", "x1", "y1")], axis=-1)})
    return entries


def write_catalog(table, path):
    """Write a catalogue by suffix: ``.ecsv``, ``.fits``, ``.reg`` (DS9) or ``.json`` (COCO).

    The file appears atomically. A FITS catalogue keeps the WCS of the image as header
    cards of the table's metadata.

    Returns
    -------
    pathlib.Path
    """
    from astrofm.features.store import atomic_path

    path = Path(path)
    fmt = _catalog_format(path, "output")
    if fmt == "ds9":
        return write_regions(table, path)
    if fmt == "coco":
        return write_coco(path, _coco_entries(table),
                          classes=table.meta.get("classes", ["source"]))
    out = table.copy(copy_data=False)
    if fmt == "fits":
        # FITS headers hold scalars only: keep the WCS cards and the simple entries.
        wcs = out.meta.pop("wcs", {})
        meta = {k.upper()[:8]: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
                for k, v in out.meta.items() if isinstance(v, str | int | float | list | tuple)}
        out.meta = {**meta, **wcs}
    with atomic_path(path) as tmp:
        out.write(tmp, format=fmt)
    return path
