"""Anomaly scores against scikit-learn and brute force; the feedback loop re-ranks."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from astrofm.discover import anomaly_scores, rerank
from astrofm.errors import ConfigError, DatasetError

from .conftest import make_table


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_isolation_forest_matches_sklearn(table):
    from sklearn.ensemble import IsolationForest

    ranked = anomaly_scores(table, "isolation-forest", random_state=3, n_estimators=50)
    x = unit(table["feature"]).astype(np.float32)
    expected = -IsolationForest(random_state=3, n_estimators=50).fit(x).score_samples(x)
    assert_allclose(ranked["score"], expected[ranked["row"]], rtol=1e-6)
    assert np.all(np.diff(ranked["score"]) <= 0)
    assert list(ranked["rank"]) == list(range(1, 241))
    assert list(ranked["source"]) == [table["source"][r] for r in ranked["row"]]


def test_lof_matches_sklearn(table):
    from sklearn.neighbors import LocalOutlierFactor

    ranked = anomaly_scores(table, "lof", neighbours=15)
    x = unit(table["feature"]).astype(np.float32)
    expected = -LocalOutlierFactor(n_neighbors=15).fit(x).negative_outlier_factor_
    assert_allclose(ranked["score"], expected[ranked["row"]], rtol=1e-5)


def test_knn_score_is_mean_distance_to_neighbours(table):
    ranked = anomaly_scores(table, "knn", neighbours=5)
    x = unit(table["feature"])
    distance = 1 - x @ x.T
    np.fill_diagonal(distance, np.inf)
    expected = np.sort(distance, axis=1)[:, :5].mean(axis=1)
    assert_allclose(ranked["score"], expected[ranked["row"]], rtol=1e-4, atol=1e-5)
    assert ranked["row"][0] == int(np.argmax(expected))


@pytest.mark.parametrize("method", ["isolation-forest", "lof", "knn"])
def test_planted_outliers_rank_first(method):
    table = make_table(n=200, dim=16, clusters=2, seed=4, spread=0.1)
    rng = np.random.default_rng(5)
    table["feature"][:5] = rng.normal(size=(5, 16)) * 3
    ranked = anomaly_scores(table, method, neighbours=10)
    assert set(ranked["row"][:5]) == {0, 1, 2, 3, 4}


def test_nan_rows_skipped_and_counted(table):
    table["feature"][[0, 7, 9]] = np.nan
    ranked = anomaly_scores(table, "knn", neighbours=3)
    assert ranked.meta["SKIPPED"] == 3 and len(ranked) == 237
    assert not set(ranked["row"]) & {0, 7, 9}


def test_bad_arguments(table):
    with pytest.raises(ConfigError, match="method='svm'"):
        anomaly_scores(table, "svm")
    with pytest.raises(ConfigError, match="neighbours=240: the table has only 240"):
        anomaly_scores(table, "lof", neighbours=240)
    del table["feature"]
    with pytest.raises(DatasetError, match="no 'feature' column"):
        anomaly_scores(table)


def test_feedback_moves_items_like_the_interesting_ones_up():
    # Two groups of equally odd items, interesting (A) and not (B), among normal ones.
    rng = np.random.default_rng(11)
    table = make_table(n=300, dim=16, clusters=1, seed=2, spread=0.2)
    a, b = np.arange(0, 12), np.arange(12, 24)
    table["feature"][a] = rng.normal(size=16) * 3 + 0.3 * rng.normal(size=(12, 16))
    table["feature"][b] = rng.normal(size=16) * 3 + 0.3 * rng.normal(size=(12, 16))
    ranked = anomaly_scores(table, "isolation-forest")
    marked_a, marked_b = a[:3], b[:3]
    new = rerank(table, ranked, interesting=[table["source"][i] for i in marked_a],
                 uninteresting=list(marked_b))
    place = {int(r): i for i, r in enumerate(new["row"])}
    rest_a, rest_b = a[3:], b[3:]
    # Every unmarked item of group A now comes before every unmarked item of group B.
    assert max(place[i] for i in rest_a) < min(place[i] for i in rest_b)
    assert set(new["row"][:12]) == set(a)
    assert set(new["mark"][np.isin(new["row"], marked_a)]) == {"interesting"}
    assert np.all(new["relevance"][np.isin(new["row"], marked_b)] == 0)
    old = {int(r): i for i, r in enumerate(ranked["row"])}
    assert np.mean([place[i] for i in rest_a]) < np.mean([old[i] for i in rest_a])


def test_feedback_needs_both_marks(table):
    ranked = anomaly_scores(table, "knn", neighbours=3)
    with pytest.raises(ConfigError, match="at least one item marked interesting and one"):
        rerank(table, ranked, interesting=[1, 2])
    with pytest.raises(ConfigError, match="'nope' is neither a source nor a row"):
        rerank(table, ranked, interesting=["nope"], uninteresting=[1])
