"""Label-fraction sweeps: one configuration over fractions of the labels and seeds.

The paper's Figure 3 trains each configuration on 10, 30, 50 and 100 % of the labelled
training images, several times, and plots the mean macro F1 with its range.
:func:`sweep` does that and returns the table; :func:`~astrofm.classify.plot_sweep`
draws it.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from astrofm.classify.classifier import FEATURE_OPTIONS, Classifier
from astrofm.classify.data import codes_for, labelled, mark_test

__all__ = ["sweep", "FRACTIONS"]

log = logging.getLogger("astrofm.classify")

#: The label fractions of the paper.
FRACTIONS = (0.1, 0.3, 0.5, 1.0)


def sweep(model, train, test, *, fractions=FRACTIONS, seeds=(0, 1, 2), val=None,
          head: str = "linear", tuning: str = "frozen", preprocessing=None,
          **options) -> Table:
    """Train and score one configuration on stratified label fractions, over seeds.

    For each fraction and seed, :func:`astrofm.data.label_fraction` draws a stratified
    subset of ``train`` (nested: a seed's 10 % lies within its 30 %), a classifier is
    fitted on it (its validation split taken from the subset, or ``val``) and scored on
    ``test``, which is marked as the test split first.

    With a frozen backbone the backbone is built once (with the first seed) and run
    once over each split; every fraction, seed and head reuses those features. Other
    tunings build and train a fresh backbone per run.

    Parameters
    ----------
    model : str or Backbone
        As for :class:`Classifier`.
    train, test : ImageDataset, Subset or feature Table
        Labelled training and test splits.
    fractions : sequence of float
        Label fractions in (0, 1].
    seeds : sequence of int
        One run per seed and fraction.
    val : optional
        A fixed validation split; by default each run splits its own subset.
    head, tuning, preprocessing, **options
        The configuration, as for :class:`Classifier` (``seed`` comes from ``seeds``).

    Returns
    -------
    astropy.table.Table
        One row per fraction: ``fraction``, ``n_train`` (images per run, before the
        validation split), ``macro_f1_mean``, ``macro_f1_min``, ``macro_f1_max``,
        ``macro_f1_std``, ``macro_f1_runs`` (one value per seed) and
        ``class_f1_mean`` (mean per-class F1); ``meta`` holds the configuration and
        the class names.
    """
    from astrofm.data import label_fraction, subset

    options.pop("seed", None)
    seeds = [int(s) for s in seeds]
    frozen = tuning == "frozen"
    items = labelled(train, "train")
    codes = codes_for(items.names, items.classes, "train")
    mark_test(test)
    base = None
    if frozen:
        base = Classifier(model, head, tuning, preprocessing, seed=seeds[0], **options)
        train = base.embed(train) if not isinstance(train, Table) else train
        test = base.embed(test) if not isinstance(test, Table) else test
        val = base.embed(val) if val is not None and not isinstance(val, Table) else val
    head_options = {k: v for k, v in options.items() if k not in FEATURE_OPTIONS}
    rows = []
    for fraction in fractions:
        runs, class_f1, sizes = [], [], []
        for seed in seeds:
            index = label_fraction(codes, fraction, seed)
            part = train[index] if isinstance(train, Table) else subset(train, index)
            clf = base.with_head(head, seed=seed, **head_options) if frozen else (
                Classifier(model, head, tuning, preprocessing, seed=seed, **options))
            report = clf.fit(part, val).evaluate(test)
            log.info("fraction %.2f seed %d: %d images, macro F1 %.3f", fraction, seed,
                     len(index), report.macro_f1)
            runs.append(report.macro_f1)
            class_f1.append(report.f1)
            sizes.append(len(index))
        runs = np.asarray(runs)
        rows.append({"fraction": float(fraction), "n_train": int(round(np.mean(sizes))),
                     "macro_f1_mean": runs.mean(), "macro_f1_min": runs.min(),
                     "macro_f1_max": runs.max(), "macro_f1_std": runs.std(),
                     "macro_f1_runs": runs, "class_f1_mean": np.mean(class_f1, axis=0)})
    table = Table(rows=rows)
    name = model if isinstance(model, str) else model.spec.name
    table.meta.update({"model": name, "head": head, "tuning": tuning, "seeds": seeds,
                       "classes": list(items.classes),
                       "label": f"{name} {head} {tuning}"})
    return table

