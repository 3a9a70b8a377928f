import numpy as np
import pytest

import astrofm.features
from astrofm.classify import (
    Classifier,
    is_test,
    plot_confusion,
    plot_per_class_f1,
    plot_sweep,
    sweep,
)
from astrofm.data import label_fraction, subset


def test_frozen_sweep_reuses_features_and_is_reproducible(toy, monkeypatch):
    # faint toy objects, so that scores differ between fractions and seeds
    train, test = toy(60, seed=0, contrast=12), toy(20, seed=1, contrast=12)
    calls = []
    real = astrofm.features.embed
    monkeypatch.setattr(astrofm.features, "embed",
                        lambda data, **kw: calls.append(len(data)) or real(data, **kw))
    table = sweep("resnet18", train, test, fractions=(0.3, 1.0), seeds=(0, 1), size=32,
                  weights=None)
    assert calls == [60, 20]            # the backbone ran once over each split
    assert is_test(test)
    assert list(table["fraction"]) == [0.3, 1.0]
    # stratified label fractions: 30 % of 30 images per class is 9 per class
    assert list(table["n_train"]) == [18, 60]
    assert len(label_fraction(train, 0.3, seed=1)) == 18
    assert table["macro_f1_runs"].shape == (2, 2)
    assert (table["macro_f1_min"] <= table["macro_f1_mean"]).all()
    assert (table["macro_f1_mean"] <= table["macro_f1_max"]).all()
    # one cell (0.8 here, against 0.6 for seed 0) recomputed by a classifier of its own
    # (a frozen sweep runs every seed on the backbone of the first seed)
    alone = Classifier(astrofm.backbones.load("resnet18", weights=None, seed=0), size=32, seed=1)
    alone.fit(subset(train, label_fraction(train, 0.3, seed=1)))
    assert table["macro_f1_runs"][0, 1] == pytest.approx(alone.evaluate(test).macro_f1,
                                                         abs=1e-6)
    assert table["class_f1_mean"].shape == (2, 2)
    assert table.meta["classes"] == ["a", "b"] and table.meta["seeds"] == [0, 1]
    again = sweep("resnet18", train, test, fractions=(0.3, 1.0), seeds=(0, 1), size=32,
                  weights=None)
    np.testing.assert_array_equal(again["macro_f1_runs"], table["macro_f1_runs"])


def test_end_to_end_sweep_trains_a_backbone_per_run(toy):
    table = sweep("resnet18", toy(24, seed=0), toy(8, seed=1), fractions=(1.0,), seeds=(0,),
                  tuning="full", size=32, epochs=1, batch_size=8, weights=None)
    assert len(table) == 1 and table.meta["tuning"] == "full"


def test_plots_draw_on_axes(toy, agg_backend):
    sweep_table = sweep("resnet18", toy(30, seed=0), toy(10, seed=1), fractions=(0.5, 1.0),
                        seeds=(0,), size=32, weights=None)
    ax = plot_sweep([sweep_table, sweep_table], labels=["a", "b"])
    assert len(ax.lines) == 2 and ax.get_ylabel().startswith("macro F1")
    clf = Classifier("resnet18", weights=None, size=32).fit(toy(30, seed=0))
    report = clf.evaluate(toy(10, seed=2))
    ax = plot_per_class_f1([report, report], labels=["x", "y"])
    assert len(ax.patches) == 4
    ax = plot_confusion(report)
    assert len(ax.texts) == 4 and ax.get_xlabel() == "predicted"
    with pytest.raises(Exception, match="2 labels for 1"):
        plot_sweep(sweep_table, labels=["a", "b"])
