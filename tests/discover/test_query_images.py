"""Image queries: embedded as the table was, refused when the backbone differs."""

import shutil

import numpy as np
import pytest
from numpy.testing import assert_allclose

from astrofm.discover import SimilarityIndex, plot_gallery
from astrofm.errors import ConfigError, FileFormatError, InputFileError
from astrofm.features import embed


@pytest.fixture
def embedded(fits_images, resnet):
    return embed(fits_images, model=resnet, size=64, progress=False)


def outside_copy(path, tmp_path):
    """The image under a name the table lacks: a path that is a source is a row query."""
    copy = tmp_path / "query" / path.name
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(path, copy)
    return str(copy)


def test_image_query_matches_brute_force(embedded, fits_images, resnet, tmp_path):
    index = SimilarityIndex.build(embedded)
    query = outside_copy(fits_images[2], tmp_path)
    result = index.query(query, k=4, model=resnet)
    features = np.asarray(embedded["feature"], float)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit[2]
    expected = np.argsort(-similarity)[:4]
    # A new image is not in the table, so the same picture comes back as its own match.
    assert result["row"][0] == 2 and result["query_row"][0] == -1
    assert list(result["row"]) == list(expected)
    assert_allclose(result["similarity"], similarity[expected], atol=1e-4)
    assert result["query_source"][0] == query
    # The same file by its name in the table is that row, which is not its own neighbour.
    assert 2 not in index.query(str(fits_images[2]), k=4)["row"]


def test_mismatched_backbone_is_refused(embedded, fits_images, tmp_path):
    from astrofm import backbones

    index = SimilarityIndex.build(embedded)
    other = backbones.load("resnet18", weights=None, seed=1)
    with pytest.raises(ConfigError, match="query fingerprint mismatch: the backbone given has "
                                          "parameters sha1:"):
        index.query(outside_copy(fits_images[0], tmp_path), k=2, model=other)


def test_table_backbone_rebuilt_from_its_metadata(embedded, fits_images, tmp_path):
    assert embedded.meta["WEIGHTS"] == "random (seed 0)"
    index = SimilarityIndex.build(embedded)
    query = outside_copy(fits_images[1], tmp_path)
    result = index.query(query, k=2)
    assert result["row"][0] == 1
    assert result["similarity"][0] == pytest.approx(1.0, abs=1e-5)
    index.meta.meta["WDIGEST"] = "sha1:0000"
    with pytest.raises(ConfigError, match="resnet18 with weights random \\(seed 0\\) has "
                                          "parameters"):
        index.query(query, k=2)


def test_unreadable_query_image(embedded, tmp_path, resnet):
    index = SimilarityIndex.build(embedded)
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"this is not a FITS file")
    with pytest.raises(FileFormatError, match=f"query image {bad}: cannot be read"):
        index.query(str(bad), k=2, model=resnet)
    with pytest.raises(InputFileError, match="missing.fits"):
        index.query(str(tmp_path / "missing.fits"), k=2, model=resnet)


def test_gallery_shows_query_and_neighbours_with_positions(embedded):
    index = SimilarityIndex.build(embedded)
    figure = plot_gallery(index.query([0, 5], k=3))
    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == 2 * 4
    titles = [ax.get_title() for ax in shown]
    assert titles[0].startswith("query: row 0") and "RA 150.00000 Dec +2.00000" in titles[0]
    assert all("RA " in t for t in titles)
    data = shown[0].images[0].get_array()
    assert 0 <= data.min() and data.max() <= 1


def test_gallery_of_a_ranking(embedded):
    from astrofm.discover import anomaly_scores

    ranked = anomaly_scores(embedded, "knn", neighbours=2)
    figure = plot_gallery(ranked, k=5, columns=3)
    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == 5
    assert shown[0].get_title().startswith(f"1. img{ranked['row'][0]}.fits\nscore")
