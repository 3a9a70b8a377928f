import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from astrofm.data import ArrayDataset
from astrofm.errors import DatasetError, FileFormatError, InputFileError


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "set.npz"
    np.savez(path, images=rng.integers(0, 255, (10, 16, 16), dtype=np.uint8),
             labels=np.arange(10) % 2, label_names=np.array(["FRI", "FRII"]))
    return path


def test_npz_items_and_workers(npz):
    ds = ArrayDataset(npz)
    assert ds.classes == ["FRI", "FRII"] and len(ds) == 10
    image = ds.load(3)
    assert image.display and image.shape == (16, 16)
    with np.load(npz) as raw:
        np.testing.assert_array_equal(image.data, raw["images"][3].astype(np.float32))
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    xs, ys = zip(*loader, strict=True)
    assert torch.cat(ys).tolist() == [i % 2 for i in range(10)]
    assert torch.cat(xs).shape == (10, 1, 16, 16)


def test_channels_last_is_moved_first():
    ds = ArrayDataset({"images": np.zeros((2, 8, 8, 3), np.float32)}, labels=None)
    assert ds.load(0).shape == (3, 8, 8)
    assert ds.label(0) == -1


def test_bad_npz(tmp_path, npz):
    with pytest.raises(InputFileError, match="nothere.npz"):
        ArrayDataset(tmp_path / "nothere.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="bad.npz"):
        ArrayDataset(bad)
    with pytest.raises(DatasetError, match="'x'"):
        ArrayDataset(npz, images="x")
    with pytest.raises(DatasetError, match="labels"):
        ArrayDataset({"images": np.zeros((3, 4, 4)), "labels": np.zeros(2)})
    with pytest.raises(DatasetError, match="shape"):
        ArrayDataset({"images": np.zeros((3, 4)), "labels": np.zeros(3)})


def test_real_mirabest_npz(shared_data):
    ds = ArrayDataset(shared_data / "mirabest" / "mirabest_basic_train.npz")
    assert len(ds) == 704 and ds.classes == ["FRI", "FRII"]
    assert np.bincount(ds.labels).tolist() == [312, 392]
