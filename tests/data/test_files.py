"""Data sets that read files: catalogue, folder, COCO."""

import json

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PIL import Image
from torch.utils.data import DataLoader

from astrofm.data import CatalogDataset, CocoDataset, FolderDataset
from astrofm.errors import BoxError, DatasetError, InputFileError
from astrofm.preprocess import Pipeline, ResizeForPatch


def _wcs(n=64):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]  # 1 arcsec pixels
    return w


def _write_fits(path, data, wcs=None):
    fits.PrimaryHDU(data.astype(np.float32),
                    header=wcs.to_header() if wcs is not None else None).writeto(path)
    return path


@pytest.fixture
def catalogue(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(6):
        data = rng.normal(size=(64, 64))
        data[20 + i, 30] = 100.0  # a marker pixel to check the crop
        _write_fits(tmp_path / f"img{i}.fits", data, _wcs())
        rows.append((f"img{i}.fits", "FRI" if i % 2 else "FRII", 25, 15 + i, 41, 31 + i))
    table = Table(rows=rows, names=["path", "cls", "x0", "y0", "x1", "y1"])
    table.write(tmp_path / "cat.csv")
    table.write(tmp_path / "cat.ecsv")
    return tmp_path


@pytest.mark.parametrize("name", ["cat.csv", "cat.ecsv"])
def test_catalogue_boxes_crop_and_label(catalogue, name):
    ds = CatalogDataset(catalogue / name, label_column="cls",
                        box_columns=["x0", "y0", "x1", "y1"])
    assert ds.classes == ["FRI", "FRII"] and ds.labels.tolist() == [1, 0, 1, 0, 1, 0]
    image = ds.load(2)
    assert image.shape == (16, 16)
    # The marker at (row 22, col 30) lands at (row 22 - 17, col 30 - 25) of the crop.
    assert np.unravel_index(np.argmax(image.data), image.shape) == (5, 5)
    np.testing.assert_allclose(image.to_original([[0, 0, 16, 16]]), [[25, 17, 41, 33]])


def test_catalogue_sky_positions(tmp_path):
    data = np.zeros((64, 64))
    data[40, 10] = 5.0
    _write_fits(tmp_path / "sky.fits", data, _wcs())
    sky = _wcs().pixel_to_world(10, 40)
    table = Table({"file": ["sky.fits"], "ra": [sky.ra.deg] * u.deg,
                   "dec": [sky.dec.deg] * u.deg, "size": [12] * u.arcsec})
    ds = CatalogDataset(table, path_column="file", position_columns=["ra", "dec"],
                        size_column="size", root=tmp_path)
    image = ds.load(0)
    assert image.shape == (12, 12)
    peak = np.unravel_index(np.argmax(image.data), image.shape)
    centre = image.to_sky(peak[1] + 0.5, peak[0] + 0.5)
    assert centre.separation(sky).arcsec < 1e-6


def test_catalogue_workers_and_transform(catalogue):
    ds = CatalogDataset(catalogue / "cat.csv", label_column="cls",
                        transform=Pipeline([ResizeForPatch(8, 32)]))
    xs, ys = zip(*DataLoader(ds, batch_size=3, num_workers=2), strict=True)
    assert torch.cat(xs).shape == (6, 1, 32, 32)
    assert torch.cat(ys).tolist() == ds.labels.tolist()


def test_catalogue_bad_input(catalogue):
    with pytest.raises(InputFileError, match="missing.csv"):
        CatalogDataset(catalogue / "missing.csv")
    with pytest.raises(DatasetError, match=r"\['nope'\]"):
        CatalogDataset(catalogue / "cat.csv", label_column="nope")
    with pytest.raises(DatasetError, match="4 columns"):
        CatalogDataset(catalogue / "cat.csv", box_columns=["x0", "y0"])
    with pytest.raises(DatasetError, match="size_column"):
        CatalogDataset(catalogue / "cat.csv", position_columns=["x0", "y0"])
    table = Table({"path": ["img0.fits"], "x0": [70], "y0": [70], "x1": [80], "y1": [80]})
    ds = CatalogDataset(table, box_columns=["x0", "y0", "x1", "y1"], root=catalogue)
    with pytest.raises(BoxError):
        ds.load(0)


def test_folder_dataset(tmp_path):
    for cls, value in [("ring", 200), ("smooth", 50)]:
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 12), value, np.uint8)).save(tmp_path / cls / f"{i}.png")
    _write_fits(tmp_path / "ring" / "extra.fits", np.ones((10, 12)))
    (tmp_path / "ring" / "notes.txt").write_text("not an image")
    ds = FolderDataset(tmp_path)
    assert ds.classes == ["ring", "smooth"] and len(ds) == 7
    assert np.bincount(ds.labels).tolist() == [4, 3]
    x, y = ds[len(ds) - 1]
    assert y == 1 and float(x.max()) == 50.0
    assert ds.load(0).display
    with pytest.raises(InputFileError):
        FolderDataset(tmp_path / "absent")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="hold no images"):
        FolderDataset(tmp_path / "empty")


def _coco(tmp_path, boxes, names=("f0.fits",), size=(40, 30)):
    images = [{"id": i + 1, "file_name": n, "width": size[0], "height": size[1]}
              for i, n in enumerate(names)]
    anns = [{"id": j + 1, "image_id": 1, "category_id": 7, "bbox": b, "area": b[2] * b[3],
             "iscrowd": 0} for j, b in enumerate(boxes)]
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 7, "name": "source"}]}))
    return path


def test_coco_boxes_follow_resize(tmp_path):
    _write_fits(tmp_path / "f0.fits", np.zeros((30, 40)))
    path = _coco(tmp_path, [[4, 6, 10, 3]])
    ds = CocoDataset(path, transform=Pipeline([ResizeForPatch(None, (60, 80))]))
    assert ds.classes == ["source"]
    x, target = ds[0]
    assert x.shape == (1, 60, 80)
    np.testing.assert_allclose(target["boxes"].numpy(), [[8, 12, 28, 18]])
    assert target["labels"].tolist() == [1]
    np.testing.assert_allclose(ds.boxes(0)[0], [[4, 6, 14, 9]])


def test_coco_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="missing.fits"):
        CocoDataset(_coco(tmp_path, [[1, 1, 2, 2]], names=("missing.fits",)))
    _write_fits(tmp_path / "f0.fits", np.zeros((30, 40)))
    with pytest.raises(BoxError, match="zero area"):
        CocoDataset(_coco(tmp_path, [[1, 1, 0, 2]]))
    with pytest.raises(BoxError, match="outside"):
        CocoDataset(_coco(tmp_path, [[35, 1, 10, 2]]))
