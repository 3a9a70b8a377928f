"""Running a study: every cell once, resumable, into one run folder.

The runner checks everything it can before any training: the study's keys and values
(:class:`~astrofm.study.Study`), the data (readable, labelled, and no test image among
the training images, compared by pixel content), every backbone and its weights (built
once, so that offline ``"pretrained"`` weights fail at once), and the output folder.
Then it runs the cells whose key is not yet in ``results.ecsv``. Frozen cells of one
backbone and preprocessing share one feature table per split, computed through the
resumable :func:`astrofm.embed` cache in ``DIR/cache``; a killed run resumes there too.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from astrofm.errors import SplitError
from astrofm.study.grid import Cell, expand, variant_preprocessing
from astrofm.study.results import ResultsTable
from astrofm.trainer import global_rank

__all__ = ["run_study", "StudyRun"]

log = logging.getLogger("astrofm.study")


class StudyRun:
    """A study checked and expanded against its data, ready to run in ``out``.

    Parameters
    ----------
    study : Study
        The study.
    out : path
        The run folder (created; an existing one is resumed).
    """

    def __init__(self, study, out):
        from astrofm.runtime import check_loop, check_writable

        self.study, self.out = study, Path(out)
        check_writable(self.out / "results.ecsv", "-o/--output")
        r = study.run
        study.run.update(check_loop(device=r["device"], precision=r["precision"],
                                    num_workers=r["num_workers"], devices=r["devices"],
                                    num_nodes=r["num_nodes"], strategy=r["strategy"]))
        self.splits = self._open_data()
        self.backbones = self._build_backbones()
        self.cells = expand(study)
        data_digest = self._data_digest()
        for cell in self.cells:
            cell.preprocessing = self.preprocessing(cell).to_dict()
            weights = self.backbones[(cell.backbone, cell.weights, _options_key(cell))]
            cell.key = cell.digest(data_digest, weights["digest"])

    # ------------------------------------------------------------------ setup
    def _open_data(self) -> dict:
        from astrofm.classify import mark_test
        from astrofm.data import CocoDataset, open_labelled
        from astrofm.features.fingerprint import image_digests

        s, splits = self.study, {}
        if s.classify is not None:
            d = s.data
            for name in ("train", "val", "test"):
                if d.get(name):
                    splits[name] = open_labelled(s.path(d[name]), label_column=d["label_column"],
                                                 hdu=d["hdu"])
            mark_test(splits["test"])
            test = dict(zip(image_digests(splits["test"]), splits["test"].sources, strict=True))
            for name in ("train", "val"):
                if name in splits:
                    shared = [(src, test[h]) for h, src in zip(
                        image_digests(splits[name]), splits[name].sources, strict=True)
                        if h in test]
                    if shared:
                        raise SplitError(
                            f"[data] {len(shared)} test image(s) are also in the {name} split "
                            f"(same pixels), e.g. {shared[0][1]} and {shared[0][0]}; remove "
                            "them from one split so that the test scores are honest.")
        if s.detect is not None:
            for name in ("train", "val", "test"):
                if s.detect.get(name):
                    splits[f"detect_{name}"] = CocoDataset(self._coco(name, s.detect[name]))
        return splits

    def _coco(self, name: str, given) -> Path:
        """A detection split as COCO JSON: given as such, or made from images and a catalogue."""
        from astrofm.detect import catalog_to_coco

        if not isinstance(given, dict):
            return self.study.path(given)
        images = given["images"] if isinstance(given["images"], list) else [given["images"]]
        return catalog_to_coco([self.study.path(p) for p in images],
                               self.study.path(given["catalog"]),
                               self.out / "data" / f"detect_{name}.json")

    def _build_backbones(self) -> dict:
        from astrofm import backbones
        from astrofm.features.fingerprint import backbone_digest

        built = {}
        for grid in (self.study.classify, self.study.detect):
            if grid is None:
                continue
            entries = list(grid["backbones"])
            if grid["baseline"] is not None:
                entries.append({"name": grid["baseline"]["backbone"], "weights": "random",
                                "options": {}})
            for entry in entries:
                key = (entry["name"], entry["weights"], json.dumps(entry["options"],
                                                                   sort_keys=True))
                if key not in built:
                    model = backbones.load(entry["name"], weights=entry["weights"],
                                           **entry["options"])
                    built[key] = {"name": entry["name"], "weights": model.weights_origin,
                                  "digest": backbone_digest(model),
                                  "random": model.weights_origin.startswith("random")}
        return built

    def _data_digest(self) -> str:
        from astrofm.features.fingerprint import inputs_digest

        return json.dumps({name: inputs_digest(ds) for name, ds in sorted(self.splits.items())})

    def preprocessing(self, cell: Cell):
        """The exact preprocessing of ``cell`` (its variant for its backbone)."""
        from astrofm import backbones

        if cell.task == "detect":
            return _DetectorPreprocessing()
        c = self.study.classify
        size = cell.options.get("size", c["size"])
        return variant_preprocessing(backbones.get(cell.backbone), c["variants"][cell.variant],
                                     size=size)

    # -------------------------------------------------------------- reporting
    def describe(self) -> str:
        """The grid as text: one line per cell, and the count of cells to run."""
        done = ResultsTable(self.out / "results.ecsv", {}).done
        lines = [f"{'cell':<52} {'fraction':>8} {'seed':>4}  key"]
        for cell in self.cells:
            mark = " (done)" if cell.key in done else ""
            lines.append(f"{cell.name:<52} {cell.fraction:8.2f} {cell.seed:4d}  {cell.key}{mark}")
        todo = sum(cell.key not in done for cell in self.cells)
        lines.append(f"{len(self.cells)} cells, {todo} to run")
        return "\n".join(lines)

    def study_json(self, started, finished=None, wall=None) -> dict:
        """The run's description written to ``study.json`` (see the report)."""
        import lightning
        import timm
        import torch

        import astrofm

        s, c = self.study, self.study.classify
        classes = list(self.splits["train"].classes) if "train" in self.splits else []
        entries = list(self.backbones.values())
        base = (c or s.detect or {}).get("baseline")
        variants = {name: json.dumps(v, sort_keys=True)
                    for name, v in (c["variants"] if c else {}).items()}
        data = {key: (str(s.path(s.data.get(key))) if s.data.get(key) else None)
                for key in ("train", "val", "test")}
        data.update({"n_train": len(self.splits.get("train", [])),
                     "n_test": len(self.splits.get("test", [])),
                     "detect_train": _describe(s, s.detect and s.detect["train"]),
                     "detect_test": _describe(s, s.detect and s.detect["test"])})
        return {
            "name": s.name, "task": "both" if c and s.detect else ("classify" if c else "detect"),
            "classes": classes, "reference": s.reference, "backbones": entries,
            "baseline": None if base is None else {"backbone": base["backbone"],
                                                   "tuning": "full", "weights": "random (seed 0)"},
            "variants": variants, "data": data,
            "versions": {"astrofm": astrofm.__version__, "torch": torch.__version__,
                         "timm": timm.__version__, "python": platform.python_version(),
                         "lightning": lightning.__version__},
            "machine": _machine(), "started": started, "finished": finished,
            "wall_seconds": wall, "random_weights": any(e["random"] for e in entries),
        }


