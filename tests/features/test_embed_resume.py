"""Resuming embed: across processes, never mixing networks, leaving no debris."""

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

from astrofm import backbones
from astrofm.data import ListDataset
from astrofm.errors import ConfigError
from astrofm.features import embed


class _Counting(ListDataset):
    """Counts the images it loads, so a test sees what a run computed."""

    loaded: list

    def load(self, index):
        self.loaded.append(index)
        return super().load(index)


def _counting(files):
    ds = _Counting(files)
    ds.loaded = []
    return ds


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from astrofm.data import ListDataset
    from astrofm.features import embed

    class KilledAt(ListDataset):
        def load(self, index):
            if index == 3:              # a kill -9 in the middle of the run
                os.kill(os.getpid(), signal.SIGKILL)
            return super().load(index)

    files, cache = sys.argv[1:-1], sys.argv[-1]
    embed(KilledAt(files), model="resnet18", weights=None, size=32, batch_size=1,
          cache=cache, progress=False, num_workers=0)   # the kill hits the job itself
""")


def test_a_run_killed_in_another_process_resumes_with_the_same_network(fits_files, tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_RUN)
    run = subprocess.run([sys.executable, str(script), *map(str, fits_files), str(cache)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr
    assert len(list(cache.glob("shard-*.npz"))) == 3      # images 0, 1 and 2 were finished

    # This process builds its own random network: only a seeded initialisation (or a
    # refusal) keeps the first three rows from coming from another network.
    resumed_items = _counting(fits_files)
    resumed = embed(resumed_items, model="resnet18", weights=None, size=32, batch_size=2,
                    cache=cache, progress=False, num_workers=0)  # loads counted here
    assert sorted(resumed_items.loaded) == [0, 3, 4]      # 0: read once for its shape
    fresh = embed(fits_files, model="resnet18", weights=None, size=32, batch_size=5,
                  progress=False)
    assert list(resumed["source"]) == list(fresh["source"])
    # batch sizes differ, so kernels sum in another order; another network differs by O(1)
    np.testing.assert_allclose(resumed["feature"], fresh["feature"], rtol=1e-4, atol=1e-5)


def test_a_cache_of_another_network_with_the_same_name_is_refused(fits_files, tmp_path):
    options = {"depth": 1, "embed_dim": 24, "num_heads": 2}
    first = backbones.load("dinov2-small", weights=None, seed=0, **options)
    other = backbones.load("dinov2-small", weights=None, seed=1, **options)
    embed(fits_files[:2], model=first, size=28, cache=tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        embed(fits_files[:2], model=other, size=28, cache=tmp_path / "c", progress=False)


def test_random_weights_are_recorded_in_the_table(fits_files, tiny_vit):
    table = embed(fits_files[:1], model="resnet18", weights=None, size=32, progress=False)
    assert table.meta["WEIGHTS"] == "random (seed 0)"
    again = embed(fits_files[:1], model="resnet18", weights="random", size=32, progress=False)
    np.testing.assert_allclose(again["feature"], table["feature"], rtol=1e-6)
    assert embed(fits_files[:1], model=tiny_vit, size=28,
                 progress=False).meta["WEIGHTS"] == "random (seed 0)"


def test_weights_default_to_pretrained(fits_files, tmp_path):
    from astrofm.errors import WeightsError

    # Offline the published weights cannot be fetched: the error says how to pass a file
    # instead of silently using a random network.
    with pytest.raises(WeightsError, match="weights="):
        embed(fits_files[:1], model="resnet18", size=32, progress=False)


def test_a_bad_output_suffix_is_refused_before_any_image_is_read(fits_files, tmp_path):
    items = _counting(fits_files)
    with pytest.raises(ConfigError, match="feat.csv"):
        embed(items, model="resnet18", weights=None, size=32, output=tmp_path / "feat.csv",
              progress=False)
    assert items.loaded == []


class _Failing(ListDataset):
    """Raises (a bug, not a bad image) when it reaches one item."""

    def __init__(self, items, fail_at):
        super().__init__(items)
        self.fail_at = fail_at

    def load(self, index):
        if index == self.fail_at:
            raise RuntimeError("job stopped")
        return super().load(index)


def test_a_failed_run_keeps_only_a_cache_worth_resuming(fits_files, tmp_path):
    out = tmp_path / "feat.fits"
    with pytest.raises(RuntimeError, match="job stopped"):
        embed(_Failing(fits_files, 0), model="resnet18", weights=None, size=32, batch_size=1,
              output=out, progress=False)
    parts = tmp_path / "feat.fits.parts"
    assert not parts.exists() and not out.exists()    # nothing finished: nothing kept
    with pytest.raises(RuntimeError, match="job stopped"):
        embed(_Failing(fits_files, 2), model="resnet18", weights=None, size=32, batch_size=1,
              output=out, progress=False)
    assert len(list(parts.glob("shard-*.npz"))) == 2    # kept: a rerun resumes from these
    items = _counting(fits_files)
    embed(items, model="resnet18", weights=None, size=32, output=out, progress=False,
          num_workers=0)  # loads counted in this process
    assert sorted(items.loaded) == [0, 2, 3, 4] and not parts.exists() and out.exists()


def test_a_failed_run_without_output_leaves_no_temporary_folder(fits_files, tmp_path,
                                                                monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(RuntimeError, match="job stopped"):
        embed(_Failing(fits_files, 2), model="resnet18", weights=None, size=32, batch_size=1,
              progress=False)
    assert _left_in(scratch) == []
    embed(fits_files[:2], model="resnet18", weights=None, size=32, progress=False)
    assert _left_in(scratch) == []


def _left_in(scratch):
    # multiprocessing (the DataLoader workers) keeps one pymp-* folder per process and
    # removes it at exit; it is not astrofm's.
    return [name for name in os.listdir(scratch) if not name.startswith("pymp-")]
