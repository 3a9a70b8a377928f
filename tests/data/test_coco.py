"""COCO files: structure, and boxes checked against the real size of each image."""

import json

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

import astrofm
from astrofm.data import CocoDataset
from astrofm.errors import BoxError, DatasetError, FileFormatError
from astrofm.io.loader import image_size


def _coco(folder, boxes, *, file_name="a.fits", size=None, drop=()):
    """A COCO file with one image; ``size`` is the JSON's (width, height), if any."""
    image = {"id": 1, "file_name": file_name}
    if size is not None:
        image.update(width=size[0], height=size[1])
    coco = {"images": [image],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b,
                             "area": b[2] * b[3], "iscrowd": 0} for i, b in enumerate(boxes)],
            "categories": [{"id": 1, "name": "source"}]}
    for key in drop:
        del coco[key]
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return path


@pytest.fixture
def field(tmp_path):
    """A FITS image 30 rows high and 40 columns wide."""
    fits.PrimaryHDU(np.zeros((30, 40), np.float32)).writeto(tmp_path / "a.fits")
    return tmp_path


def test_boxes_outside_an_image_without_a_stated_size(field):
    # Before: with no width/height in the JSON, a box at 500 px on a 40 px image passed.
    with pytest.raises(BoxError, match=r"coco\.json: annotation 2 box \[500, 505, 10, 5\].*"
                                       r"outside image 1 \(a\.fits, 40 x 30 pixels\)"):
        CocoDataset(_coco(field, [[1, 1, 4, 4], [500, 505, 10, 5]]))
    # Past the bottom edge only: rows count up to 30, not 40.
    with pytest.raises(BoxError, match="outside image 1"):
        CocoDataset(_coco(field, [[1, 25, 4, 6]]))
    assert CocoDataset(_coco(field, [[36, 26, 4, 4]])).boxes(0)[0].tolist() == [[36, 26, 40, 30]]


@pytest.mark.parametrize("size", [(600, 600), (30, 40)])
def test_a_stated_size_that_is_not_the_image_size(field, size):
    # Before: the JSON's size was trusted, so boxes up to 600 px passed on a 40 px image.
    with pytest.raises(DatasetError, match=rf"image 1 \(a\.fits\) is given as width x height "
                                           rf"= {size[0]} x {size[1]}, but the file holds "
                                           r"40 x 30 pixels"):
        CocoDataset(_coco(field, [[500, 500, 10, 10]], size=size))


def test_raster_image_size_comes_from_the_file(tmp_path):
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(BoxError, match=r"a\.png, 30 x 20 pixels"):
        CocoDataset(_coco(tmp_path, [[25, 2, 6, 3]], file_name="a.png"))
    ds = CocoDataset(_coco(tmp_path, [[24, 2, 6, 3]], file_name="a.png", size=(30, 20)))
    assert ds.boxes(0)[0].tolist() == [[24, 2, 30, 5]]


@pytest.mark.parametrize("key", ["categories", "images", "annotations"])
def test_missing_top_level_lists(field, key):
    # Before: a missing 'categories' raised pycocotools' KeyError.
    with pytest.raises(FileFormatError, match=rf"coco\.json: no \['{key}'\] list at the top "
                                              r"level; .*'images', 'annotations', 'categories'"):
        CocoDataset(_coco(field, [[1, 1, 4, 4]], drop=[key]))


def test_entries_without_their_keys(field):
    path = _coco(field, [[1, 1, 4, 4]])
    coco = json.loads(path.read_text())
    del coco["annotations"][0]["bbox"]
    path.write_text(json.dumps(coco))
    with pytest.raises(FileFormatError, match=r"annotations\[0\] has no \['bbox'\]"):
        CocoDataset(path)
    coco["annotations"][0]["bbox"], coco["annotations"][0]["category_id"] = [1, 1, 4, 4], 9
    path.write_text(json.dumps(coco))
    with pytest.raises(DatasetError, match=r"annotation\(s\) \[1\] have a category_id .* \[1\]"):
        CocoDataset(path)
    path.write_text(json.dumps([coco]))
    with pytest.raises(FileFormatError, match="a JSON list, not a COCO annotation file"):
        CocoDataset(path)


def test_image_size_matches_what_load_reads(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    paths = [tmp_path / n for n in ("plain.fits", "ext.fits", "tiled.fits", "cube.fits",
                                    "grey.png", "rgb.png", "page.tif")]
    fits.PrimaryHDU(rng.random((12, 17), np.float32)).writeto(paths[0])
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.random((9, 14), np.float32))]).writeto(
        paths[1])
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(rng.random((33, 20), np.float32))]
                 ).writeto(paths[2])
    fits.PrimaryHDU(rng.random((1, 1, 8, 11), np.float32)).writeto(paths[3])
    Image.fromarray(rng.integers(0, 255, (7, 13), np.uint8)).save(paths[4])
    Image.fromarray(rng.integers(0, 255, (6, 10, 3), np.uint8)).save(paths[5])
    Image.fromarray(rng.random((5, 19)).astype(np.float32)).save(paths[6])
    expected = [astrofm.load(path).shape[-2:] for path in paths]

    def no_pixels(*args, **kwargs):
        raise AssertionError("image_size read the pixels, not the header")

    # Every one of these sizes is read from the header alone.
    monkeypatch.setattr("astrofm.io.loader.load", no_pixels)
    assert [image_size(path) for path in paths] == expected
