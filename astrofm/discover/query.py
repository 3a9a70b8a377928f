"""What a similarity query names: a row, a source, a sky position or a new image.

:func:`resolve` turns each query into a vector: rows, sources and sky positions into
the vector already in the index; images into a new vector, embedded with the model,
weights, pooling and preprocessing recorded in the table, after checking that the
rebuilt backbone is the one that embedded the table.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from astrofm.errors import AstrofmError, ConfigError, DatasetError, FileFormatError, InputFileError

__all__ = ["resolve", "query_backbone", "embed_images", "parse_position", "match_position"]

_RANDOM_SEED = re.compile(r"^random \(seed (-?\d+)\)$")


def parse_position(text: str):
    """``"RA DEC"`` (degrees, or sexagesimal hours and degrees) as a SkyCoord, else None."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    parts = text.replace(",", " ").split()
    if len(parts) != 2:
        return None
    try:
        return SkyCoord(float(parts[0]), float(parts[1]), unit="deg")
    except ValueError:
        pass
    try:
        return SkyCoord(parts[0], parts[1], unit=(u.hourangle, u.deg))
    except ValueError:
        return None


def match_position(index, position, tolerance=None) -> int:
    """Position in ``index`` of the catalogued entry nearest to a sky position.

    Raises
    ------
    DatasetError
        When the table has no sky positions, or the nearest is beyond ``tolerance``.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    tolerance = 5 * u.arcsec if tolerance is None else u.Quantity(tolerance, u.arcsec)
    ra, dec = np.asarray(index.meta["ra"], float), np.asarray(index.meta["dec"], float)
    known = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    if not len(known):
        raise DatasetError("the table has no sky positions (its images had no WCS); query "
                           "by source name or row instead.")
    catalogue = SkyCoord(ra[known], dec[known], unit="deg")
    position = position.reshape((1,))
    nearest, separation, _ = position.match_to_catalog_sky(catalogue)
    nearest, separation = int(known[nearest[0]]), separation[0].to(u.arcsec)
    if separation > tolerance:
        where = position[0].to_string("decimal", precision=5)
        raise DatasetError(f"query position {where}: the nearest catalogued entry "
                           f"({index.meta['source'][nearest]}) is {separation:.1f} away, "
                           f"beyond the tolerance of {tolerance:.1f}; give a larger "
                           "tolerance or another position.")
    return nearest


def query_backbone(meta: dict, model=None):
    """The backbone that embedded a table, rebuilt from its metadata or given, and checked.

    Parameters
    ----------
    meta : dict
        The table's metadata (MODEL, WEIGHTS, WDIGEST).
    model : Backbone, optional
        A built backbone to use instead of rebuilding one.

    Raises
    ------
    ConfigError
        When the backbone's parameters differ from those that embedded the table.
    """
    from astrofm import backbones
    from astrofm.features.fingerprint import backbone_digest

    name, origin = str(meta.get("MODEL", "")), str(meta.get("WEIGHTS", ""))
    given = "the backbone given" if model is not None else f"{name} with weights {origin}"
    if model is None:
        if not name:
            raise ConfigError("the table records no MODEL, so a query image cannot be "
                              "embedded as its rows were; give a table written by "
                              "astrofm embed, or query by row, source or position.")
        seed = _RANDOM_SEED.match(origin)
        if seed:
            model = backbones.load(name, weights=None, seed=int(seed.group(1)))
        elif origin == "pretrained" or (origin and os.path.exists(origin)):
            model = backbones.load(name, weights=origin)
        else:
            raise ConfigError(f"the table's weights ({origin or 'not recorded'}) cannot be "
                              f"loaded again; pass model= the backbone that embedded it.")
    digest = backbone_digest(model)
    if digest != meta.get("WDIGEST"):
        raise ConfigError(f"query fingerprint mismatch: {given} has parameters {digest}, but "
                          f"the table was embedded by parameters {meta.get('WDIGEST')}, so "
                          "their features cannot be compared; pass model= the backbone that "
                          "embedded the table, or embed the table again.")
    return model


def embed_images(meta: dict, images: list, model=None) -> np.ndarray:
    """Feature vectors of query images, made as the table's rows were made.

    Raises
    ------
    InputFileError, FileFormatError
        For an image file that does not exist or cannot be read.
    """
    from astrofm.features.embed import embed
    from astrofm.io import load
    from astrofm.preprocess import from_dict

    for image in images:
        if isinstance(image, str | os.PathLike) and not Path(image).is_file():
            raise InputFileError(f"query image {image}: no such file; give an image file "
                                 "(FITS, PNG, JPEG), a source name, a row or 'RA DEC'.")
        try:
            # Read once before the backbone is built, so a bad file fails at once.
            load(image)
        except AstrofmError as err:
            raise FileFormatError(f"query image {image}: cannot be read ({err})") from err
    backbone = query_backbone(meta, model)
    preprocessing = from_dict(json.loads(meta["PREPROC"]))
    table = embed(list(images), model=backbone, pooling=meta["POOLING"],
                  preprocessing=preprocessing, progress=False)
    for source, error in zip(table["source"], table["error"], strict=True):
        if error:
            raise FileFormatError(f"query image {source}: cannot be read ({error}); give a "
                                  "FITS or raster image.")
    return np.asarray(table["feature"], dtype=np.float32)


def _classify(index, item, sources: dict):
    """("row", position, name), ("sky", SkyCoord, name) or ("image", item, name)."""
    from astropy.coordinates import SkyCoord

    if isinstance(item, bool):
        raise ConfigError(f"query={item!r}: give a row, a source, 'RA DEC' or an image.")
    if isinstance(item, int | np.integer):
        return "row", index.position(int(item)), f"row {int(item)}"
    if isinstance(item, SkyCoord):
        return "sky", item, item.reshape((1,))[0].to_string("decimal", precision=5)
    if isinstance(item, np.ndarray):
        return "image", item, "<array>"
    if isinstance(item, str | os.PathLike):
        text = os.fspath(item)
        if text in sources:
            return "row", sources[text], text
        if Path(text).is_file():
            return "image", text, text
        position = parse_position(text)
        if position is not None:
            return "sky", position, text
        raise InputFileError(f"query={text!r}: not a source of the table, an existing image "
                             "file, nor a sky position 'RA DEC' (degrees or sexagesimal); "
                             "check the name or path.")
    raise ConfigError(f"query={item!r}: give a row, a source, 'RA DEC', a SkyCoord or an "
                      "image.")


def resolve(index, query, k, *, tolerance=None, model=None):
    """Neighbours of each query; see :meth:`SimilarityIndex.query`."""
    items = list(query) if isinstance(query, list | tuple) else [query]
    if not items:
        raise ConfigError("query=[]: give at least one query.")
    sources = {str(s): i for i, s in reversed(list(enumerate(index.meta["source"])))}
    parsed = [_classify(index, item, sources) for item in items]
    in_table = any(kind != "image" for kind, _, _ in parsed)
    k = index.check_k(k, excluding=1 if in_table else 0)
    positions = [match_position(index, value, tolerance) if kind == "sky" else value
                 for kind, value, _ in parsed]
    images = [value for kind, value, _ in parsed if kind == "image"]
    embedded = iter(embed_images(index.meta.meta, images, model) if images else [])
    vectors, exclude = [], []
    for (kind, _, _), position in zip(parsed, positions, strict=True):
        if kind == "image":
            vectors.append(next(embedded))
            exclude.append(-1)
        else:
            vectors.append(index.vectors([position])[0])
            exclude.append(position)
    found, scores = index.search(np.stack(vectors), k, exclude=np.asarray(exclude))
    image_sources = [value if isinstance(value, str) else "" for _, value, _ in parsed]
    return index.results([name for _, _, name in parsed], found, scores,
                         query_positions=exclude, query_sources=image_sources)
