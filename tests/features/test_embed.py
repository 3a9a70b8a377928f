import numpy as np
import pytest
import torch
from astropy.table import Table

from astrofm.data import ListDataset
from astrofm.errors import ConfigError
from astrofm.features import ShardStore, adapt, atomic_path, embed


def test_table_matches_adapt_and_has_sky_centres(tiny_vit, fits_files, sky_wcs):
    table = embed(fits_files, model=tiny_vit, size=56, batch_size=2, progress=False)
    assert len(table) == 5 and table["feature"].shape == (5, 48)
    direct = adapt(fits_files, model=tiny_vit, size=56).features()
    np.testing.assert_allclose(table["feature"], direct.numpy(), rtol=1e-5, atol=1e-5)
    assert list(table["source"]) == [str(p) for p in fits_files]
    assert (table["error"] == "").all()
    for i, row in enumerate(table):
        # the centre of a 64 px image is between pixels 31 and 32 (astropy convention)
        centre = sky_wcs(ra=150.0 + i).pixel_to_world(31.5, 31.5)
        assert abs(row["ra"] - centre.ra.deg) < 1e-9 and abs(row["dec"] - centre.dec.deg) < 1e-9
    assert table.meta["MODEL"] == "dinov2-small" and table.meta["POOLING"] == "cls"


def test_broken_inputs_are_reported_not_fatal(tiny_vit, fits_files, tmp_path, caplog):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    inputs = [fits_files[0], bad, tmp_path / "missing.fits", fits_files[1]]
    table = embed(inputs, model=tiny_vit, size=28, progress=False)
    assert [e == "" for e in table["error"]] == [True, False, False, True]
    assert "missing.fits" in table["error"][2]
    assert np.isnan(table["feature"][1:3]).all() and np.isfinite(table["feature"][[0, 3]]).all()
    assert "broken.fits" in caplog.text


@pytest.mark.parametrize("suffix", [".fits", ".h5"])
def test_output_round_trip(tiny_vit, fits_files, tmp_path, suffix):
    out = tmp_path / f"features{suffix}"
    table = embed(ListDataset(fits_files, labels=["a", "b", "a", "b", "b"]), model=tiny_vit,
                  size=28, output=out, progress=False)
    back = Table.read(out, **({"path": "features"} if suffix == ".h5" else {}))
    np.testing.assert_array_equal(back["feature"], table["feature"])
    assert list(back["class_name"]) == ["a", "b", "a", "b", "b"]
    assert back.meta["MODEL"] == "dinov2-small"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("features")) == [
        out.name]


class _Counting(ListDataset):
    """Records the items it loads, so a test sees what a run computed."""

    def __init__(self, items, **kw):
        super().__init__(items, **kw)
        self.loaded = []

    def load(self, index):
        self.loaded.append(index)
        return super().load(index)


class _Exploding(ListDataset):
    """Crashes (like a job killed mid-run) when it reaches one item."""

    def __init__(self, items, explode_at, **kw):
        super().__init__(items, **kw)
        self.explode_at = explode_at

    def load(self, index):
        if index == self.explode_at:
            raise RuntimeError("job killed")
        return super().load(index)


