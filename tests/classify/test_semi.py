"""Semi-supervised fit: the masked loss, the unlabelled views, every tuning, the test guard."""

import math

import numpy as np
import pytest
import torch

from astrofm.classify import Classifier, mark_test
from astrofm.errors import ConfigError, InputFileError, SplitError, UnknownNameError

SMALL = {"epochs": 1, "batch_size": 8, "lr": 3e-3, "unlabeled_ratio": 2}


def test_fixmatch_loss_masks_pseudo_labels_below_the_threshold():
    from astrofm.classify.semi import masked_pseudo_label_loss

    weak = torch.tensor([[10.0, 0.0], [0.1, 0.0], [0.0, 10.0]])  # p_max: 0.99995, 0.525, 0.99995
    strong = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0]], requires_grad=True)
    loss, mask = masked_pseudo_label_loss(weak, strong, 0.95)
    assert mask.tolist() == [True, False, True]
    # two kept samples at cross-entropy log 2 each, averaged over all three
    assert float(loss.detach()) == pytest.approx(2 * math.log(2) / 3, rel=1e-5)
    loss.backward()
    assert torch.all(strong.grad[1] == 0)
    loss, mask = masked_pseudo_label_loss(weak, strong, 0.99999)
    assert not mask.any() and float(loss.detach()) == 0


def test_views_keep_the_label_and_give_weak_and_strong_images(toy):
    from astrofm.classify.semi import Views
    from astrofm.features import default_preprocessing
    from astrofm.features.embed import with_transform
    from astrofm.preprocess.augment import StrongAugment

    data = toy(6, seed=0)
    prep = default_preprocessing("resnet18", size=32)
    items = with_transform(data, Views(prep, StrongAugment(prep)))
    for i in range(len(data)):
        x, label = items[i]
        assert label == data.label(i)
        assert x.shape == (6, 32, 32)
        weak = prep(data.load(i)).data
        np.testing.assert_allclose(x[:3].numpy(), weak, atol=1e-6)
        assert not np.allclose(x[3:].numpy(), weak, atol=1e-3)


@pytest.mark.parametrize("tuning", ["lora", "partial", "full"])
def test_each_tuning_runs_a_semi_epoch(toy, tiny_vit, tuning):
    if tuning == "full":
        clf = Classifier("resnet18", weights=None, tuning="full", size=32, semi="fixmatch",
                         **SMALL)
        side = 32
    else:
        extra = {"blocks": 1} if tuning == "partial" else {"lora_rank": 4}
        clf = Classifier("dinov2-small", weights=None, tuning=tuning, backbone_options=tiny_vit,
                         semi="fixmatch", threshold=0.5, **extra, **SMALL)
        side = 28
    before = {k: v.clone() for k, v in clf.backbone.state_dict().items()}
    clf.fit(toy(24, seed=0, side=side), unlabeled=toy(20, seed=5, side=side))
    history = clf.history
    assert len(history["pseudo_label_rate"]) == 1 and 0 <= history["pseudo_label_rate"][0] <= 1
    assert np.isfinite(history["train_loss"][0])
    assert len(history["unlabeled_digests"]) == 20
    after = clf.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_pseudo_label_trains_on_confident_weak_views(toy):
    clf = Classifier("resnet18", weights=None, tuning="full", size=32, semi="pseudo-label",
                     threshold=0.5, **SMALL)
    clf.fit(toy(24, seed=0), unlabeled=toy(20, seed=5))
    # at threshold 0.5 every two-class prediction is confident
    assert clf.history["pseudo_label_rate"] == [pytest.approx(1.0)]


def test_frozen_head_self_training_adds_pseudo_labels(toy):
    train, pool = toy(24, seed=0), toy(40, seed=7)
    clf = Classifier("resnet18", weights=None, size=32, semi="pseudo-label", threshold=0.6)
    clf.fit(train, unlabeled=pool)
    counts = clf.history["pseudo_labelled"]
    assert counts[0] == 0 and counts[1] > 0
    assert all(a <= b for a, b in zip(counts, counts[1:], strict=False)) and counts[-1] <= 40
    # independent check: the supervised head's confident pool predictions are the rows added
    plain = Classifier("resnet18", weights=None, size=32).fit(train)
    confident = plain.predict(pool)["probability"].max(1) >= 0.6
    assert counts[1] == int(confident.sum())


