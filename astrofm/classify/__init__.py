"""Classification on top of any registered backbone: heads, tuning, evaluation.

::

    import astrofm
    from astrofm.data import ArrayDataset
    from astrofm.classify import mark_test, sweep

    train = ArrayDataset("mirabest_basic_train.npz")
    test = mark_test(ArrayDataset("mirabest_basic_test.npz"))

    clf = astrofm.Classifier("resnet18", head="linear", tuning="full", size=64)
    report = clf.fit(train).evaluate(test)      # macro F1, per class, confusion matrix
    clf.save("mirabest.astrofm")
    astrofm.load("mirabest.astrofm").predict("new.fits")

    table = sweep("dinov2-small", train, test, fractions=(0.1, 0.3, 0.5, 1.0), seeds=(0, 1, 2))

Heads (:mod:`~astrofm.classify.heads`): ``linear``, ``mlp``, ``whitening``, ``knn``.
Tunings (:mod:`astrofm.tuning`): ``frozen`` (the head trains on cached features),
``lora``, ``partial``, ``full`` (end to end on Lightning).
"""

from astrofm.classify.classifier import Classifier
from astrofm.classify.config import SOLVERS
from astrofm.classify.data import class_weights, is_test, mark_test
from astrofm.classify.heads import HEAD_OPTIONS, HEADS, build_head
from astrofm.classify.metrics import ClassificationReport, classification_report
from astrofm.classify.plots import plot_confusion, plot_per_class_f1, plot_sweep
from astrofm.classify.sweep import sweep

__all__ = [
    "Classifier",
    "ClassificationReport",
    "classification_report",
    "class_weights",
    "mark_test",
    "is_test",
    "sweep",
    "plot_sweep",
    "plot_per_class_f1",
    "plot_confusion",
    "build_head",
    "HEADS",
    "HEAD_OPTIONS",
    "SOLVERS",
]
