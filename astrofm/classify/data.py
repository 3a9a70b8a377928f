"""What a classifier is trained and judged on: labelled inputs, the test mark, class weights.

A classifier meets its data in three forms: a data set with labels (any
:class:`~astrofm.data.ImageDataset`, or a subset of one), a pair ``(inputs, labels)``
of files or arrays and their labels, or a feature table from :func:`astrofm.embed`
(frozen backbones only). Labels travel as *class names*, so a test set whose classes
are listed in another order is still scored against the right classes.

The test split is marked on the object (:func:`mark_test`); ``fit`` refuses anything so
marked, and :meth:`Classifier.evaluate <astrofm.classify.Classifier.evaluate>` marks
what it scores, so a test set cannot later slip into training or model selection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from astrofm.data.labels import normalise_labels
from astrofm.errors import ConfigError, DatasetError, SplitError

__all__ = ["mark_test", "is_test", "Labelled", "labelled", "codes_for", "class_weights",
           "is_feature_table"]

#: The value of a data set's ``split`` attribute (or a table's ``SPLIT`` meta key) that
#: marks the test split.
TEST = "test"


def is_feature_table(data) -> bool:
    """True for an astropy Table with a ``feature`` column (made by :func:`astrofm.embed`)."""
    return isinstance(data, Table) and "feature" in data.colnames


def mark_test(data):
    """Mark ``data`` as the test split, so that ``fit`` refuses it.

    Parameters
    ----------
    data : ImageDataset, Subset or astropy.table.Table
        A data set (its ``split`` attribute becomes ``"test"``) or a feature table (its
        ``meta["SPLIT"]``).

    Returns
    -------
    The same object, marked.

    Examples
    --------
    >>> test = mark_test(ArrayDataset("mirabest_basic_test.npz"))   # doctest: +SKIP
    >>> clf.fit(test)                                                # doctest: +SKIP
    SplitError: train is marked as the test split ...
    """
    if isinstance(data, Table):
        data.meta["SPLIT"] = TEST
        return data
    try:
        data.split = TEST
    except AttributeError as err:
        raise ConfigError(f"cannot mark a {type(data).__name__} as the test split; wrap the "
                          "inputs in a data set (astrofm.data.ListDataset) first.") from err
    return data


def is_test(data) -> bool:
    """True when ``data``, or a data set it is a subset of, is marked as the test split."""
    while data is not None:
        if isinstance(data, Table):
            return data.meta.get("SPLIT") == TEST
        if getattr(data, "split", None) == TEST:
            return True
        data = getattr(data, "dataset", None)
    return False


@dataclass
class Labelled:
    """Labelled inputs, resolved.

    Attributes
    ----------
    data : ImageDataset, Subset or astropy.table.Table
        What the images (or their features) are read from.
    names : numpy.ndarray of str
        The class name of each item.
    classes : list of str
        The class names the source declares, in code order (a class may be absent from
        ``names``, e.g. in a small label fraction).
    """

    data: object
    names: np.ndarray
    classes: list

    def __len__(self):
        return len(self.names)

    def take(self, indices) -> Labelled:
        """The items ``indices`` (a row selection of a table, a subset of a data set)."""
        from astrofm.data import subset

        indices = np.asarray(indices, dtype=np.int64)
        data = self.data[indices] if isinstance(self.data, Table) else subset(self.data, indices)
        return Labelled(data, self.names[indices], self.classes)


def labelled(data, where: str) -> Labelled:
    """Resolve what ``fit`` or ``evaluate`` was given into :class:`Labelled`.

    Parameters
    ----------
    data : ImageDataset, Subset, feature Table, or (inputs, labels)
        A data set with labels, a table from :func:`astrofm.embed` with a ``label`` or
        ``class_name`` column, or a pair of a list of inputs (paths, arrays) and one
        label per input.
    where : str
        The argument's name, for error messages (``"train"``, ``"val"``, ``"test"``).
    """
    if is_feature_table(data):
        return _from_table(data, where)
    if isinstance(data, tuple) and len(data) == 2 and _is_many(data[0]) and _is_many(data[1]):
        data = _pair_dataset(data, where)
    from astrofm.features import as_dataset

    if data is None:
        raise SplitError(f"{where}: no data was given; pass a labelled data set.")
    dataset = as_dataset(data)
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise DatasetError(f"{where}: the data set {dataset!r} has no labels; give one label "
                           "per image (e.g. ArrayDataset labels=, or (inputs, labels)).")
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise SplitError(f"{where}: the data set holds no images; give a non-empty split.")
    classes = [str(c) for c in getattr(dataset, "classes", [])]
    return Labelled(dataset, np.asarray(classes, dtype=str)[labels], classes)


def _is_many(value) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _pair_dataset(pair, where):
    from astrofm.data import ListDataset

    inputs, labels = pair
    inputs = list(inputs)
    if len(inputs) != len(labels):
        raise DatasetError(f"{where}: {len(labels)} labels for {len(inputs)} images; give "
                           "exactly one label per image.")
    if not inputs:
        raise SplitError(f"{where}: no images were given; give a non-empty split.")
    return ListDataset(inputs, list(labels))


def _from_table(table: Table, where: str) -> Labelled:
    if len(table) == 0:
        raise SplitError(f"{where}: the feature table has no rows; give a non-empty split.")
    column = next((c for c in ("class_name", "label") if c in table.colnames), None)
    if column is None:
        raise DatasetError(f"{where}: the feature table has no 'label' or 'class_name' "
                           "column; embed a labelled data set.")
    # The rules of astrofm.data.labels: 1 and 1.0 are one class, a blank is refused.
    values = normalise_labels(table[column], where=f"{where}: column {column!r}")
    names = np.array([str(v) for v in values], dtype=str)
    if "CLASSES" in table.meta:
        classes = json.loads(table.meta["CLASSES"])
    elif "label" in table.colnames:
        # Without the declared list, the codes the table holds give the order.
        codes = normalise_labels(table["label"], where=f"{where}: column 'label'")
        pairs = sorted(set(zip(codes, names.tolist(), strict=True)))
        classes = list(dict.fromkeys(name for _, name in pairs))
    else:
        classes = sorted(set(names.tolist()))
    return Labelled(table, names, [str(c) for c in classes])


def codes_for(names, classes, where: str) -> np.ndarray:
    """Integer codes of class ``names`` in the list ``classes``.

    Raises
    ------
    DatasetError
        When a name is not one of ``classes``, naming it.
    """
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted({n for n in np.asarray(names).tolist() if n not in lookup})
    if unknown:
        raise DatasetError(f"{where}: classes {unknown[:5]} are not among the classifier's "
                           f"classes {list(classes)}; it can only score the classes it was "
                           "trained on.")
    return np.array([lookup[n] for n in np.asarray(names).tolist()], dtype=np.int64)


def class_weights(codes, n_classes: int) -> np.ndarray:
    r"""Loss weights inversely proportional to class frequency.

    .. math:: w_c = \frac{N}{K\,n_c}

    with :math:`N` training images, :math:`n_c` of them in class :math:`c` and
    :math:`K` classes present. A balanced set gets weights of 1; the weights averaged
    over the training images are always 1, so the loss keeps its scale. A class absent
    from the training labels gets weight 0 (it has no term in the loss anyway).

    Parameters
    ----------
    codes : array of int
        Training labels.
    n_classes : int
        Number of classes of the classifier.

    Returns
    -------
    numpy.ndarray of float32, shape (n_classes,)
    """
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=n_classes)
    present = counts > 0
    weights = np.zeros(n_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)
