"""Saving and loading reproduce detections; the command line writes the catalogue."""

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table

import astrofm
from astrofm import backbones
from astrofm.cli import main
from astrofm.detect import Detector
from astrofm.detect.simulate import simulate_field
from astrofm.errors import FileFormatError, WeightsError
from astrofm.saving import read_model, save_model

from .conftest import TINY_NET, TINY_VIT, tiny_detector


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    image, _ = simulate_field(160, seed=5, n_sources=4, snr=(30.0, 100.0))
    path = tmp_path_factory.mktemp("field") / "field.fits"
    fits.PrimaryHDU(image.data).writeto(path)
    return path


def _same(a, b):
    assert len(a) == len(b) > 0
    for column in ("x0", "y0", "x1", "y1", "score", "label"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-6, atol=1e-5)


def test_save_load_reproduces_detections(tmp_path, field):
    det = tiny_detector(tuning="lora", min_score=0.0)
    for p in det.network.roi_heads.parameters():  # anything but the initial weights
        p.data.add_(0.01 * torch.randn_like(p))
    before = det.detect(field, tile=64, overlap=8, score_threshold=0.0, progress=False)
    path = det.save(tmp_path / "finder.astrofm")
    again = astrofm.load(path)
    assert isinstance(again, astrofm.Detector) and again.prior == det.prior
    assert again.preprocessing == det.preprocessing
    _same(before, again.detect(field, tile=64, overlap=8, score_threshold=0.0, progress=False))
    assert before.meta["tiles"] == 9 and before.meta["overlap"] == 8


def test_a_frozen_backbone_with_weights_is_referenced_not_stored(tmp_path, field):
    weights = tiny_detector().backbone.save_weights(tmp_path / "tiny.safetensors")
    det = tiny_detector(weights=weights, min_score=0.0)
    path = det.save(tmp_path / "finder.astrofm")
    _, config, tensors = read_model(path)
    assert config["weights"] == str(weights)
    assert not any(k.startswith("backbone.backbone.") for k in tensors)
    _same(det.detect(field, tile=None, score_threshold=0.0, progress=False),
          astrofm.load(path).detect(field, tile=None, score_threshold=0.0, progress=False))


def test_built_backbones_cannot_be_saved(tmp_path):
    det = Detector(tiny_detector().backbone, input_scale=1.0, anchor_sizes=(8.0,), **TINY_NET)
    with pytest.raises(astrofm.errors.ConfigError, match="backbone module"):
        det.save(tmp_path / "x.astrofm")


def test_command_line_detect(tmp_path, field, capsys):
    det = tiny_detector(min_score=0.0)
    model = det.save(tmp_path / "finder.astrofm")
    out, reg = tmp_path / "sources.ecsv", tmp_path / "sources.reg"
    code = main(["detect", str(model), str(field), "-o", str(out), "--regions", str(reg),
                 "--tile", "64", "--overlap", "8", "--score", "0", "-q"])
    assert code == 0 and "9 tiles" in capsys.readouterr().out
    table = Table.read(out)
    _same(table, det.detect(field, tile=64, overlap=8, score_threshold=0.0, progress=False))
    assert reg.read_text().count("box(") == len(table)
    assert main(["detect", str(field), str(field), "-o", str(out)]) == 2


def test_a_detector_edited_to_another_backbone_is_refused(tmp_path):
    path = tiny_detector(weights=None).save(tmp_path / "finder.astrofm")
    _, config, tensors = read_model(path)
    config["backbone_options"] = {**TINY_VIT, "embed_dim": 96}
    save_model(path, "detector", config, tensors)
    with pytest.raises(FileFormatError, match="wrong shapes: backbone.backbone.") as info:
        astrofm.load(path)
    assert str(path) in str(info.value) and "(48,) vs (96,) expected" in str(info.value)


def test_a_replaced_weights_file_is_caught(tmp_path):
    weights = tiny_detector(weights=None).backbone.save_weights(tmp_path / "tiny.safetensors")
    path = tiny_detector(weights=weights).save(tmp_path / "finder.astrofm")
    assert astrofm.load(path).weights == str(weights)
    other = backbones.load("dinov2-small", weights=None, seed=1, **TINY_VIT)
    other.save_weights(weights)
    with pytest.raises(WeightsError, match="differ from those this detector was trained") as info:
        astrofm.load(path)
    message = str(info.value)
    assert str(path) in message and str(weights) in message
    assert read_model(path)[1]["backbone_digest"] in message


def test_a_missing_network_tensor_is_named(tmp_path):
    path = tiny_detector(weights=None).save(tmp_path / "finder.astrofm")
    _, config, tensors = read_model(path)
    key = sorted(k for k in tensors if k.startswith("roi_heads."))[0]
    save_model(path, "detector", config, {k: v for k, v in tensors.items() if k != key})
    with pytest.raises(FileFormatError, match=f"missing keys: {key}"):
        astrofm.load(path)


def test_a_tuned_detector_loads_without_its_original_weights(tmp_path, field):
    # Its backbone is stored, so loading must not go back to the weights it started
    # from (offline, "pretrained" could not be fetched; here the file is gone).
    weights = backbones.load("dinov2-small", weights=None, seed=4, **TINY_VIT).save_weights(
        tmp_path / "start.safetensors")
    det = tiny_detector(tuning="full", weights=weights, min_score=0.0)
    path = det.save(tmp_path / "tuned.astrofm")
    weights.unlink()
    loaded = astrofm.load(path)
    assert loaded.weights == str(weights) and loaded.backbone.weights_origin == str(weights)
    options = {"tile": 64, "overlap": 8, "score_threshold": 0.0, "progress": False}
    _same(det.detect(field, **options), loaded.detect(field, **options))


def test_random_weights_are_named_in_the_detection_report(tmp_path, fields):
    det = tiny_detector()
    det.fit(fields, epochs=1, max_steps=1, progress=False)
    path = det.save(tmp_path / "d.astrofm")
    report = astrofm.load(path).evaluate(fields)
    assert report.weights == "random (seed 0)" and "NOT pretrained" in str(report)
