"""Frozen backbones: heads on cached features."""

import numpy as np
import pytest
import torch

import astrofm.features
from astrofm.classify import Classifier, mark_test
from astrofm.classify.features import clear_memory
from astrofm.data import label_fraction, subset


def _macro_f1(truth, predicted):
    """Mean over classes of 2 TP / (2 TP + FP + FN), counted here without astrofm."""
    f1 = []
    for c in np.unique(truth):
        tp = np.sum((predicted == c) & (truth == c))
        f1.append(2 * tp / (np.sum(predicted == c) + np.sum(truth == c)))
    return float(np.mean(f1))


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("head", ["linear", "mlp", "whitening", "knn"])
def test_each_head_learns_the_toy_task(head, toy):
    options = {"hidden": (16,)} if head == "mlp" else {"k": 5} if head == "knn" else {}
    clf = Classifier("resnet18", weights=None, head=head, size=32, **options)
    before = _state(clf.backbone)
    clf.fit(toy(40, seed=0))
    # frozen really freezes: every backbone tensor, batch-norm statistics included
    after = clf.backbone.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert clf.tuning_report.trainable == 0
    if head != "knn":
        assert clf.history["loss"][-1] < clf.history["loss"][0]
    report = clf.evaluate(toy(20, seed=1))
    assert report.macro_f1 >= 0.9


def test_features_are_computed_once_per_data_set(toy, monkeypatch, tmp_path):
    calls = []
    real = astrofm.features.embed

    def counting(data, **kwargs):
        calls.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(astrofm.features, "embed", counting)
    train, test = toy(40, seed=0), mark_test(toy(20, seed=1))
    backbone = Classifier("resnet18", weights=None, size=32).backbone
    fitted, scores = {}, {}
    for head in ("linear", "whitening", "knn"):
        fitted[head] = Classifier(backbone, head=head, size=32, features_cache=tmp_path)
        scores[head] = fitted[head].fit(train).evaluate(test).macro_f1
    # label fractions of the training set reuse its features: fit on rows of the table
    clf = Classifier(backbone, size=32, features_cache=tmp_path)
    table = clf.embed(train)
    clf.fit(table[label_fraction(table["label"], 0.5, seed=0)])
    assert calls == [40, 20]
    # heads on cached features still learn the separable toy set, and are scored right
    truth = np.arange(20) % 2  # toy() alternates the two classes
    for head, clf in fitted.items():
        predicted = np.asarray(clf.predict(test)["label"])
        assert scores[head] == pytest.approx(_macro_f1(truth, predicted), abs=1e-6)
        assert scores[head] >= 0.9, head
    # a new process (no memory cache) reads the folder: the backbone does not run
    clear_memory()
    ran = []
    hook = backbone.register_forward_hook(lambda *args: ran.append(1))
    again = Classifier(backbone, size=32, features_cache=tmp_path).embed(train)
    hook.remove()
    assert not ran and np.array_equal(again["feature"], table["feature"])
    assert len(list(tmp_path.iterdir())) == 2


def test_predict_gives_labels_and_probabilities(toy, tmp_path):
    from PIL import Image

    train = toy(40, seed=0)
    clf = Classifier("resnet18", weights=None, size=32).fit(train)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(train.images[i]).save(paths[-1])
    out = clf.predict([str(p) for p in paths])
    assert out.colnames == ["source", "label", "class_name", "probability", "error"]
    assert out["probability"].shape == (3, 2)
    np.testing.assert_allclose(out["probability"].sum(1), 1, rtol=1e-5)
    assert list(out["class_name"]) == ["a", "b", "a"]
    # the same images as arrays in the data set give the same answer
    same = clf.predict(subset(train, [0, 1, 2]))
    np.testing.assert_allclose(same["probability"], out["probability"], rtol=1e-5, atol=1e-6)
    # a file that cannot be read gets NaN and its error, not an exception
    (tmp_path / "bad.png").write_bytes(b"not a png")
    mixed = clf.predict([str(paths[0]), str(tmp_path / "bad.png")])
    assert mixed["label"][1] == -1 and mixed["error"][1] != ""
    assert np.isnan(mixed["probability"][1]).all()


def test_paper_solver_and_validation_split(toy):
    clf = Classifier("resnet18", weights=None, size=32, solver="paper", epochs=3, seed=2)
    clf.fit(toy(40, seed=0))
    assert clf.options.lr == 5e-4 and clf.options.batch_size == 64
    assert len(clf.history["loss"]) == 3 and len(clf.history["val_macro_f1"]) == 3
    assert clf.net.scaler.__class__.__name__ == "Identity"   # the paper's raw features
    fast = Classifier("resnet18", weights=None, size=32).fit(toy(40, seed=0))
    assert fast.history["weight_decay"] in fast.history["tried"]


def test_in_memory_images_are_known_by_content(toy):
    # two array data sets of one length share their item names ("<arrays>[i]")
    clf = Classifier("resnet18", weights=None, size=32)
    first, second = clf.embed(toy(10, seed=0)), clf.embed(toy(10, seed=1))
    assert list(first["source"]) == list(second["source"])
    assert not np.array_equal(first["feature"], second["feature"])
