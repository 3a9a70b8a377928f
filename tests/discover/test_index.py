"""SimilarityIndex: neighbours against brute force, approximate recall, persistence."""

import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from numpy.testing import assert_allclose

from astrofm.discover import SimilarityIndex
from astrofm.errors import ConfigError, DatasetError, InputFileError

from .conftest import make_table


def brute_cosine(features, queries, k, exclude=None):
    """Indices and similarities of the k most cosine-similar rows, by numpy alone."""
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sim = q @ f.T
    if exclude is not None:
        sim[np.arange(len(q)), exclude] = -np.inf
    order = np.argsort(-sim, axis=1)[:, :k]
    return order, np.take_along_axis(sim, order, axis=1)


def test_flat_cosine_matches_brute_force(table):
    index = SimilarityIndex.build(table)
    assert index.kind == "flat" and index.metric == "cosine"
    rows = [0, 17, 101, 239]
    result = index.query(rows, k=7)
    expected, sims = brute_cosine(np.asarray(table["feature"], float),
                                  np.asarray(table["feature"], float)[rows], 7, exclude=rows)
    assert len(result) == 4 * 7
    for i, row in enumerate(rows):
        got = result[result["query"] == f"row {row}"]
        assert list(got["row"]) == list(expected[i])
        assert list(got["rank"]) == list(range(1, 8))
        assert_allclose(got["similarity"], sims[i], rtol=1e-5, atol=1e-5)
        # Metadata follows the neighbour, not the position in the index.
        assert list(got["neighbour"]) == [table["source"][j] for j in expected[i]]
        assert_allclose(got["ra"], table["ra"][expected[i]])
        assert list(got["label"]) == list(table["label"][expected[i]])


def test_l2_metric_matches_sklearn(table):
    from sklearn.neighbors import NearestNeighbors

    index = SimilarityIndex.build(table, metric="l2")
    features = np.asarray(table["feature"], float)
    distance, expected = NearestNeighbors(n_neighbors=6).fit(features).kneighbors(features[[5]])
    got = index.query(5, k=5)
    # sklearn counts the query itself as its own first neighbour; the index leaves it out.
    assert list(got["row"]) == list(expected[0, 1:])
    assert_allclose(got["distance"], distance[0, 1:], rtol=1e-4)


def test_query_by_source_equals_query_by_row(table):
    index = SimilarityIndex.build(table)
    by_name = index.query("obj0042.fits", k=5)
    by_row = index.query(42, k=5)
    assert list(by_name["row"]) == list(by_row["row"])
    assert by_name["query_row"][0] == 42


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_recall_against_exact(kind):
    table = make_table(n=2000, dim=32, clusters=20, seed=1)
    exact = SimilarityIndex.build(table, kind="flat")
    approx = SimilarityIndex.build(table, kind=kind, nlist=16, nprobe=4)
    assert approx.kind == kind
    queries = np.asarray(table["feature"])[:200]
    truth, _ = exact.search(queries, 10)
    found, _ = approx.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95


def test_auto_kind_follows_memory_budget(table):
    vector_bytes = 240 * 16 * 4
    assert SimilarityIndex.build(table, memory_budget=vector_bytes).kind == "flat"
    assert SimilarityIndex.build(table, memory_budget=vector_bytes - 1).kind == "ivf"


def test_sky_query_matches_astropy(table):
    index = SimilarityIndex.build(table)
    catalogue = SkyCoord(table["ra"], table["dec"], unit="deg")
    target = catalogue[77].spherical_offsets_by(2 * u.arcsec, -1 * u.arcsec)
    nearest, sep, _ = target.match_to_catalog_sky(catalogue)
    assert sep.to(u.arcsec).value < 5
    result = index.query(target, k=3)
    assert result["query_row"][0] == int(nearest)
    assert list(result["row"]) == list(index.query(int(nearest), k=3)["row"])
    text = f"{target.ra.deg:.7f} {target.dec.deg:.7f}"
    assert list(index.query(text, k=3)["row"]) == list(result["row"])
    with pytest.raises(DatasetError, match="beyond the tolerance"):
        index.query(target, k=3, tolerance=1 * u.arcsec)


def test_nan_rows_are_skipped_and_counted(table, caplog):
    table["feature"][[3, 50]] = np.nan
    with caplog.at_level(logging.WARNING, logger="astrofm.discover"):
        index = SimilarityIndex.build(table)
    assert index.skipped == 2 and len(index) == 238
    assert "2 of 240 rows have NaN features" in caplog.text
    result = index.query(4, k=237)
    assert not set(result["row"]) & {3, 4, 50}
    with pytest.raises(DatasetError, match="row 3: its features are NaN"):
        index.query(3, k=2)
    with pytest.raises(ConfigError, match="only 238 usable rows"):
        index.query(4, k=238)


def test_save_load_round_trip(table, tmp_path):
    table["feature"][9] = np.nan
    index = SimilarityIndex.build(table, kind="ivf", nlist=8, nprobe=8)
    path = index.save(tmp_path / "t.index.fits")
    loaded = SimilarityIndex.load(path)
    assert (loaded.kind, loaded.metric, loaded.skipped) == ("ivf", "cosine", 1)
    assert loaded.fingerprint == index.fingerprint
    assert loaded.meta.meta["WEIGHTS"] == "random (seed 0)"
    for name in ("row", "source", "label", "class_name"):
        assert list(loaded.meta[name]) == list(index.meta[name])
    assert_allclose(loaded.meta["dec"], index.meta["dec"])
    a, b = index.query([0, 200], k=5), loaded.query([0, 200], k=5)
    assert list(a["row"]) == list(b["row"])
    assert list(b["neighbour"]) == [table["source"][r] for r in b["row"]]


@pytest.mark.parametrize("suffix", [".fits", ".h5"])
def test_build_from_written_table(table, tmp_path, suffix):
    from astrofm.features import write_table

    path = write_table(table, tmp_path / f"t{suffix}")
    index = SimilarityIndex.build(path)
    assert index.save() == tmp_path / f"t{suffix}.index.fits"
    assert SimilarityIndex.load(tmp_path / f"t{suffix}.index.fits").meta.meta["TABLE"] == str(
        path)
    assert list(index.query(1, k=4)["row"]) == list(SimilarityIndex.build(table).query(
        1, k=4)["row"])
    assert index.meta.meta["MODEL"] == "toy"


def test_bad_tables_and_queries(table, tmp_path):
    del table["feature"]
    with pytest.raises(DatasetError, match="has no 'feature' column"):
        SimilarityIndex.build(table)
    with pytest.raises(InputFileError, match="no such file"):
        SimilarityIndex.build(tmp_path / "missing.fits")
    with pytest.raises(ConfigError, match="built from a table in memory"):
        SimilarityIndex.build(make_table(n=20)).save()
    index = SimilarityIndex.build(make_table(n=20))
    with pytest.raises(ConfigError, match="k=20: the table has only 20 usable rows"):
        index.query(0, k=20)
    with pytest.raises(InputFileError, match="not a source of the table"):
        index.query("nothing-like-this", k=2)
    with pytest.raises(ConfigError, match="the table has rows 0 to 19"):
        index.query(20, k=2)
