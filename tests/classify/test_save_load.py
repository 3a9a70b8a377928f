"""Saved classifiers: one .astrofm file that astrofm.load rebuilds exactly."""

import numpy as np
import pytest
import torch

import astrofm
from astrofm.classify import Classifier
from astrofm.errors import ConfigError, FileFormatError, TrainingError, WeightsError
from astrofm.saving import read_model, save_model


def _round_trip(clf, data, path):
    expected = clf.predict(data)
    clf.save(path)
    loaded = astrofm.load(path)
    got = loaded.predict(data)
    np.testing.assert_array_equal(got["probability"], expected["probability"])
    assert loaded.classes == clf.classes
    return loaded


@pytest.mark.parametrize("head", ["mlp", "whitening", "knn"])
def test_frozen_heads_round_trip(head, toy, tmp_path):
    clf = Classifier("resnet18", weights=None, head=head, size=32,
                     **({"hidden": (8,), "dropout": 0.2} if head == "mlp" else {}))
    clf.fit(toy(30, seed=0))
    loaded = _round_trip(clf, toy(10, seed=1), tmp_path / "m.astrofm")
    assert loaded.preprocessing.to_dict() == clf.preprocessing.to_dict()
    assert loaded.net.head.config() == clf.net.head.config()


def test_lora_with_a_weights_file_stores_only_what_trained(toy, tmp_path, tiny_vit):
    from astrofm import backbones

    backbone = backbones.load("dinov2-small", weights=None, **tiny_vit)
    weights = backbone.save_weights(tmp_path / "w.safetensors")
    clf = Classifier("dinov2-small", tuning="lora", weights=weights, backbone_options=tiny_vit,
                     lora_rank=2, epochs=1, batch_size=8)
    clf.fit(toy(16, seed=0, side=28))
    loaded = _round_trip(clf, toy(6, seed=1, side=28), tmp_path / "m.astrofm")
    assert loaded.tuning == "lora" and loaded.options.lora_rank == 2
    _, config, tensors = read_model(tmp_path / "m.astrofm")
    assert config["weights"] == str(weights) and not config["backbone_included"]
    stored = [k for k in tensors if k.startswith("backbone.")]
    assert stored and all("lora_" in k for k in stored)
    # other weights under the same file name are caught, not silently used
    backbones.load("dinov2-small", weights=None, seed=1, **tiny_vit).save_weights(weights)
    with pytest.raises(WeightsError, match="differ from those this classifier was trained") as info:
        astrofm.load(tmp_path / "m.astrofm")
    assert str(weights) in str(info.value) and "m.astrofm" in str(info.value)


def test_full_fine_tune_round_trips_on_files(toy, tmp_path):
    from PIL import Image

    clf = Classifier("resnet18", weights=None, tuning="full", size=32, epochs=1, batch_size=8)
    clf.fit(toy(24, seed=0))
    path = tmp_path / "new.png"
    Image.fromarray(toy(1, seed=5).images[0]).save(path)
    _round_trip(clf, str(path), tmp_path / "m.astrofm")
    _, config, _ = read_model(tmp_path / "m.astrofm")
    assert config["backbone_included"] and config["tuning"] == "full"
    assert config["build_options"] == {} and config["model"] == "resnet18"
    with pytest.raises(ConfigError, match="tuning='full' trained it"):
        clf.save(tmp_path / "x.astrofm", backbone=False)


def test_unfitted_classifier_cannot_predict_or_save(tmp_path):
    clf = Classifier("resnet18", weights=None, size=32)
    with pytest.raises(TrainingError, match="call fit"):
        clf.predict(np.zeros((32, 32)))
    with pytest.raises(TrainingError, match="call fit"):
        clf.save(tmp_path / "m.astrofm")


def test_a_missing_or_extra_lora_tensor_is_refused(toy, tmp_path, tiny_vit):
    from astrofm import backbones

    weights = backbones.load("dinov2-small", weights=None, **tiny_vit).save_weights(
        tmp_path / "w.safetensors")
    clf = Classifier("dinov2-small", tuning="lora", weights=weights, backbone_options=tiny_vit,
                     lora_rank=2, epochs=1, batch_size=8)
    clf.fit(toy(8, seed=0, side=28))
    path = clf.save(tmp_path / "m.astrofm")
    _, config, tensors = read_model(path)
    lora = sorted(k for k in tensors if "lora_" in k)
    # Re-saved, so that the tensor digest is right and only the key check can object.
    save_model(path, "classifier", config, {k: v for k, v in tensors.items() if k != lora[0]})
    with pytest.raises(FileFormatError, match="missing keys: " + lora[0][len("backbone."):]):
        astrofm.load(path)
    save_model(path, "classifier", config, {**tensors, "backbone.lora_extra": torch.zeros(2)})
    with pytest.raises(FileFormatError, match="unexpected keys: lora_extra") as info:
        astrofm.load(path)
    assert str(path) in str(info.value)


def test_a_classifier_relabelled_as_a_detector_is_refused(toy, tmp_path):
    clf = Classifier("resnet18", head="knn", weights=None, size=32)
    clf.fit(toy(10, seed=0))
    path = clf.save(tmp_path / "m.astrofm")
    _, config, tensors = read_model(path)
    save_model(path, "detector", config, tensors)
    with pytest.raises(FileFormatError, match="not a valid saved detector") as info:
        astrofm.load(path)
    message = str(info.value)
    assert str(path) in message
    assert all(f in message for f in ("backbone_options", "tuning_options", "prior", "network"))


def test_random_weights_are_recorded_through_saving(toy, tmp_path):
    clf = Classifier("resnet18", weights=None, size=32, seed=3).fit(toy(20, seed=0))
    report = clf.evaluate(toy(8, seed=1))
    assert report.weights == "random (seed 3)" and "NOT pretrained" in str(report)
    clf.save(tmp_path / "m.astrofm")
    _, config, _ = read_model(tmp_path / "m.astrofm")
    assert config["weights_origin"] == "random (seed 3)"
    again = astrofm.load(tmp_path / "m.astrofm").evaluate(toy(8, seed=1))
    assert again.weights == "random (seed 3)"
    assert again.to_table().meta["weights"] == "random (seed 3)"
