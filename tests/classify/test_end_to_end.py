"""LoRA, partial and full tuning: trained end to end on Lightning."""

import numpy as np
import pytest
import torch

from astrofm.classify import Classifier

SMALL = {"epochs": 3, "batch_size": 8, "lr": 3e-3}


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    after = module.state_dict()
    return {k for k in after if k not in before or not torch.equal(before[k], after[k])}


def test_lora_trains_only_adapters(toy, tiny_vit):
    clf = Classifier("dinov2-small", weights=None, tuning="lora", backbone_options=tiny_vit,
                     lora_rank=4, augment=False, **SMALL)
    assert 0 < clf.tuning_report.fraction < 0.5
    with torch.no_grad():  # peft starts B at zero; give A a gradient from the first step
        for name, p in clf.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.01)
    before = _state(clf.backbone)
    clf.fit(toy(32, seed=0, side=28))
    changed = _changed(before, clf.backbone)
    assert changed and all("lora_" in k for k in changed)
    assert clf.history["train_loss"][-1] < clf.history["train_loss"][0]


def test_partial_trains_only_the_top_blocks(toy, tiny_vit):
    clf = Classifier("dinov2-small", weights=None, tuning="partial", blocks=1,
                     backbone_options=tiny_vit, **SMALL)
    before = _state(clf.backbone)
    clf.fit(toy(32, seed=0, side=28))
    changed = _changed(before, clf.backbone)
    assert changed and all(k.startswith("model.blocks.1.") for k in changed)
    assert clf.history["train_loss"][-1] < clf.history["train_loss"][0]


def test_full_training_from_random_weights(toy):
    clf = Classifier("resnet18", weights=None, tuning="full", size=32, **SMALL)
    assert clf.options.warmup_epochs == 0 and clf.options.augment
    before = _state(clf.backbone)
    clf.fit(toy(48, seed=0, contrast=60))
    assert "model.layer1.0.conv1.weight" in _changed(before, clf.backbone)
    history = clf.history
    assert history["train_loss"][-1] < history["train_loss"][0]
    # the kept epoch is the best on validation, and only validation decides it
    assert history["best_val_macro_f1"] == max(history["val_macro_f1"])
    assert history["best_epoch"] == int(np.argmax(history["val_macro_f1"]))
    out = clf.predict(toy(6, seed=3, contrast=60))
    assert out["probability"].shape == (6, 2) and not clf.backbone.training


def test_full_tuning_of_trained_weights_warms_the_head_up(tmp_path):
    from astrofm import backbones

    weights = backbones.load("resnet18", weights=None).save_weights(tmp_path / "r18.safetensors")
    assert Classifier("resnet18", tuning="full", weights=weights).options.warmup_epochs == 10
    assert Classifier("resnet18", tuning="full", weights=weights).options.lr == 1e-4
    assert Classifier("resnet18", weights=None, tuning="lora").options.warmup_epochs == 0


def test_class_weights_reach_the_loss(toy):
    data = toy(counts=[6, 18], seed=0)
    clf = Classifier("resnet18", weights=None, tuning="full", size=32, epochs=1, batch_size=8)
    captured = {}
    original = torch.nn.functional.cross_entropy

    def spy(logits, target, weight=None, **kwargs):
        captured["weight"] = weight
        return original(logits, target, weight=weight, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("astrofm.classify.module.F.cross_entropy", spy)
        clf.fit(data, val=toy(4, seed=1))
    # 24 training images, 6 and 18 per class: w = 24 / (2 * n_c)
    np.testing.assert_allclose(captured["weight"].numpy(), [2.0, 24 / 36], rtol=1e-6)
