"""The cells of a study run: training, scoring and recording each one.

Frozen cells of one (backbone, weights, pooling, preprocessing) group share one
:class:`~astrofm.classify.Classifier` backbone and its feature tables (computed once
per split through the resumable embed cache in ``DIR/cache``, and written to
``DIR/features/``); each head, fraction and seed then trains on rows of those tables
(:meth:`~astrofm.classify.Classifier.with_head`). Other cells build and train their
own model. Each finished cell appends its row to ``results.ecsv`` at once.
"""

from __future__ import annotations

import logging
import time
from itertools import groupby

import numpy as np

from astrofm.study.results import ResultsTable, classification_row, detection_row

__all__ = ["execute", "estimate"]

log = logging.getLogger("astrofm.study")


def _run_options(run) -> dict:
    r = run.study.run
    return {k: r[k] for k in ("device", "devices", "num_nodes", "strategy", "precision",
                              "num_workers")}


def _classifier_options(cell, run) -> dict:
    options = {k: v for k, v in cell.options.items() if k != "size"}
    return {**options, **_run_options(run), "seed": cell.seed}


def _features_name(cell, split: str) -> str:
    return f"{cell.backbone}__{cell.variant}__{split}.fits"


class _FrozenGroup:
    """One frozen backbone and its feature tables, shared by the cells of a group.

    The embedding shows no progress bar of its own: a study shows one, over its cells.
    """

    def __init__(self, run, cell):
        from astrofm.classify import Classifier
        from astrofm.features.embed import write_table
        from astrofm.trainer import global_rank

        c = run.study.classify
        pooling = None if cell.pooling == "default" else cell.pooling
        self.base = Classifier(cell.backbone, "linear", "frozen", run.preprocessing(cell),
                               weights=cell.weights, pooling=pooling,
                               backbone_options=cell.backbone_options,
                               batch_size=c["batch_size"], features_cache=run.out / "cache",
                               progress=False, **_run_options(run))
        self.tables = {}
        for split in ("train", "val", "test"):
            if split in run.splits:
                table = self.base.embed(run.splits[split])
                self.tables[split] = table
                if global_rank() == 0:
                    write_table(table, run.out / "features" / _features_name(cell, split))


def _fraction_rows(train_labels, cell):
    from astrofm.data import label_fraction

    return label_fraction(np.asarray(train_labels), cell.fraction, cell.seed)


def _classify_cell(run, cell, group):
    from astrofm.classify import Classifier
    from astrofm.classify.classifier import FEATURE_OPTIONS
    from astrofm.data import subset

    train, val, test = (run.splits.get(k) for k in ("train", "val", "test"))
    index = _fraction_rows(train.labels, cell)
    start = time.perf_counter()
    if group is not None:
        options = {k: v for k, v in _classifier_options(cell, run).items()
                   if k not in FEATURE_OPTIONS}
        clf = group.base.with_head(cell.head, **options)
        clf.fit(group.tables["train"][index], group.tables.get("val"))
        fitted = time.perf_counter()
        report = clf.evaluate(group.tables["test"])
    else:
        pooling = None if cell.pooling == "default" else cell.pooling
        clf = Classifier(cell.backbone, cell.head, cell.tuning, run.preprocessing(cell),
                         weights=cell.weights, pooling=pooling,
                         backbone_options=cell.backbone_options,
                         progress=False, **_classifier_options(cell, run))
        clf.fit(subset(train, index), val)
        fitted = time.perf_counter()
        report = clf.evaluate(test)
    done = time.perf_counter()
    return classification_row(cell, clf.backbone.weights_origin, report, len(index),
                              fitted - start, done - fitted)


def _detect_cell(run, cell):
    from astrofm.detect import Detector
    from astrofm.detect.metrics import IOU_STEPS

    fit_keys = ("epochs", "lr", "batch_size", "weight_decay", "max_steps")
    fit = {k: v for k, v in cell.options.items() if k in fit_keys}
    build = {k: v for k, v in cell.options.items() if k not in fit_keys}
    run_options = _run_options(run)
    start = time.perf_counter()
    det = Detector(cell.backbone, cell.tuning, weights=cell.weights,
                   backbone_options=cell.backbone_options, **build)
    det.fit(run.splits["detect_train"], run.splits.get("detect_val"), seed=cell.seed,
            progress=False, num_workers=run_options["num_workers"],
            device=run_options["device"], devices=run_options["devices"], **fit)
    fitted = time.perf_counter()
    report = det.evaluate(run.splits["detect_test"])
    cell.preprocessing = det.preprocessing.to_dict()
    return detection_row(cell, det.backbone.weights_origin, report, IOU_STEPS,
                         len(run.splits["detect_train"]), fitted - start,
                         time.perf_counter() - fitted)


