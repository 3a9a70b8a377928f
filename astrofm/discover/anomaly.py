"""Anomaly ranking of an embed table, and re-ranking from what a person marked.

:func:`anomaly_scores` scores every usable row with an isolation forest, the local
outlier factor (both scikit-learn) or the mean distance to the k nearest neighbours
(from a :class:`~astrofm.discover.SimilarityIndex`); higher is more unusual. All three
see the vectors the similarity search sees: scaled to unit length for the cosine metric.

:func:`rerank` is the feedback loop of Astronomaly (Lochner & Bassett 2021) in its
simplest form: a logistic regression on the features of the items marked interesting
or not predicts how interesting every other item is, and that relevance is blended with
the anomaly ranking, so objects like the ones a person cares about move up.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from astrofm.discover.tables import normalise, read_table, usable_rows
from astrofm.errors import ConfigError
from astrofm.runtime import non_negative_float, positive_int

__all__ = ["anomaly_scores", "rerank", "METHODS"]

#: Anomaly scoring methods.
METHODS = ("isolation-forest", "lof", "knn")


def anomaly_scores(table, method: str = "isolation-forest", *, neighbours: int = 20,
                   metric: str = "cosine", random_state: int = 0, index=None,
                   **params) -> Table:
    """Every usable row of an embed table, ranked from the most unusual.

    Rows with NaN features are skipped with a warning and counted in ``meta["SKIPPED"]``.

    Parameters
    ----------
    table : Table, str or path
        A table from :func:`astrofm.embed` or its FITS/HDF5 file.
    method : {"isolation-forest", "lof", "knn"}
        ``"isolation-forest"``: :class:`sklearn.ensemble.IsolationForest`, score
        ``-score_samples``; ``"lof"``: :class:`sklearn.neighbors.LocalOutlierFactor`,
        score ``-negative_outlier_factor_``; ``"knn"``: mean distance to the
        ``neighbours`` nearest other rows (1 - cosine similarity, or Euclidean).
    neighbours : int
        Neighbours of ``"lof"`` and ``"knn"``.
    metric : {"cosine", "l2"}
        Vectors scaled to unit length (cosine) or as they are (l2).
    random_state : int
        Seed of the isolation forest.
    index : SimilarityIndex, optional
        A prebuilt index of the same table for ``"knn"`` (default: an exact one).
    **params
        Passed to the scikit-learn estimator.

    Returns
    -------
    astropy.table.Table
        ``rank`` (1 = most unusual), ``row``, ``source``, ``score``, ``ra``, ``dec`` and
        ``label``/``class_name`` when known, sorted by rank.
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: choose one of {list(METHODS)}.")
    neighbours = positive_int(neighbours, "neighbours")
    table = read_table(table)
    rows = usable_rows(table)
    if method != "isolation-forest" and neighbours >= len(rows):
        raise ConfigError(f"neighbours={neighbours}: the table has only {len(rows)} usable "
                          f"rows; give at most {len(rows) - 1}.")
    features = normalise(np.asarray(table["feature"], dtype=np.float32)[rows], metric)
    if method == "isolation-forest":
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(random_state=random_state, **params).fit(features)
        score = -forest.score_samples(features)
    elif method == "lof":
        from sklearn.neighbors import LocalOutlierFactor

        lof = LocalOutlierFactor(n_neighbors=neighbours, **params).fit(features)
        score = -lof.negative_outlier_factor_
    else:
        score = _knn_scores(table, rows, neighbours, metric, index)
    order = np.argsort(-score, kind="stable")
    out = Table()
    out["rank"] = np.arange(1, len(rows) + 1)
    out["row"] = rows[order]
    out["source"] = table["source"][rows[order]]
    out["score"] = score[order]
    for name in ("ra", "dec", "label", "class_name"):
        if name in table.colnames:
            out[name] = table[name][rows[order]]
    out.meta.update({k: table.meta[k] for k in ("MODEL", "WEIGHTS", "PATH") if k in table.meta})
    out.meta.update({"METHOD": method, "METRIC": metric, "SKIPPED": len(table) - len(rows)})
    return out


