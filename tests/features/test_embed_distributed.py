"""``astrofm embed`` over 2 CPU processes (DDP on gloo under torchrun): a run with one
process killed midway, then the same command again, gives the 1-process table.

The two runs are the commands docs/cluster.rst shows, with 2 processes on 1 node.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astrofm.data import ListDataset
from astrofm.errors import ConfigError
from astrofm.features import embed

ROOT = Path(__file__).resolve().parents[2]
N_IMAGES = 7  # not a multiple of the 2 processes: one gets an image more
OPTIONS = ["-m", "resnet18", "--weights", "random", "--size", "32", "--batch-size", "1",
           "--accelerator", "cpu", "--devices", "2", "-q"]

# ``astrofm`` itself, except that rank 1 is killed (kill -9) right after its first shard.
_KILLING_DRIVER = textwrap.dedent("""
    import os, signal, sys
    from astrofm.cli import main
    from astrofm.features.store import ShardStore

    write = ShardStore.write

    def write_then_die(self, *args, **kwargs):
        path = write(self, *args, **kwargs)
        if os.environ["RANK"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    ShardStore.write = write_then_die
    sys.exit(main(sys.argv[1:]))
""")


def _torchrun(*command, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "astrofm-zoobot")]),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", *command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Images, the killed run and its shards, and the rerun of the plain command."""
    folder = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(3)
    files = []
    for i in range(N_IMAGES):
        files.append(folder / f"im{i}.fits")
        fits.PrimaryHDU(rng.normal(size=(16, 16)).astype("f4")).writeto(files[-1])
    (folder / "driver.py").write_text(_KILLING_DRIVER)
    names = [f.name for f in files]
    killed = _torchrun("driver.py", "embed", *names, "-o", "feats.fits", *OPTIONS, cwd=folder)
    shards = {p.name: np.load(p)["index"] for p in (folder / "feats.fits.parts").glob("*.npz")}
    table_after_kill = (folder / "feats.fits").exists()
    rerun = _torchrun("--no-python", "astrofm", "embed", *names, "-o", "feats.fits", *OPTIONS,
                      cwd=folder)
    return {"files": files, "folder": folder, "killed": killed, "shards": shards,
            "table_after_kill": table_after_kill, "rerun": rerun}


def test_the_killed_run_left_whole_rank_named_shards(runs):
    assert runs["killed"].returncode != 0
    assert "exitcode  : -9" in runs["killed"].stderr
    shards = runs["shards"]
    rank1 = [name for name in shards if name.endswith("-r1.npz")]
    # Rank 1 takes images 1, 3, 5 (every second one); it died after writing image 1.
    assert rank1 == ["shard-000000001-r1.npz"]
    assert all(name.endswith(("-r0.npz", "-r1.npz")) for name in shards)
    done = np.concatenate(list(shards.values()))
    assert len(done) == len(set(done.tolist())) and set(done.tolist()) <= set(range(N_IMAGES))
    assert not runs["table_after_kill"]


def test_the_rerun_gives_the_one_process_table(runs):
    rerun = runs["rerun"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    missing = N_IMAGES - len(np.concatenate(list(runs["shards"].values())))
    assert f"resuming: {missing} of {N_IMAGES} images left" in rerun.stderr
    # Each process returned the whole table to the command, which reports it.
    assert rerun.stdout.count(f"{N_IMAGES} images, 512 features each -> feats.fits") == 2
    table = Table.read(runs["folder"] / "feats.fits")
    alone = embed([str(f) for f in runs["files"]], model="resnet18", weights=None, size=32,
                  batch_size=1, device="cpu", progress=False)
    assert [Path(s).name for s in table["source"]] == [f.name for f in runs["files"]]
    assert [Path(s).name for s in alone["source"]] == [f.name for f in runs["files"]]
    np.testing.assert_allclose(table["feature"], alone["feature"], rtol=1e-5, atol=1e-5)
    assert not (runs["folder"] / "feats.fits.parts").exists()   # removed once, after all read


class _Counting(ListDataset):
    def load(self, index):
        self.loaded.append(index)
        return super().load(index)


def test_several_processes_without_a_shared_folder_are_refused_first(fits_files,
                                                                     monkeypatch):
    import lightning.pytorch as pl

    # Only a trainer is built here: reaching predict would start a second process.
    monkeypatch.setattr(pl.Trainer, "predict", lambda *a, **k: pytest.fail("predict ran"))
    items = _Counting(fits_files)
    items.loaded = []
    with pytest.raises(ConfigError, match="give output= or cache="):
        embed(items, model="resnet18", weights=None, size=32, device="cpu", devices=2,
              progress=False)
    assert items.loaded == []
