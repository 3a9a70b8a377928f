"""Bad input gets astrofm errors that name the argument or the file."""

import json

import numpy as np
import pytest
from astropy.io import fits

from astrofm.data import CocoDataset
from astrofm.detect import Detector, write_coco
from astrofm.errors import BoxError, ConfigError, DatasetError, TrainingError

from .conftest import TINY_NET, TINY_VIT, tiny_detector


def _coco(tmp_path, boxes, *, write_images=True, size=64):
    if write_images:
        fits.PrimaryHDU(np.random.default_rng(0).normal(size=(size, size))).writeto(
            tmp_path / "a.fits", overwrite=True)
    path = tmp_path / "a.json"
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 1, "iscrowd": 0}
            for i, b in enumerate(boxes)]
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.fits", "width": size,
                                            "height": size}],
                                "annotations": anns,
                                "categories": [{"id": 1, "name": "source"}]}))
    return path


def test_boxes_outside_the_image(tmp_path):
    with pytest.raises(BoxError, match="outside image"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT).fit(
            _coco(tmp_path, [[60.0, 60, 10, 10]]))


def test_zero_area_boxes(tmp_path):
    with pytest.raises(BoxError, match="zero area"):
        CocoDataset(_coco(tmp_path, [[5.0, 5, 0, 4]]))


def test_training_images_without_sources(tmp_path):
    with pytest.raises(DatasetError, match="train: the training images hold no boxes"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT).fit(_coco(tmp_path, []))


def test_a_blank_image_gives_an_empty_catalogue_without_running_the_network():
    # No score threshold at all: an untrained network then reports boxes on any image
    # it sees, so an empty catalogue means the blank image never reached it.
    det = tiny_detector(min_score=0.0)
    passes = []
    det.network.register_forward_pre_hook(lambda *args: passes.append(1))
    field = np.random.default_rng(0).normal(size=(64, 64))
    field[30:34, 20:24] += 50.0
    found = det.detect(field, tile=None, score_threshold=0.0, progress=False)
    assert len(found) > 0 and len(passes) == 1
    blank = det.detect(np.full((64, 64), 3.0), tile=None, score_threshold=0.0, progress=False)
    assert len(blank) == 0 and len(passes) == 1 and blank.meta["skipped"] == 1
    assert {"x0", "score", "class_name"} <= set(blank.colnames)


def test_coco_naming_missing_images(tmp_path):
    with pytest.raises(DatasetError, match="do not exist"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT).fit(
            _coco(tmp_path, [[1.0, 1, 5, 5]], write_images=False))


def test_tile_smaller_than_the_model_minimum():
    det = tiny_detector(input_scale=2.0)
    assert det.min_tile == 32  # 64 px after the scale
    with pytest.raises(ConfigError, match="tile=31: smaller than the model's minimum of 32"):
        det.detect(np.ones((100, 100)), tile=31, progress=False)
    with pytest.raises(ConfigError, match="overlap=20"):
        det.detect(np.ones((100, 100)), tile=40, overlap=20, progress=False)


def test_unfitted_and_misconfigured_detectors(tmp_path):
    det = Detector("dinov2-small", weights=None, backbone_options=TINY_VIT, **TINY_NET)
    with pytest.raises(TrainingError, match="has not been fitted"):
        det.detect(np.ones((64, 64)))
    with pytest.raises(ConfigError, match="input_scale=0.5"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT, input_scale=0.5)
    with pytest.raises(ConfigError, match="replace_steps"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT,
                 replace_steps={"ResizeForPatch": None})
    with pytest.raises(ConfigError, match="model=3"):
        Detector(3)
    with pytest.raises(ConfigError, match="train: give a COCO JSON file"):
        det.fit([np.ones((8, 8))])
    for placement, named in (({"devices": 0}, "devices=0"), ({"strategy": "dp2"}, "strategy="),
                             ({"num_nodes": 0}, "num_nodes"), ({"device": "abacus"}, "abacus")):
        with pytest.raises(ConfigError, match=named):
            tiny_detector().detect([np.ones((64, 64))] * 2, output=tmp_path / "c.ecsv",
                                   **placement)
        assert not (tmp_path / "c.ecsv").exists()
    with pytest.raises(BoxError, match="zero area"):
        write_coco(tmp_path / "x.json", [{"file_name": "a", "width": 4, "height": 4,
                                          "boxes": [[0.0, 0, 0, 1]]}], classes=["s"])


def test_classes_follow_the_training_set(tmp_path):
    path = _coco(tmp_path, [[1.0, 1, 5, 5], [10.0, 10, 6, 6]])
    coco = json.loads(path.read_text())
    coco["categories"].append({"id": 2, "name": "extended"})
    coco["annotations"][1]["category_id"] = 2
    path.write_text(json.dumps(coco))
    with pytest.raises(DatasetError, match="2 classes but the detector knows 1"):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT,
                 classes=["source"]).fit(path)
    det = Detector("dinov2-small", weights=None, backbone_options=TINY_VIT, **TINY_NET)
    det.fit(path, path, epochs=1, max_steps=1, progress=False)
    assert det.classes == ["source", "extended"]
    assert det.network.roi_heads.box_predictor.cls_score.out_features == 3


@pytest.mark.parametrize(("options", "named"), [
    ({"anchor_sizes": [-1]}, r"anchor_sizes=\[-1\]: give a non-empty sequence of positive"),
    ({"anchor_sizes": [8, 0]}, r"anchor_sizes=\[8, 0\]"),
    ({"anchor_sizes": [8, float("nan")]}, "anchor_sizes="),
    ({"anchor_sizes": []}, r"anchor_sizes=\[\]"),
    ({"anchor_sizes": "8"}, "anchor_sizes='8'"),
    ({"aspect_ratios": [0.5, -1]}, r"aspect_ratios=\[0\.5, -1\]"),
    ({"min_patches": 0}, "min_patches=0: give an integer >= 1"),
    ({"min_patches": 1.5}, "min_patches=1.5: give an integer >= 1"),
    ({"input_scale": float("nan")}, "input_scale=nan: give a number >= 1"),
    ({"out_channels": 0}, "out_channels=0: give an integer > 0"),
    ({"representation_size": -5}, "representation_size=-5"),
    ({"min_score": 1.5}, r"min_score=1\.5: give a number >= 0 and <= 1"),
    ({"nms_iou": 0}, "nms_iou=0: give a number > 0 and <= 1"),
    ({"max_detections": 0}, "max_detections=0"),
])
def test_numeric_options_are_checked_before_the_backbone_is_built(monkeypatch, options, named):
    # Before: anchor_sizes=[-1] and the others were accepted (or failed deep in torchvision).
    import astrofm.backbones

    def no_build(*args, **kwargs):
        raise AssertionError("the backbone was built before the options were checked")

    monkeypatch.setattr(astrofm.backbones, "load", no_build)
    with pytest.raises(ConfigError, match=named):
        Detector("dinov2-small", weights=None, backbone_options=TINY_VIT, **options)


def test_valid_fixed_anchors_build_the_network():
    det = tiny_detector(input_scale=2, anchor_sizes=np.array([8, 16]), aspect_ratios=[1],
                        weights=None)
    assert det.prior.anchor_sizes == (8.0, 16.0) and det.prior.aspect_ratios == (1.0,)
    assert det.prior.largest == pytest.approx(8.0)  # 16 px of the scaled input
