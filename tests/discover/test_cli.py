"""``astrofm similar`` and ``astrofm anomalies``: results, figures, one-line user errors."""

import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from astrofm.cli import main
from astrofm.discover import SimilarityIndex, anomaly_scores
from astrofm.features import embed, write_table

from .conftest import make_table


@pytest.fixture
def table_path(tmp_path):
    return write_table(make_table(n=60), tmp_path / "features.fits")


def user_error(capsys, argv) -> str:
    """The one line a user error prints; fails unless the exit status is 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("astrofm: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_similar_by_source_and_position(table_path, tmp_path, capsys):
    out = tmp_path / "out" / "neighbours.ecsv"
    assert main(["similar", str(table_path), "--query", "obj0007.fits", "-k", "4",
                 "-o", str(out)]) == 0
    written = Table.read(out)
    expected = SimilarityIndex.build(make_table(n=60)).query(7, k=4)
    assert list(written["row"]) == list(expected["row"])
    assert written.meta["MODEL"] == "toy"
    ra, dec = make_table(n=60)["ra"][7], make_table(n=60)["dec"][7]
    assert main(["similar", str(table_path), "--query", f"{ra:.6f} {dec:.6f}", "-k", "4",
                 "-o", str(out)]) == 0
    assert list(Table.read(out)["row"]) == list(expected["row"])
    assert "1 queries, 4 neighbours each" in capsys.readouterr().out


def test_similar_saves_and_reuses_its_index(table_path, tmp_path, capsys):
    index = tmp_path / "features.index.fits"
    argv = ["similar", str(table_path), "--query", "obj0001.fits", "--index", str(index)]
    assert main(argv) == 0 and index.is_file()
    assert main(argv) == 0
    other = write_table(make_table(n=60, seed=9), tmp_path / "other.fits")
    other_table = Table.read(other)
    other_table.meta["WDIGEST"] = "sha1:other"
    write_table(other_table, other)
    err = user_error(capsys, ["similar", str(other), "--query", "obj0001.fits",
                              "--index", str(index)])
    assert "was built from another table" in err


def test_anomalies_writes_the_top_rows(table_path, tmp_path):
    out = tmp_path / "ranked.ecsv"
    assert main(["anomalies", str(table_path), "--method", "knn", "--neighbours", "5",
                 "-k", "7", "-o", str(out)]) == 0
    written = Table.read(out)
    expected = anomaly_scores(make_table(n=60), "knn", neighbours=5)[:7]
    assert list(written["row"]) == list(expected["row"])
    assert list(written["rank"]) == list(range(1, 8))


def test_galleries_are_written(fits_images, resnet, tmp_path):
    table = write_table(embed(fits_images, model=resnet, size=64, progress=False),
                        tmp_path / "f.h5")
    for argv in (["similar", str(table), "--query", str(fits_images[0]), "-k", "3"],
                 ["anomalies", str(table), "--method", "lof", "--neighbours", "3", "-k", "4"]):
        figure = tmp_path / f"{argv[0]}.png"
        assert main([*argv, "--gallery", str(figure)]) == 0
        assert figure.read_bytes()[:4] == b"\x89PNG"


def test_user_errors_are_one_line(table_path, tmp_path, capsys):
    no_features = make_table(n=10)
    del no_features["feature"]
    bare = write_table(no_features, tmp_path / "bare.fits")
    assert "has no 'feature' column" in user_error(
        capsys, ["anomalies", str(bare)])
    assert "-k 61: the table has only 60 usable rows" in user_error(
        capsys, ["anomalies", str(table_path), "-k", "61"])
    assert "k=60: the table has only 60 usable rows" in user_error(
        capsys, ["similar", str(table_path), "--query", "obj0001.fits", "-k", "60"])
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert f"query image {bad}: cannot be read" in user_error(
        capsys, ["similar", str(table_path), "--query", str(bad)])
    assert "--gallery=g.txt" in user_error(
        capsys, ["similar", str(table_path), "--query", "obj0001.fits", "--gallery", "g.txt"])
    assert "no such file" in user_error(capsys, ["similar", str(tmp_path / "none.fits"),
                                                 "--query", "x"])


def test_nan_rows_are_reported_by_the_command(tmp_path, capsys):
    table = make_table(n=30)
    table["feature"][[2, 3]] = np.nan
    path = write_table(table, tmp_path / "nan.fits")
    done = subprocess.run([sys.executable, "-m", "astrofm.cli", "anomalies", str(path),
                           "--method", "knn", "--neighbours", "3", "-k", "29"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "astrofm: error: -k 29: the table has only 28 usable rows; give a smaller -k.")
    assert main(["anomalies", str(path), "--method", "knn", "--neighbours", "3", "-k", "5"]) == 0
    assert "28 rows ranked by knn (2 skipped for NaN features)" in capsys.readouterr().out
