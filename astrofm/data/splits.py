"""Seeded, stratified subsets: label fractions and validation splits.

Both work per class on one seeded permutation, so a 10 % subset is contained in the
30 % subset of the same seed, and every class keeps its share of the images.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Subset

from astrofm.errors import ConfigError, SplitError

__all__ = ["label_fraction", "train_val_split", "LabelledSubset", "subset"]

# Distinct streams so that the validation split and the label fraction of one seed are
# not the same draws.
_FRACTION_STREAM, _VAL_STREAM = 0, 1


def _labels_of(data) -> np.ndarray:
    labels = getattr(data, "labels", data)
    if labels is None:
        return np.zeros(len(data), dtype=np.int64)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise SplitError(f"cannot split {labels.size} labels of shape {labels.shape}; "
                         "give a 1-D array with one label per image.")
    return labels


def _per_class_permutations(labels: np.ndarray, seed: int, stream: int):
    rng = np.random.default_rng([seed, stream])
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        yield rng.permutation(members)


def label_fraction(data, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a stratified subset holding ``fraction`` of the labelled images.

    Each class keeps ``max(1, round(fraction * n_class))`` images, drawn from a
    permutation fixed by ``seed``; subsets of one seed are nested (10 % within 30 %).

    Parameters
    ----------
    data : ImageDataset or array-like
        A data set with ``labels``, or the labels themselves.
    fraction : float
        In ``(0, 1]``; 1 gives every index.
    seed : int
        Seed of the permutation.

    Returns
    -------
    numpy.ndarray
        Sorted indices into ``data``.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction={fraction!r}: give a fraction in (0, 1], e.g. 0.1 for 10 %.")
    labels = _labels_of(data)
    chosen = [perm[: max(1, round(fraction * len(perm)))]
              for perm in _per_class_permutations(labels, seed, _FRACTION_STREAM)]
    return np.sort(np.concatenate(chosen))


def train_val_split(data, val_fraction: float = 0.1, seed: int = 0):
    """Stratified split of a *training* set into training and validation indices.

    The validation images come from the data passed in, which must be the training
    split: the test split is never used for model selection.

    Parameters
    ----------
    data : ImageDataset or array-like
        The training data set, or its labels.
    val_fraction : float
        In ``(0, 1)``; each class gives ``round(val_fraction * n_class)`` images, at
        least one when it has two or more.
    seed : int
        Seed of the permutation.

    Returns
    -------
    train, val : numpy.ndarray
        Sorted, disjoint indices.
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction={val_fraction!r}: give a fraction in (0, 1).")
    labels = _labels_of(data)
    train, val = [], []
    for perm in _per_class_permutations(labels, seed, _VAL_STREAM):
        n_val = round(val_fraction * len(perm))
        if len(perm) >= 2:
            n_val = min(max(n_val, 1), len(perm) - 1)
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if len(val) == 0 or len(train) == 0:
        raise SplitError(
            f"val_fraction={val_fraction} of {len(labels)} images leaves an empty "
            f"{'validation' if len(val) == 0 else 'training'} split; use more images or "
            "another fraction."
        )
    return train, val


class LabelledSubset(Subset):
    """A ``torch.utils.data.Subset`` that keeps the labels, classes and sources."""

    @property
    def labels(self):
        """Labels of the chosen items, or None."""
        labels = getattr(self.dataset, "labels", None)
        return None if labels is None else np.asarray(labels)[self.indices]

    @property
    def classes(self):
        """Class names of the parent data set."""
        return getattr(self.dataset, "classes", [])

    @property
    def sources(self):
        """Sources of the chosen items."""
        return [self.dataset.sources[i] for i in self.indices]

    @property
    def transform(self):
        """The parent data set's transform (what ``load`` output goes through)."""
        return getattr(self.dataset, "transform", None)

    def load(self, index):
        """The untransformed AstroImage of item ``index`` of the subset."""
        return self.dataset.load(self.indices[index])


def subset(dataset, indices) -> LabelledSubset:
    """The items ``indices`` of ``dataset``, keeping labels and class names."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        raise SplitError(f"an empty subset of {dataset!r} was asked for; choose some items.")
    return LabelledSubset(dataset, indices.tolist())
