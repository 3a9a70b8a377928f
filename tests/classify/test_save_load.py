"""Saved classifiers: one .astrofm file that astrofm.load rebuilds exactly."""

import numpy as np
import pytest

import astrofm
from astrofm.classify import Classifier
from astrofm.errors import ConfigError, TrainingError, WeightsError
from astrofm.saving import read_model


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
    with pytest.raises(WeightsError, match="differ from those this classifier was trained"):
        astrofm.load(tmp_path / "m.astrofm")


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