def test_killed_run_resumes_to_the_same_table(tiny_vit, fits_files, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out.fits"
    with pytest.raises(RuntimeError, match="job killed"):
        embed(_Exploding(fits_files, explode_at=3), model=tiny_vit, size=28, batch_size=1,
              cache=cache, output=out, progress=False)
    assert not out.exists()
    done = ShardStore(cache, _fingerprint_of(cache)).done()
    assert sorted(done.tolist()) == [0, 1, 2]
    items = _Counting(fits_files)
    # In this process (no worker), so that the loads are counted here.
    resumed = embed(items, model=tiny_vit, size=28, batch_size=1, cache=cache, output=out,
                    progress=False, num_workers=0)
    assert sorted(items.loaded) == [0, 3, 4]  # 0 once more, only to learn the image shape
    fresh = embed(fits_files, model=tiny_vit, size=28, batch_size=2, progress=False)
    # batch sizes differ, so kernels may sum in another order
    np.testing.assert_allclose(resumed["feature"], fresh["feature"], rtol=1e-4, atol=1e-5)
    assert list(resumed["source"]) == list(fresh["source"])


def _fingerprint_of(cache):
    import json

    return json.loads((cache / ShardStore.FINGERPRINT).read_text())


def test_cache_of_another_configuration_is_refused(tiny_vit, fits_files, tmp_path):
    embed(fits_files[:2], model=tiny_vit, size=28, cache=tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        embed(fits_files[:2], model=tiny_vit, size=28, pooling="mean", cache=tmp_path / "c",
              progress=False)


def test_bad_arguments(tiny_vit, fits_files, tmp_path):
    with pytest.raises(ConfigError, match="pooling"):
        embed(fits_files, model=tiny_vit, pooling="tokens", progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        embed(fits_files, model=tiny_vit, batch_size=0, progress=False)
    with pytest.raises(ConfigError, match="suffix|ending"):
        embed(fits_files[:1], model=tiny_vit, size=28, output=tmp_path / "x.txt",
              progress=False)
    with pytest.raises(ConfigError, match="none of the"):
        embed([tmp_path / "a.fits", tmp_path / "b.fits"], model=tiny_vit, progress=False)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "t.fits"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_attention_maps_back_to_original(tiny_vit, fits_files, agg_backend):
    import astrofm
    from astrofm.features import plot_attention
    from astrofm.preprocess import CropToBox, Pipeline, ResizeForPatch, ToChannels

    pipe = Pipeline([CropToBox((16, 8, 44, 36)), ResizeForPatch(14, 56), ToChannels()])
    batch = adapt(fits_files[0], model=tiny_vit, preprocessing=pipe)
    maps = batch.attention(block=-1)
    assert maps.block == 1 and maps.maps.shape == (1, 3, 56, 56)
    with torch.inference_mode():
        grid = tiny_vit.cls_attention(batch.tensor)  # (1, 3, 4, 4)
    orig = maps.on_original(0)
    assert orig.shape == (3, 64, 64)
    assert np.isnan(orig[:, :8]).all() and np.isnan(orig[:, :, 44:]).all()
    # original pixel (row 8 + 7 * k, col 16 + 7 * j) lies in patch (k, j) of the 4 x 4 grid
    for k, j in [(0, 0), (1, 2), (3, 3)]:
        np.testing.assert_allclose(orig[:, 8 + 7 * k + 3, 16 + 7 * j + 3], grid[0, :, k, j],
                                   rtol=1e-6)
    levels = maps.levels(0, 90)
    np.testing.assert_allclose(levels, np.percentile(maps.maps[0].flatten(1).numpy(), 90, axis=1))
    ax = plot_attention(astrofm.load(fits_files[0]), maps)
    assert len(ax.collections) >= 1
    with pytest.raises(ConfigError, match="original shape"):
        plot_attention(astrofm.load(np.zeros((10, 10))), maps)


def test_cache_tells_apart_arrays_with_the_same_names(tiny_vit, tmp_path):
    from astrofm.data import ArrayDataset

    rng = np.random.default_rng(0)
    a = ArrayDataset({"images": rng.normal(size=(3, 32, 32)).astype(np.float32)}, labels=None)
    b = ArrayDataset({"images": rng.normal(size=(3, 32, 32)).astype(np.float32)}, labels=None)
    assert a.sources == b.sources
    embed(a, model=tiny_vit, size=28, cache=tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        embed(b, model=tiny_vit, size=28, cache=tmp_path / "c", progress=False)


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(mask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644


def test_shard_store_reads_rows_sorted_once_with_text_of_any_width(tmp_path):
    store = ShardStore(tmp_path, {"model": "test"})
    # Written out of order, one index (3) twice (by two jobs, with the same result) and
    # error messages of different widths.
    store.write([4, 3], features=np.array([[4.0, 40.0], [3.0, 30.0]], np.float32),
                error=np.array(["unreadable file", ""]))
    store.write([0, 1, 2], features=np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]], np.float32),
                error=np.array(["", "x", ""]))
    store.write([3, 5], tag="-other-job", error=np.array(["", ""]),
                features=np.array([[3.0, 30.0], [5.0, 50.0]], np.float32))
    columns = store.read()
    assert list(columns["index"]) == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(columns["features"][:, 0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(columns["features"][:, 1], [0, 10, 20, 30, 40, 50])
    assert columns["features"].dtype == np.float32
    assert list(columns["error"]) == ["", "x", "", "", "unreadable file", ""]
