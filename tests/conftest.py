"""Fixtures shared by the whole test suite."""

import os
from pathlib import Path

import pytest

# Tests never reach a model hub: the loading code is proven on local files instead.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One torch (OpenMP) thread, here and in every process a test starts: the test machines'
# cores are shared, and threads contending for them make a training step several times
# slower than one thread does (a detector's CLI training took 29 s with two, 15 s with one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real survey data in ../shared/data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the project)")
    return SHARED_DATA


@pytest.fixture
def read_only_folder(tmp_path) -> Path:
    """A folder in which no file can be created, even by root.

    A folder without write permission, or, where permission bits do not bind (root),
    Linux's sysfs, which refuses new files to everyone; skips where neither refuses.
    """
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / "probe").touch()
        except OSError:
            yield candidate
            break
        (candidate / "probe").unlink()
    else:
        pytest.skip("no folder here refuses new files (root without sysfs)")
    folder.chmod(0o755)


@pytest.fixture
def agg_backend():
    """Matplotlib's file-only backend for one test; the previous backend comes back after."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("Agg")
    yield
    plt.close("all")
    plt.switch_backend(before)


@pytest.fixture(autouse=True)
def _own_torch_rng():
    """Give each test its own copy of torch's global random state, so that a test seeding
    it (torch.manual_seed) leaves the next test's random numbers as they were."""
    import torch

    with torch.random.fork_rng(devices=[]):
        yield