def test_unlabelled_images_shared_with_the_test_set_are_refused(toy):
    clf = Classifier("resnet18", weights=None, size=32, semi="pseudo-label")
    clf.fit(toy(24, seed=0), unlabeled=toy(20, seed=5))
    with pytest.raises(SplitError, match=r"also in the unlabelled set.*\[0\]"):
        clf.evaluate(toy(8, seed=5))  # the first 8 images of the pool, same pixels
    assert clf.evaluate(toy(8, seed=9)).macro_f1 >= 0
    with pytest.raises(SplitError, match="unlabeled= is marked as the test split"):
        clf.fit(toy(24, seed=0), unlabeled=mark_test(toy(8, seed=9)))


def test_saved_model_keeps_the_test_guard(toy, tmp_path):
    import astrofm

    clf = Classifier("resnet18", weights=None, size=32, semi="pseudo-label")
    clf.fit(toy(24, seed=0), unlabeled=toy(20, seed=5)).save(tmp_path / "m.astrofm")
    with pytest.raises(SplitError, match="unlabelled set"):
        astrofm.load(tmp_path / "m.astrofm").evaluate(toy(8, seed=5))


def test_options_are_checked_before_any_compute(toy):
    with pytest.raises(UnknownNameError, match="semi='mixmatch'"):
        Classifier("resnet18", weights=None, semi="mixmatch")
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="threshold"):
            Classifier("resnet18", weights=None, tuning="full", semi="fixmatch", threshold=bad)
    with pytest.raises(ConfigError, match="unlabeled_ratio"):
        Classifier("resnet18", weights=None, tuning="full", semi="fixmatch", unlabeled_ratio=0)
    with pytest.raises(ConfigError, match="threshold= is an option of semi-supervised"):
        Classifier("resnet18", weights=None, threshold=0.9)
    with pytest.raises(ConfigError, match="semi='pseudo-label'"):
        Classifier("resnet18", weights=None, semi="fixmatch")
    with pytest.raises(ConfigError, match="unlabeled_ratio= weighs"):
        Classifier("resnet18", weights=None, semi="pseudo-label", unlabeled_ratio=3)
    clf = Classifier("resnet18", weights=None, tuning="full", size=32, semi="fixmatch")
    with pytest.raises(ConfigError, match="semi= needs fit"):
        clf.fit(toy(24, seed=0))
    with pytest.raises(InputFileError):
        clf.fit(toy(24, seed=0), unlabeled=["/no/such/image.fits"])
    assert not clf.fitted
    with pytest.raises(ConfigError, match="needs the classifier option semi"):
        Classifier("resnet18", weights=None, size=32).fit(toy(24, seed=0),
                                                          unlabeled=toy(4, seed=1))


def test_cli_semi_options(tmp_path, toy, capsys):
    from astrofm.cli import main

    def npz(name, n, seed):
        data = toy(n, seed=seed)
        path = tmp_path / name
        np.savez(path, images=data.images, labels=data.labels,
                 label_names=np.array(data.classes))
        return str(path)

    train, pool, test = npz("train.npz", 24, 0), npz("pool.npz", 20, 5), npz("test.npz", 8, 9)
    common = ["train", train, "-m", "resnet18", "--weights", "random", "--size", "32", "-q"]
    model = tmp_path / "m.astrofm"
    assert main([*common, "-o", str(model), "--semi", "pseudo-label", "--threshold", "0.6",
                 "--unlabeled", pool, "--test", test]) == 0
    assert "macro F1" in capsys.readouterr().out
    import astrofm

    assert astrofm.load(model).history["pseudo_labelled"][0] == 0
    overlap = npz("overlap.npz", 8, 5)  # the pool's first 8 images
    for extra, message in (
            (["--semi", "pseudo-label", "--unlabeled", pool, "--test", overlap],
             "also in the unlabelled set"),
            (["--semi", "fixmatch"], "--unlabeled and --semi go together"),
            (["--unlabeled", str(tmp_path / "none.fits"), "--semi", "pseudo-label"],
             "no such file"),
            (["--semi", "pseudo-label", "--unlabeled", pool, "--threshold", "2"], "threshold")):
        assert main([*common, "-o", str(tmp_path / "x.astrofm"), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.astrofm").exists()
    assert main(["train", str(tmp_path / "boxes.json"), "--task", "detect", "-o",
                 str(tmp_path / "d.astrofm"), "--semi", "fixmatch"]) == 2
    assert "--semi is an option of a classifier" in capsys.readouterr().err
