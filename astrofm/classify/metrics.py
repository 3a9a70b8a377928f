"""Classification metrics, computed with torchmetrics, and the report that holds them.

Macro F1 is the unweighted mean of the per-class F1 scores (so a rare class counts as
much as a common one) and is named as such; balanced accuracy is the mean per-class
recall (torchmetrics' macro-averaged accuracy). The confusion matrix has true classes
in rows and predicted classes in columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from astropy.table import Table

from astrofm.backbones.weights import weights_note
from astrofm.errors import DatasetError

__all__ = ["ClassificationReport", "classification_report"]


@dataclass
class ClassificationReport:
    """Scores of a classifier on one labelled split.

    Attributes
    ----------
    classes : list of str
        Class names, in the order of every per-class array.
    macro_f1 : float
        Mean of the per-class F1 scores.
    f1, precision, recall : numpy.ndarray
        Per-class scores.
    support : numpy.ndarray of int
        True images per class.
    balanced_accuracy : float
        Mean per-class recall.
    accuracy : float
        Share of images classified correctly.
    confusion : numpy.ndarray of int
        ``confusion[i, j]``: images of class ``i`` predicted as class ``j``.
    weights : str
        Where the backbone's weights came from (``"pretrained"``, a file, or
        ``"random (seed N)"``), as the classifier that was scored records it.
    """

    classes: list
    macro_f1: float
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    support: np.ndarray
    balanced_accuracy: float
    accuracy: float
    confusion: np.ndarray
    weights: str = ""

    @property
    def n(self) -> int:
        """Number of images scored."""
        return int(self.support.sum())

    def to_table(self) -> Table:
        """One row per class: precision, recall, F1, support; overall scores in ``meta``."""
        table = Table({"class": list(self.classes), "precision": self.precision,
                       "recall": self.recall, "f1": self.f1, "support": self.support})
        table.meta.update({"macro_f1": self.macro_f1,
                           "balanced_accuracy": self.balanced_accuracy,
                           "accuracy": self.accuracy, "n": self.n, "weights": self.weights})
        return table

    def to_dict(self) -> dict:
        """Every score as plain Python values (JSON-able)."""
        return {"classes": list(self.classes), "macro_f1": self.macro_f1,
                "f1": self.f1.tolist(), "precision": self.precision.tolist(),
                "recall": self.recall.tolist(), "support": self.support.tolist(),
                "balanced_accuracy": self.balanced_accuracy, "accuracy": self.accuracy,
                "confusion": self.confusion.tolist(), "weights": self.weights}

    def __str__(self):
        width = max(9, *(len(c) for c in self.classes))
        lines = [f"{'class':<{width}}  precision  recall     f1  support"]
        for i, name in enumerate(self.classes):
            lines.append(f"{name:<{width}}  {self.precision[i]:9.3f}  {self.recall[i]:6.3f}  "
                         f"{self.f1[i]:5.3f}  {self.support[i]:7d}")
        lines += ["", f"macro F1           {self.macro_f1:.3f}",
                  f"balanced accuracy  {self.balanced_accuracy:.3f}",
                  f"accuracy           {self.accuracy:.3f}   ({self.n} images)", "",
                  "confusion matrix (rows: true, columns: predicted)"]
        cell = max(6, len(str(self.confusion.max())) + 1, *(len(c) + 1 for c in self.classes))
        lines.append(" " * width + "".join(f"{c:>{cell}}" for c in self.classes))
        for name, row in zip(self.classes, self.confusion, strict=True):
            lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
        if self.weights:
            lines += ["", f"backbone weights: {weights_note(self.weights)}"]
        return "\n".join(lines)


def classification_report(true, predicted, classes) -> ClassificationReport:
    """Score predicted labels against true ones.

    Parameters
    ----------
    true, predicted : array of int
        Class codes, one per image.
    classes : list of str
        Class names in code order.

    Returns
    -------
    ClassificationReport

    Notes
    -----
    A class that is neither present nor predicted has precision, recall and F1 of 0
    (torchmetrics' ``zero_division=0``) and is left out of macro F1, as torchmetrics
    and scikit-learn do; a class predicted but absent counts with an F1 of 0. Balanced
    accuracy averages the recall of the classes present in ``true`` (scikit-learn's
    definition; torchmetrics' macro accuracy would also count absent classes that were
    predicted, with a recall of 0).
    """
    from torchmetrics.functional.classification import (
        multiclass_accuracy,
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    true = torch.as_tensor(np.asarray(true, dtype=np.int64))
    predicted = torch.as_tensor(np.asarray(predicted, dtype=np.int64))
    if true.shape != predicted.shape or true.ndim != 1:
        raise DatasetError(f"{len(predicted)} predictions for {len(true)} labels; give one "
                           "prediction per labelled image.")
    if len(true) == 0:
        raise DatasetError("nothing to score: the split holds no labelled images.")
    k = len(classes)
    confusion = multiclass_confusion_matrix(predicted, true, num_classes=k).numpy()

    def per_class(metric):
        return metric(predicted, true, num_classes=k, average="none").numpy().astype(float)

    f1 = per_class(multiclass_f1_score)
    recall = per_class(multiclass_recall)
    return ClassificationReport(
        classes=[str(c) for c in classes],
        macro_f1=float(multiclass_f1_score(predicted, true, num_classes=k, average="macro")),
        f1=f1,
        precision=per_class(multiclass_precision),
        recall=recall,
        support=confusion.sum(1).astype(int),
        balanced_accuracy=float(recall[confusion.sum(1) > 0].mean()),
        accuracy=float(multiclass_accuracy(predicted, true, num_classes=k, average="micro")),
        confusion=confusion.astype(int),
    )
