"""Class labels: what a label may be, and how labels become classes and integer codes.

The rules, stated once for every data set that takes labels (:class:`ArrayDataset`,
:class:`FolderDataset`, :class:`CatalogDataset`, :class:`ListDataset`, and the
``(inputs, labels)`` pairs a classifier is given):

- A label is a class *name* (``str``; numpy strings and ``bytes`` are decoded, and
  surrounding whitespace is stripped, as CSV columns often pad it), an integer *code*
  (``int`` or numpy integer), or a ``bool``.
- A float with a whole value is the integer it equals (``1.0`` is class ``1``): numpy
  and table readers store an integer column as float as soon as it has a gap.
  A float with a fraction (``0.5``, ``inf``) is refused, since classes are not
  measurements.
- Every label of a data set is of one kind. Names mixed with codes (``1`` and ``"1"``)
  and bools mixed with integers (``True == 1`` would merge them silently) are refused
  with an error naming examples of each kind.
- A missing label (``None``, NaN, a masked table entry, an empty string) is refused,
  naming how many are missing and where.
- Classes are the distinct labels sorted: names in code-point order, codes in numeric
  order, ``False`` before ``True``; class ``k`` has integer code ``k``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from astrofm.errors import DatasetError

__all__ = ["normalise_labels", "encode_labels"]

_MISSING = "missing"
_NAMES = {"str": "class names (str)", "int": "integer codes", "bool": "bools"}


def _classify(value):
    """The kind of one label and its plain Python value."""
    if value is None or value is np.ma.masked:
        return _MISSING, None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int):
        return "int", value
    if isinstance(value, float):
        if math.isnan(value):
            return _MISSING, None
        return ("int", int(value)) if value.is_integer() else ("float", value)
    if isinstance(value, str):
        value = value.strip()
        return (_MISSING, None) if not value else ("str", value)
    return "other", value


def _positions(indices, limit=10) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (", ..." if len(indices) > limit else "")


def normalise_labels(values, *, where: str = "labels") -> list:
    """Labels as plain Python values of one kind, following the rules of this module.

    Parameters
    ----------
    values : sequence or array_like
        One label per image: a list, a numpy or masked array, an astropy column.
    where : str
        Name of the argument or column, for error messages.

    Returns
    -------
    list of str, list of int or list of bool

    Raises
    ------
    DatasetError
        A missing label, a float with a fraction, a label of another type (a list, a
        one-hot row), or labels of more than one kind.

    Examples
    --------
    >>> normalise_labels(np.array([2.0, 1.0, 2.0]))
    [2, 1, 2]
    >>> normalise_labels([b"FRI ", "FRII"])
    ['FRI', 'FRII']
    """
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    kinds, plain = zip(*(_classify(v) for v in items), strict=True) if items else ((), ())
    by_kind: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        by_kind.setdefault(kind, []).append(i)
    if _MISSING in by_kind:
        missing = by_kind[_MISSING]
        raise DatasetError(
            f"{where}: {len(missing)} of {len(items)} labels are missing (None, NaN, masked "
            f"or empty) at positions {_positions(missing)}; give those images a label or "
            "leave them out of the labelled set."
        )
    if "other" in by_kind:
        i = by_kind["other"][0]
        raise DatasetError(
            f"{where}: label {items[i]!r} at position {i} is a {type(items[i]).__name__}; "
            "give one class name (str) or integer code per image (for one-hot rows, "
            "their argmax)."
        )
    if "float" in by_kind:
        shown = [items[i] for i in by_kind["float"][:5]]
        raise DatasetError(
            f"{where}: labels {shown} (positions {_positions(by_kind['float'])}) are not "
            "whole numbers; a label is a class name or an integer code. Convert the "
            "labels to strings if they name classes, or to integers if they are codes."
        )
    if len(by_kind) > 1:
        examples = "; ".join(
            f"{_NAMES[kind]} such as {[items[i] for i in idx[:3]]} (positions "
            f"{_positions(idx, 3)})" for kind, idx in sorted(by_kind.items()))
        raise DatasetError(
            f"{where}: labels mix {examples}. Give every label as the same kind, e.g. "
            "all class names with [str(v) for v in labels]."
        )
    return list(plain)


def encode_labels(values, classes: Sequence | None = None, *, where: str = "labels"):
    """Integer codes and class names for a column of labels.

    Labels and classes are first normalised by :func:`normalise_labels`.

    Parameters
    ----------
    values : sequence
        Class names or integer codes, one per image.
    classes : sequence, optional
        The class names in code order. By default, the sorted distinct labels. With
        class names given, integer labels are codes indexing them (``0`` is
        ``classes[0]``); otherwise each label must be one of ``classes``.
    where : str
        Name of the argument or column, for error messages.

    Returns
    -------
    codes : numpy.ndarray of int64
    classes : list

    Raises
    ------
    DatasetError
        Labels or classes refused by :func:`normalise_labels`, repeated class names,
        codes out of range, or labels that are not among ``classes``.
    """
    labels = normalise_labels(values, where=where)
    if classes is None:
        classes = sorted(set(labels))
    else:
        classes = normalise_labels(classes, where=f"{where}: classes")
        repeated = sorted({c for c in classes if classes.count(c) > 1}, key=str)
        if repeated:
            raise DatasetError(f"{where}: the classes {classes} name {repeated} more than "
                               "once; give each class name once.")
    if labels and all(isinstance(v, int) and not isinstance(v, bool) for v in labels) \
            and all(isinstance(c, str) for c in classes):
        codes = np.asarray(labels, dtype=np.int64)
        bad = (codes < 0) | (codes >= len(classes))
        if bad.any():
            raise DatasetError(
                f"{where}: integer labels must lie in 0..{len(classes) - 1} to index the "
                f"{len(classes)} class names; found {sorted(set(codes[bad].tolist()))[:5]}."
            )
        return codes, classes
    # Keyed by type too, so that True does not find class 1 nor 1 find class True.
    lookup = {(type(c), c): i for i, c in enumerate(classes)}
    unknown = sorted({v for v in labels if (type(v), v) not in lookup}, key=str)
    if unknown:
        raise DatasetError(
            f"{where}: labels {unknown[:5]} are not among the classes {classes}; "
            "pass classes= with every class name."
        )
    return np.array([lookup[type(v), v] for v in labels], dtype=np.int64), classes