class _DetectorPreprocessing:
    """Detectors choose their resize from the training boxes; recorded after fitting."""

    def to_dict(self):
        return {"step": "Detector", "chosen": "from the training boxes"}


def _describe(study, split) -> str | None:
    """A detection split as text: its COCO file, or its images and catalogue."""
    if not split:
        return None
    if isinstance(split, dict):
        return f"{split['images']} with catalogue {study.path(split['catalog'])}"
    return str(study.path(split))


def _options_key(cell: Cell) -> str:
    return json.dumps(cell.backbone_options, sort_keys=True)


def _machine() -> dict:
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "cpus": os.cpu_count(), "gpu": gpu}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_study(study, out, *, dry_run: bool = False, report: bool = True) -> Path:
    """Run every unfinished cell of ``study`` into the folder ``out``.

    Parameters
    ----------
    study : Study or path
        The study, or a TOML study file.
    out : path
        The run folder: ``study.json``, ``results.ecsv``, ``features/``, ``figures/``,
        ``cache/`` and ``report.html``. Rerunning into the same folder skips the
        finished cells (a killed run resumes).
    dry_run : bool
        Print the grid, the cell count and a cost estimate, and run nothing.
    report : bool
        Render ``report.html`` at the end.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    from astrofm.study.config import Study, load_study
    from astrofm.study.execute import estimate, execute
    from astrofm.study.panels import draw_panels

    if not isinstance(study, Study):
        study = load_study(study)
    run = StudyRun(study, out)
    if dry_run:
        print(run.describe())
        print(estimate(run))
        return run.out
    run.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stamp = _now()
    _write_json(run.out / "study.json", run.study_json(stamp))
    execute(run)
    # Under torchrun or srun every process runs every cell (each cell's training is
    # spread over them); the run folder's files are written by rank 0 alone.
    if global_rank() != 0:
        return run.out
    draw_panels(run)
    _write_json(run.out / "study.json",
                run.study_json(stamp, _now(), round(time.perf_counter() - started, 1)))
    if report:
        from astrofm.study.report import render

        render(run.out)
    return run.out


def _write_json(path, data) -> None:
    if global_rank() != 0:
        return
    from astrofm.features.store import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, default=str))
