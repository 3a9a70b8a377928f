"""Bad input gets astrofm errors that name the argument at fault."""

import numpy as np
import pytest

from astrofm.classify import Classifier, mark_test
from astrofm.data import subset
from astrofm.errors import ConfigError, DatasetError, SplitError, UnknownNameError


def test_a_test_split_is_refused_by_fit(toy):
    train, test = toy(20, seed=0), mark_test(toy(10, seed=1))
    clf = Classifier("resnet18", weights=None, size=32)
    with pytest.raises(SplitError, match="train is marked as the test split"):
        clf.fit(test)
    with pytest.raises(SplitError, match="val is marked as the test split"):
        clf.fit(train, val=test)
    with pytest.raises(SplitError, match="train is marked"):
        clf.fit(subset(test, [0, 1, 2, 3]))
    with pytest.raises(SplitError, match="train is marked"):
        clf.fit(clf.embed(test))   # its features carry the mark too


def test_evaluate_marks_what_it_scores(toy):
    train, other = toy(20, seed=0), toy(10, seed=1)
    clf = Classifier("resnet18", weights=None, size=32).fit(train)
    clf.evaluate(other, mark=False)
    Classifier("resnet18", weights=None, size=32).fit(other)      # still usable for training
    clf.evaluate(other)
    with pytest.raises(SplitError, match="train is marked"):
        Classifier("resnet18", weights=None, size=32).fit(other)


def test_bad_training_data(toy):
    clf = Classifier("resnet18", weights=None, size=32)
    images = list(toy(4).images)
    with pytest.raises(DatasetError, match="train: 3 labels for 4 images"):
        clf.fit((images, ["a", "b", "a"]))
    with pytest.raises(SplitError, match="train: all 4 images are of class 'a'"):
        clf.fit((images, ["a"] * 4))
    with pytest.raises(SplitError, match="train: no images"):
        clf.fit(([], []))
    table = clf.embed(toy(10))
    with pytest.raises(SplitError, match="train: the feature table has no rows"):
        clf.fit(table[:0])
    with pytest.raises(SplitError, match="val: no images"):
        clf.fit(toy(10), val=([], []))
    fitted = Classifier("resnet18", weights=None, size=32).fit(toy(10))
    with pytest.raises(DatasetError, match=r"test: classes \['c'\] are not among"):
        fitted.evaluate((images[:2], ["a", "c"]))


def test_bad_configuration():
    with pytest.raises(UnknownNameError, match="unknown head 'svm'; choose one of linear"):
        Classifier("resnet18", weights=None, head="svm")
    with pytest.raises(UnknownNameError, match="unknown tuning 'qlora'"):
        Classifier("resnet18", weights=None, tuning="qlora")
    with pytest.raises(UnknownNameError, match="unknown option.*'epoch'.*Did you mean 'epochs'"):
        Classifier("resnet18", weights=None, epoch=3)
    with pytest.raises(ConfigError, match="k= is an option of head='knn', not of head='mlp'"):
        Classifier("resnet18", weights=None, head="mlp", k=3)
    with pytest.raises(ConfigError, match="blocks= applies to tuning='partial'"):
        Classifier("resnet18", weights=None, tuning="full", blocks=2)
    with pytest.raises(ConfigError, match="needs blocks="):
        Classifier("resnet18", weights=None, tuning="partial")
    with pytest.raises(ConfigError, match="head='knn' .* needs tuning='frozen'"):
        Classifier("resnet18", weights=None, head="knn", tuning="lora")
    with pytest.raises(ConfigError, match="augment=True needs a backbone that trains"):
        Classifier("resnet18", weights=None, augment=True)
    with pytest.raises(ConfigError, match="solver='fast' .* needs tuning='frozen'"):
        Classifier("resnet18", weights=None, tuning="full", solver="fast")
    with pytest.raises(UnknownNameError, match="unknown solver 'adam'"):
        Classifier("resnet18", weights=None, solver="adam")
    with pytest.raises(ConfigError, match="warmup_epochs=10 leaves none of the 5 epochs"):
        Classifier("resnet18", weights=None, tuning="full", warmup_epochs=10, epochs=5)
    with pytest.raises(ConfigError, match="pooling='cls'"):
        Classifier("resnet18", weights=None, pooling="cls")
    with pytest.raises(UnknownNameError, match="unknown backbone 'resnet-7'"):
        Classifier("resnet-7", weights=None)
    with pytest.raises(ConfigError, match="either preprocessing= or size="):
        from astrofm.features import default_preprocessing

        Classifier("resnet18", weights=None, preprocessing=default_preprocessing("resnet18"),
                   size=32)


def test_feature_tables_of_another_backbone_are_refused(toy):
    table = Classifier("resnet18", weights=None, size=32, seed=0).embed(toy(10))
    other = Classifier("resnet18", weights=None, size=32, seed=1)     # other random weights
    with pytest.raises(ConfigError, match="another weights"):
        other.fit(table)
    with pytest.raises(ConfigError, match="another preproc"):
        Classifier("resnet18", weights=None, size=64, seed=0).fit(table)
    assert np.isfinite(table["feature"]).all()