def execute(run) -> None:
    """Run the unfinished cells of ``run`` (a :class:`~astrofm.study.runner.StudyRun`)."""
    from tqdm.auto import tqdm

    from astrofm.detect.metrics import IOU_STEPS

    classes = list(run.splits["train"].classes) if "train" in run.splits else []
    results = ResultsTable(run.out / "results.ecsv",
                           {"classes": classes, "ious": list(IOU_STEPS)})
    done = results.done
    todo = [cell for cell in run.cells if cell.key not in done]
    if len(todo) < len(run.cells):
        log.info("skipping %d finished cells of %d", len(run.cells) - len(todo), len(run.cells))
    bar = tqdm(total=len(run.cells), initial=len(run.cells) - len(todo), unit="cell",
               desc=run.study.name, disable=not run.study.run["progress"])
    frozen = [c for c in todo if c.task == "classify" and c.tuning == "frozen"]
    others = [c for c in todo if c not in frozen]
    for _, cells in groupby(frozen, key=lambda c: c.features_group):
        cells = list(cells)
        group = _FrozenGroup(run, cells[0])
        for cell in cells:
            results.append(_classify_cell(run, cell, group))
            bar.update()
    for cell in others:
        row = _classify_cell(run, cell, None) if cell.task == "classify" else _detect_cell(
            run, cell)
        results.append(row)
        bar.update()
    bar.close()


def estimate(run) -> str:
    """A rough cost of the unfinished cells: forward passes timed on a few images."""
    import torch

    from astrofm import backbones

    done = ResultsTable(run.out / "results.ecsv", {}).done
    todo = [cell for cell in run.cells if cell.key not in done]
    if not todo:
        return "estimated cost: nothing left to run"
    n = {k: len(v) for k, v in run.splits.items()}
    seconds, timed = 0.0, {}
    for cell in todo:
        key = (cell.backbone, cell.variant)
        if key not in timed:
            spec = backbones.get(cell.backbone)
            side = _input_side(cell.preprocessing) or spec.input_size
            model = backbones.load(cell.backbone, weights=None, **cell.backbone_options)
            x = torch.zeros(4, spec.in_channels, side, side)
            with torch.inference_mode():
                model.features(x)
                start = time.perf_counter()
                model.features(x)
            timed[key] = (time.perf_counter() - start) / 4
        per_image = timed[key]
        if cell.task == "detect":
            images = n.get("detect_train", 0) * cell.options.get("epochs", 10) * 3
        elif cell.tuning == "frozen":
            images = 0      # counted once per group below
        else:
            epochs = cell.options.get("epochs", 30)
            images = n.get("train", 0) * cell.fraction * epochs * 3 + n.get("test", 0)
        seconds += images * per_image
    groups = {c.features_group: c for c in todo if c.task == "classify" and c.tuning == "frozen"}
    for group in groups.values():
        images = n.get("train", 0) + n.get("val", 0) + n.get("test", 0)
        seconds += images * timed[(group.backbone, group.variant)]
    return (f"estimated cost: about {seconds / 60:.1f} min of forward and backward passes on "
            f"this machine ({len(todo)} cells; frozen heads are nearly free once the "
            f"{len(groups)} feature table group(s) exist)")


def _input_side(preprocessing: dict):
    """The resize side of a preprocessing dict, wherever the resize sits."""
    if isinstance(preprocessing, dict):
        if preprocessing.get("step") == "ResizeForPatch":
            size = preprocessing.get("size")
            return size[0] if isinstance(size, list | tuple) else size
        for value in preprocessing.values():
            found = _input_side(value)
            if found:
                return found
    if isinstance(preprocessing, list):
        for value in preprocessing:
            found = _input_side(value)
            if found:
                return found
    return None
