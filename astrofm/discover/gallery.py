"""Gallery figures of similarity results and anomaly rankings.

Images are stretched for display as :mod:`astrofm.preprocess` stretches them for a
model (the default pipeline's clip and stretch for FITS, 0-255 for 8-bit images), so
the gallery shows what the backbone saw, with RA/Dec in the titles.
"""

from __future__ import annotations

import os

import numpy as np
from astropy.table import Table

from astrofm.errors import ConfigError
from astrofm.runtime import positive_int

__all__ = ["plot_gallery", "display_image"]


def display_image(source) -> np.ndarray:
    """An image as ``(H, W)`` or ``(H, W, 3)`` in [0, 1], stretched as the default pipeline does.

    Parameters
    ----------
    source : path, array or AstroImage
        Anything :func:`astrofm.load` reads.
    """
    from astrofm.io import load
    from astrofm.preprocess import Pipeline, default_pipeline

    image = load(source)
    # The default pipeline's leading steps are the clip and stretch; resizing, channels
    # and normalisation only matter to the network.
    steps = [s for s in default_pipeline(image).steps
             if type(s).__name__ in ("SigmaClip", "Stretch")]
    data = np.asarray(Pipeline(steps)(image).data, dtype=float)
    if data.ndim == 3:
        data = np.moveaxis(data, 0, -1) if data.shape[0] == 3 else data[0]
    return np.clip(np.nan_to_num(data), 0, 1)


def _position(row) -> str:
    ra, dec = float(row["ra"]), float(row["dec"])
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return "RA/Dec unknown"
    return f"RA {ra:.5f} Dec {dec:+.5f}"


def _similarity(row) -> str:
    if "similarity" in row.colnames:
        return f"similarity {float(row['similarity']):.3f}"
    return f"distance {float(row['distance']):.3g}"


def _name(source) -> str:
    return os.path.basename(str(source)) or str(source)


def plot_gallery(results: Table, *, images=None, k: int = 20, columns: int = 5,
                 figure=None):
    """A grid of images: each query then its neighbours, or the top ``k`` of a ranking.

    Parameters
    ----------
    results : astropy.table.Table
        From :meth:`SimilarityIndex.query` (columns ``query_source``, ``neighbour``) or
        :func:`~astrofm.discover.anomaly_scores` (columns ``source``, ``score``).
    images : callable or sequence, optional
        How to get an image: ``images(source)``, or ``images[row]`` indexed by table
        row (an array or data set, for tables of images held in memory). By default
        each source is a file that :func:`astrofm.load` reads.
    k : int
        Neighbours per query, or items of a ranking, shown.
    columns : int
        Panels per row of a ranking.
    figure : matplotlib.figure.Figure, optional
        Figure to draw in (default: a new one, outside pyplot's global state).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    k, columns = positive_int(k, "k"), positive_int(columns, "columns")
    if "neighbour" in results.colnames:
        panels = []
        for query in dict.fromkeys(results["query"]):
            rows = results[results["query"] == query][:k]
            first = rows[0]
            info = {"ra": first["query_ra"], "dec": first["query_dec"]}
            panels.append([(first["query_source"], int(first["query_row"]),
                            f"query: {_name(query)}", info)])
            panels[-1] += [(r["neighbour"], int(r["row"]), f"{int(r['rank'])}. "
                            f"{_name(r['neighbour'])}\n{_similarity(r)}", r) for r in rows]
        layout = panels
    elif "score" in results.colnames:
        top = [(r["source"], int(r["row"]), f"{int(r['rank'])}. {_name(r['source'])}\n"
                f"score {float(r['score']):.3g}", r) for r in results[:k]]
        layout = [top[i:i + columns] for i in range(0, len(top), columns)]
    else:
        raise ConfigError("plot_gallery: give the table of SimilarityIndex.query or "
                          "anomaly_scores (it needs a neighbour or a score column).")
    width = max(len(line) for line in layout)
    figure = figure or Figure(figsize=(2.4 * width, 2.7 * len(layout)), layout="constrained")
    axes = figure.subplots(len(layout), width, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for line, ax_line in zip(layout, axes, strict=False):
        for (source, row, title, info), ax in zip(line, ax_line, strict=False):
            if images is None or row < 0:
                data = display_image(source)
            elif callable(images):
                data = display_image(images(source))
            else:
                data = display_image(images.load(row) if hasattr(images, "load")
                                     else images[row])
            ax.imshow(data, cmap="gray", origin="lower", vmin=0, vmax=1)
            ax.set_title(f"{title}\n{_position(info)}", fontsize=7)
    return figure
