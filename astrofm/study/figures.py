"""Figures of a study: label-fraction curves, per-class scores, UMAP, attention, preprocessing.

Every function returns a :class:`matplotlib.figure.Figure` made without pyplot, so
nothing touches Matplotlib's global state and no display is needed.
"""

from __future__ import annotations

import io

import numpy as np

from astrofm.errors import ConfigError

__all__ = [
    "figure_png",
    "fraction_figure",
    "per_class_figure",
    "confusion_figure",
    "embedding_2d",
    "umap_figure",
    "attention_figure",
    "preprocessing_figure",
    "map_iou_figure",
]

_CURVES = (("macro_f1", "macro F1"), ("macro_precision", "macro precision"),
           ("macro_recall", "macro recall"))


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_png(figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def fraction_figure(curves: dict, baseline=None, title: str = ""):
    """Macro F1, precision and recall against label fraction (paper, Fig. 3 and App. B).

    Parameters
    ----------
    curves : dict of str to astropy.table.Table
        Per label, a :func:`astrofm.study.summary.summarise` table (``fraction``,
        ``<metric>_mean``, ``_min``, ``_max``); the line is the mean over seeds and the
        band its min-max range.
    baseline : astropy.table.Table, optional
        The from-scratch model's summary, drawn dashed.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = _figure(13, 4.2)
    axes = figure.subplots(1, len(_CURVES), sharey=True)
    lines = [(name, table, False) for name, table in curves.items()]
    if baseline is not None:
        lines.append(("from scratch (baseline)", baseline, True))
    for ax, (metric, label) in zip(axes, _CURVES, strict=True):
        for name, table, dashed in lines:
            table = table[np.argsort(table["fraction"])]
            x = 100 * np.asarray(table["fraction"], dtype=float)
            line, = ax.plot(x, table[f"{metric}_mean"], marker="o", label=name,
                            linestyle="--" if dashed else "-",
                            color="black" if dashed else None)
            ax.fill_between(x, table[f"{metric}_min"], table[f"{metric}_max"],
                            color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_xlabel("labelled training images (%)")
        ax.set_title(f"{label} (mean, min-max over seeds)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score on the test split")
    axes[0].legend(fontsize="small")
    figure.suptitle(title)
    return figure


def per_class_figure(reports: dict, title: str = ""):
    """Per-class F1, grouped bars per class, one bar per configuration (paper, Fig. 4).

    Parameters
    ----------
    reports : dict of str to ClassificationReport
        One report per label (see :func:`astrofm.study.summary.per_class_reports`).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from astrofm.classify import plot_per_class_f1

    classes = next(iter(reports.values())).classes
    figure = _figure(max(6.0, 1.1 * len(classes) * max(1.0, len(reports) ** 0.5)), 4.5)
    ax = figure.add_subplot()
    plot_per_class_f1(list(reports.values()), labels=list(reports), ax=ax)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return figure


def confusion_figure(reports: dict, title: str = ""):
    """One confusion matrix per configuration, coloured by share of the true class.

    Parameters
    ----------
    reports : dict of str to ClassificationReport
        One report per label; counts are whole test images.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from astrofm.classify import plot_confusion

    k = len(next(iter(reports.values())).classes)
    columns = min(3, len(reports))
    rows = -(-len(reports) // columns)
    side = 1.0 * k + 2.5
    figure = _figure(side * columns, side * rows)
    for i, (label, report) in enumerate(reports.items()):
        ax = figure.add_subplot(rows, columns, i + 1)
        plot_confusion(report, ax=ax)
        ax.set_title(label, fontsize="medium")
    figure.suptitle(title)
    return figure


def embedding_2d(features, labels, seed: int = 0, max_per_class: int = 500):
    """UMAP of the first 10 PCA components of a class-balanced sample (paper, Fig. 2).

    Parameters
    ----------
    features : array of shape (N, D)
        Feature vectors.
    labels : array of shape (N,)
        Class of each vector.
    seed : int
        Seeds the sample, the PCA and UMAP, so the figure is reproducible.
    max_per_class : int
        At most this many vectors of each class.

    Returns
    -------
    points : numpy.ndarray
        ``(n, 2)`` coordinates.
    labels : numpy.ndarray
        The class of each point.

    Raises
    ------
    ConfigError
        With fewer than 4 vectors, too few for a neighbour graph.
    """
    import umap
    from sklearn.decomposition import PCA

    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    # An unbalanced set would let its largest class shape the whole map.
    take = min(int(counts.min()), max_per_class) if len(counts) else 0
    index = np.concatenate([rng.choice(np.flatnonzero(labels == c), take, replace=False)
                            for c in classes] + [np.zeros(0, int)])
    n = len(index)
    if n < 4:
        raise ConfigError(f"{n} class-balanced feature vectors: UMAP needs at least 4; "
                          "give more images of the rarest class.")
    pca = PCA(n_components=min(10, n, features.shape[1]), random_state=seed)
    reduced = pca.fit_transform(features[index])
    # Spectral initialisation needs more points than a tiny test split gives.
    reducer = umap.UMAP(n_neighbors=min(15, n - 1), random_state=seed, n_jobs=1,
                        init="spectral" if n > 50 else "random")
    return reducer.fit_transform(reduced), labels[index]


def umap_figure(embeddings: dict, classes, title: str = ""):
    """Scatter plots of 2-D embeddings coloured by class, one panel per label.

    Parameters
    ----------
    embeddings : dict of str to (points, labels)
        From :func:`embedding_2d`.
    classes : list of str
        All classes, so colours agree between panels.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps

    colours = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    columns = min(3, len(embeddings))
    rows = -(-len(embeddings) // columns)
    figure = _figure(4.2 * columns, 4.0 * rows)
    for i, (label, (points, names)) in enumerate(embeddings.items()):
        ax = figure.add_subplot(rows, columns, i + 1)
        for k, name in enumerate(classes):
            chosen = names == name
            if chosen.any():
                ax.scatter(points[chosen, 0], points[chosen, 1], s=8, color=colours(k % 20),
                           label=name)
        ax.set_title(label, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.legend(fontsize="small", markerscale=2)
    figure.suptitle(title)
    return figure


def attention_figure(images, maps, titles, heads=(0, 1), percentile: float = 90.0):
    """Attention contours of two heads on a few images, one column per set of maps (Fig. 6).

    Parameters
    ----------
    images : list of AstroImage
        The images as loaded, before preprocessing.
    maps : AttentionMaps or list of AttentionMaps
        From :meth:`astrofm.features.Adapted.attention`, one per column (for instance
        without and with the close crop), each over all of ``images``.
    titles : str or list of str
        One title per column.
    heads : sequence of int
        The heads drawn, one contour each.
    percentile : float
        Contour level, as a percentile of each head's map (the paper used the 90th).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from astrofm.features import plot_attention

    maps = [maps] if hasattr(maps, "on_original") else list(maps)
    titles = [titles] if isinstance(titles, str) else list(titles)
    if len(titles) != len(maps):
        raise ConfigError(f"attention_figure: {len(titles)} titles for {len(maps)} sets of "
                          "maps; give one title per set.")
    for m in maps:
        if len(m) != len(images):
            raise ConfigError(f"attention_figure: maps of {len(m)} images for {len(images)} "
                              "images; give maps computed on the same images.")
        if max(heads) >= m.maps.shape[1]:
            raise ConfigError(f"heads={tuple(heads)}: the maps have {m.maps.shape[1]} heads; "
                              f"choose heads below {m.maps.shape[1]}.")
    figure = _figure(3.4 * len(maps), 3.4 * len(images))
    for row, image in enumerate(images):
        for column, (m, title) in enumerate(zip(maps, titles, strict=True)):
            ax = figure.add_subplot(len(images), len(maps), row * len(maps) + column + 1)
            plot_attention(image, m, index=row, percentile=percentile, heads=heads, ax=ax)
            ax.set_title(title if row == 0 else "", fontsize="medium")
            ax.set_xticks([])
            ax.set_yticks([])
    figure.suptitle(f"class-token attention, heads {', '.join(map(str, heads))}, contours at "
                    f"the {percentile:g}th percentile")
    return figure


def _show(ax, image, title):
    from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval

    data = image.data if image.data.ndim == 2 else image.data.mean(axis=0)
    finite = data[np.isfinite(data)]
    norm = None
    if title == "raw" and finite.size and np.ptp(finite) > 0:
        norm = ImageNormalize(finite, interval=ZScaleInterval(), stretch=AsinhStretch())
    ax.imshow(data, cmap="gray", norm=norm, origin="upper" if image.display else "lower")
    ax.set_title(title, fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])


def preprocessing_figure(image, pipelines: dict):
    """One image through each named preprocessing, step by step.

    Each row is one pipeline: the raw image (asinh on a zscale interval, for the eye),
    then the image after each of its steps on its own linear scale, so a step that
    blanks or saturates the image shows as such.

    Parameters
    ----------
    image : AstroImage
        A real image of the study, as loaded.
    pipelines : dict of str to Step
        Preprocessings by name (``{"default": ..., "crop": ...}``); a
        :class:`~astrofm.preprocess.Pipeline` shows each of its steps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from astrofm.preprocess import Pipeline

    if not pipelines:
        raise ConfigError("preprocessing_figure: no pipelines; give at least one by name.")
    steps = {name: list(p) if isinstance(p, Pipeline) else [p] for name, p in pipelines.items()}
    columns = 1 + max(len(s) for s in steps.values())
    figure = _figure(2.4 * columns, 2.6 * len(steps))
    for row, (name, chain) in enumerate(steps.items()):
        ax = figure.add_subplot(len(steps), columns, row * columns + 1)
        _show(ax, image, "raw")
        ax.set_ylabel(name)
        current = image
        for k, step in enumerate(chain):
            current = step(current)
            ax = figure.add_subplot(len(steps), columns, row * columns + k + 2)
            _show(ax, current, f"{k + 1}. {type(step).__name__}")
    figure.suptitle(f"preprocessing of {image.source}")
    return figure


def map_iou_figure(summary, ious, relative: bool, title: str = ""):
    """mAP against IoU threshold per detector, minus the from-scratch baseline's (Fig. C.1).

    Parameters
    ----------
    summary : astropy.table.Table
        :func:`astrofm.study.summary.detection_summary`; rows with ``baseline`` True
        are the from-scratch model.
    ious : sequence of float
        The thresholds of ``map_per_iou``.
    relative : bool
        Draw each detector's mAP minus the baseline's (which must be in ``summary``),
        rather than its mAP.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    baseline = summary[summary["baseline"]]
    figure = _figure(6.5, 4.2)
    ax = figure.add_subplot()
    offset = np.asarray(baseline["map_per_iou"][0]) if relative else 0.0
    for row in summary[~summary["baseline"]]:
        label = f"{row['backbone']} {row['tuning']}"
        if row["variant"] != "default":
            label += f" {row['variant']}"
        ax.plot(ious, np.asarray(row["map_per_iou"]) - offset, marker="o", label=label)
    if relative:
        ax.axhline(0, color="black", linestyle="--", label="from scratch (baseline)")
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("mAP minus the from-scratch baseline's" if relative else "mAP")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return figure