def _knn_scores(table, rows, neighbours, metric, index) -> np.ndarray:
    from astrofm.discover.index import SimilarityIndex

    if index is None:
        index = SimilarityIndex.build(table, kind="flat", metric=metric)
    if len(index) != len(rows) or not np.array_equal(np.asarray(index.meta["row"]), rows):
        raise ConfigError("index=: it was built from another table (its rows differ); build "
                          "it from this table or leave index= out.")
    neighbours = index.check_k(neighbours, excluding=1, option="neighbours")
    positions = np.arange(len(index))
    _, scores = index.search(index.vectors(positions), neighbours, exclude=positions)
    distances = 1.0 - scores if index.metric == "cosine" else scores
    return distances.mean(axis=1)


def _rows_of(items, ranked: Table, option: str) -> np.ndarray:
    by_source = {str(s): int(r) for s, r in zip(ranked["source"], ranked["row"], strict=True)}
    known = set(by_source.values())
    out = []
    for item in items:
        if isinstance(item, int | np.integer) and not isinstance(item, bool) and item in known:
            out.append(int(item))
        elif str(item) in by_source:
            out.append(by_source[str(item)])
        else:
            raise ConfigError(f"{option}: {item!r} is neither a source nor a row of the "
                              "ranking; mark items by source name or table row.")
    return np.asarray(out, dtype=np.int64)


def rerank(table, ranked: Table, interesting=(), uninteresting=(), *, weight: float = 0.5,
           C: float = 1.0) -> Table:
    """The ranking ``ranked`` refined by items marked interesting and not interesting.

    A logistic regression (balanced classes) on the features of the marked items gives
    every item a relevance between 0 and 1 (marked items keep their mark: 1 or 0); the
    new order is by ``(1 - weight) * a + weight * relevance``, where ``a`` is the
    item's place in the anomaly ranking scaled to [0, 1] (1 = most unusual).

    Parameters
    ----------
    table : Table, str or path
        The embed table that ``ranked`` was made from (its features are used).
    ranked : astropy.table.Table
        A ranking from :func:`anomaly_scores` (or a previous :func:`rerank`).
    interesting, uninteresting : sequence of str or int
        Marked items, by source name or table row; at least one of each.
    weight : float
        Share of the relevance in the new score, from 0 (anomaly ranking alone) to 1.
    C : float
        Inverse regularisation strength of the logistic regression.

    Returns
    -------
    astropy.table.Table
        ``ranked``'s columns plus ``relevance``, ``combined`` and ``mark``
        (``"interesting"``, ``"not interesting"`` or empty), sorted by ``combined``;
        ``rank`` renumbered.
    """
    from sklearn.linear_model import LogisticRegression

    weight = non_negative_float(weight, "weight")
    if weight > 1:
        raise ConfigError(f"weight={weight}: give a share between 0 and 1.")
    good = _rows_of(interesting, ranked, "interesting")
    bad = _rows_of(uninteresting, ranked, "uninteresting")
    if not len(good) or not len(bad):
        raise ConfigError("rerank needs at least one item marked interesting and one marked "
                          "not interesting, to learn what tells them apart.")
    both = np.intersect1d(good, bad)
    if len(both):
        raise ConfigError(f"rows {both.tolist()} are marked both interesting and not "
                          "interesting; mark each item once.")
    table = read_table(table)
    metric = ranked.meta.get("METRIC", "cosine")
    features = normalise(np.asarray(table["feature"], dtype=np.float32), metric)
    marked = np.concatenate([good, bad])
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000)
    model.fit(features[marked], np.r_[np.ones(len(good)), np.zeros(len(bad))])
    rows = np.asarray(ranked["row"])
    relevance = model.predict_proba(features[rows])[:, 1]
    relevance[np.isin(rows, good)] = 1.0
    relevance[np.isin(rows, bad)] = 0.0
    place = 1.0 - np.argsort(np.argsort(-np.asarray(ranked["score"]), kind="stable")) / max(
        1, len(rows) - 1)
    out = ranked.copy()
    out["relevance"] = relevance
    out["combined"] = (1 - weight) * place + weight * relevance
    out["mark"] = np.where(np.isin(rows, good), "interesting",
                           np.where(np.isin(rows, bad), "not interesting", ""))
    out = out[np.argsort(-np.asarray(out["combined"]), kind="stable")]
    out["rank"] = np.arange(1, len(out) + 1)
    return out
