"""The sections of a study report, each drawn from a run folder onto a report page.

Each function takes the :class:`astrofm.study.report.Page` being built; a section whose
inputs are absent says why instead of failing.
"""

from __future__ import annotations

import json
from html import escape

import numpy as np
from astropy.table import Table

from astrofm.errors import ConfigError
from astrofm.study import figures as figs
from astrofm.study.summary import (
    CHANGES,
    adaptation,
    detection_summary,
    is_random,
    per_class_report,
    reference_pooling,
    select,
    summarise,
)

__all__ = ["header", "classification", "feature_maps", "attention", "detection",
           "provenance"]

_SCORES = {"macro_f1": ".3f", "map_50": ".3f", "fraction": ".3g", "fit_seconds": ".1f",
           "eval_seconds": ".1f"}


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def _backbones(page) -> list[str]:
    """The study's backbones in its order, then any others found in the results."""
    names = [b["name"] for b in page.run.study.get("backbones", [])]
    found = np.asarray(select(page.run.results, baseline=False)["backbone"]).tolist()
    return list(dict.fromkeys(names + found))


def header(page) -> None:
    """Title, random-weights banner, task, data and the reference configuration."""
    study, run = page.run.study, page.run
    page.heading(f"astrofm study: {study.get('name', run.folder.name)}", 1)
    if study.get("random_weights"):
        note = run.random_note(run.random) or ("Random weights: some backbones ran randomly "
                                               "initialised, NOT pretrained.")
        page.note(note + " This study is a test of the pipeline, not a verdict on any "
                  "foundation model.", "banner")
    reference = study.get("reference", {})
    page.note(f"Task: {study.get('task')}. Classes: {', '.join(study.get('classes', []))}. "
              f"{len(run.results)} finished cells. Reference configuration: "
              + ", ".join(f"{k} {v}" for k, v in reference.items()) + ".", "")


def _reference_rows(page, rows: Table, backbone: str) -> Table:
    reference = page.run.study["reference"]
    settings = {k: reference[k] for k in CHANGES}
    settings["pooling"] = reference_pooling(rows, backbone, reference["pooling"])
    return select(rows, backbone=backbone, baseline=False, **settings)


def classification(page) -> None:
    """Label-fraction curves, per-class F1, confusion matrices and the adaptation table."""
    run = page.run
    page.heading("Classification")
    rows = select(run.results, task="classify")
    if len(rows) == 0:
        page.note("No classification cells in this run.")
        return
    curves = {b: _reference_rows(page, rows, b) for b in _backbones(page)}
    curves = {b: r for b, r in curves.items() if len(r)}
    baseline = select(rows, baseline=True)
    summary = summarise(rows)
    page.heading("Scores against label fraction", 3)
    page.save_table("classification_summary", summary)
    page.table(summary[[c for c in summary.colnames if not c.endswith(("_min", "_max"))]],
               formats=_SCORES, random_rows=[b in run.random and not base for b, base in
                                             zip(summary["backbone"], summary["baseline"],
                                                 strict=True)])
    page.note("Mean over seeds per configuration and label fraction. "
              + run.random_note(summary["backbone"]))
    fractions = sorted(set(np.asarray(rows["fraction"]).tolist()))
    note = run.random_note(curves)
    if len(fractions) < 2:
        page.note(f"Only one label fraction ({_percent(fractions[0])}) ran: no curve "
                  "against label fraction; the table above gives its scores.")
    elif curves:
        figure = figs.fraction_figure(
            {run.label(b): summarise(r) for b, r in curves.items()},
            summarise(baseline) if len(baseline) else None,
            "Reference configuration per backbone" + (" - RANDOM WEIGHTS" if note else ""))
        page.figure("scores_vs_fraction", figure, "Macro F1, precision and recall on the "
                    "test split against the labelled share of the training split: mean over "
                    "seeds, band from min to max; from-scratch baseline dashed. " + note)
    else:
        page.note("No backbone ran the reference configuration, so there is no curve "
                  "against label fraction; the table above gives every configuration.")
    largest = fractions[-1]
    reports = {run.label(b): per_class_report(select(r, fraction=largest), run.study["classes"])
               for b, r in curves.items() if largest in r["fraction"]}
    if len(baseline) and largest in baseline["fraction"]:
        reports["from scratch (baseline)"] = per_class_report(
            select(baseline, fraction=largest), run.study["classes"])
    if reports:
        caption = (f"Reference configuration at label fraction {_percent(largest)} (the "
                   "largest present), per-class scores averaged over seeds. " + note)
        page.heading("Per-class F1", 3)
        page.figure("per_class_f1", figs.per_class_figure(reports, "per-class F1"
                                                          + (" - RANDOM WEIGHTS" if note else "")),
                    caption)
        page.heading("Confusion matrices", 3)
        page.figure("confusion", figs.confusion_figure(reports, "confusion (counts summed "
                                                       "over seeds)"), caption)
    _adaptation(page, rows, largest)


def _adaptation(page, rows: Table, largest: float) -> None:
    run = page.run
    page.heading("Adaptation: change in macro F1 against the reference", 3)
    table = adaptation(summarise(select(rows, fraction=largest), ("macro_f1",)),
                       run.study["reference"], _backbones(page))
    if len(table) == 0:
        page.note("No configuration differs from the reference in exactly one setting, "
                  "or no backbone ran the reference configuration.")
        return
    labels = {(r["change"], r["value"]): f"{r['change']}: {r['value']}" for r in table}
    variants = run.study.get("variants", {})
    backbones = list(dict.fromkeys(np.asarray(table["backbone"]).tolist()))
    head = "".join(f"<th>{escape(run.label(b))}</th>" for b in backbones)
    body = ["<tr><td>reference macro F1</td>" + "".join(
        f"<td>{select(table, backbone=b)['reference_f1'][0]:.3f}</td>" for b in backbones)
        + "</tr>"]
    for (change, value), label in labels.items():
        if change == "variant" and value in variants:
            label += f" ({variants[value]})"
        cells = []
        for b in backbones:
            hit = select(table, backbone=b, change=change, value=value)
            cells.append(f"<td>{hit['delta'][0]:+.3f}</td>" if len(hit) else "<td></td>")
        body.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}</tr>")
    page.add(f'<table id="adaptation"><thead><tr><th>change</th>{head}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table>")
    page.save_table("adaptation", table)
    page.note(f"Mean macro F1 over seeds minus the reference's, at label fraction "
              f"{_percent(largest)} (the largest present). " + run.random_note(backbones))


def feature_maps(page) -> None:
    """UMAP of each frozen backbone's training features, coloured by class."""
    run = page.run
    page.heading("Feature space (UMAP)")
    files = sorted((run.folder / "features").glob("*__train.fits"))
    if not files:
        page.note("No features/*__train.fits in the run folder (no frozen cells), so no "
                  "feature map.")
        return
    embeddings, skipped, backbones = {}, [], []
    for path in files:
        backbone, variant = path.name[: -len("__train.fits")].split("__", 1)
        table = Table.read(path, character_as_bytes=False)
        if "error" in table.colnames:
            table = table[table["error"] == ""]
        labels = table["class_name" if "class_name" in table.colnames else "label"]
        try:
            embeddings[f"{run.label(backbone)} / {variant}"] = figs.embedding_2d(
                table["feature"], np.asarray(labels).astype(str))
            backbones.append(backbone)
        except ConfigError as err:
            skipped.append(f"{path.name}: {err}")
    if embeddings:
        note = run.random_note(backbones)
        figure = figs.umap_figure(embeddings, list(run.study.get("classes", [])),
                                  "UMAP of the first 10 PCA components of the training "
                                  "features" + (" - RANDOM WEIGHTS" if note else ""))
        page.figure("umap", figure, "Class-balanced sample of each training split (at most "
                    "500 per class), UMAP seeded for reproducibility. " + note)
    for line in skipped:
        page.note(line)


def attention(page) -> None:
    """The attention figures the runner drew for ViT backbones."""
    run = page.run
    page.heading("Attention maps")
    files = sorted((run.folder / "figures").glob("attention__*.png"))
    if not files:
        page.note("No figures/attention__*.png: the runner draws attention only for ViT "
                  "backbones, and none ran.")
        return
    for path in files:
        backbone, _, variant = path.stem[len("attention__"):].partition("__")
        page.png(path.read_bytes(), path.stem, f"{run.label(backbone)}, variant "
                 f"{variant or 'default'}: class-token attention of two heads, contours at "
                 "the 90th percentile. " + run.random_note([backbone]))


def detection(page) -> None:
    """mAP against IoU relative to the baseline, and mAP@50 frozen against tuned."""
    run = page.run
    page.heading("Detection")
    rows = select(run.results, task="detect")
    if len(rows) == 0:
        page.note("No detection cells in this run.")
        return
    ious = list(run.results.meta.get("ious", []))
    summary = detection_summary(rows, len(ious))
    shown = summary[~summary["baseline"]]
    note = run.random_note(np.asarray(shown["backbone"]).tolist())
    relative = bool(summary["baseline"].any())
    if ious and len(shown):
        title = "mAP against IoU" + (" relative to the from-scratch baseline" if relative
                                     else "") + (" - RANDOM WEIGHTS" if note else "")
        page.figure("map_vs_iou", figs.map_iou_figure(summary, ious, relative, title),
                    "Mean over seeds at each configuration's largest label fraction. "
                    + ("" if relative else "No from-scratch baseline ran, so absolute "
                       "mAP is shown. ") + note)
    tunings = list(dict.fromkeys(np.asarray(summary["tuning"]).tolist()))
    models = {}
    for row in summary:
        label = "from scratch (baseline)" if row["baseline"] else run.label(row["backbone"])
        cells = models.setdefault((label, row["variant"]), {"random": False})
        cells[row["tuning"]] = row["map_50_mean"]
        cells["random"] |= is_random(row["weights"]) and not row["baseline"]
    table = Table({"detector": [m[0] for m in models], "variant": [m[1] for m in models],
                   **{f"mAP@50 {t}": [c.get(t, np.nan) for c in models.values()]
                      for t in tunings}})
    page.heading("mAP@50, frozen against tuned", 3)
    page.table(table, random_rows=[c["random"] for c in models.values()])
    page.save_table("detection", summary)
    page.note("Mean mAP@50 over seeds. " + note)


def provenance(page) -> None:
    """Every cell with its wall time, versions, weights, preprocessing and machine."""
    run, study = page.run, page.run.study
    page.heading("Cells")
    columns = [c for c in ("name", "task", "backbone", "baseline", "weights", "head", "tuning",
                           "variant", "pooling", "fraction", "seed", "n_train", "macro_f1",
                           "map_50", "fit_seconds", "eval_seconds") if c in run.results.colnames]
    page.table(run.results[columns], html_id="results", formats=_SCORES,
               random_rows=[is_random(r["weights"]) and not r["baseline"]
                            for r in run.results])
    page.note("One row per finished cell (seeds included); wall time in seconds. Rows "
              "shaded red ran with random weights.")
    page.heading("Provenance")
    facts = {**{f"version of {k}": v for k, v in study.get("versions", {}).items()},
             **{f"machine {k}": v for k, v in study.get("machine", {}).items()},
             "started": study.get("started"), "finished": study.get("finished"),
             "wall seconds": study.get("wall_seconds"),
             **{f"data {k}": v for k, v in study.get("data", {}).items()}}
    page.table(Table({"item": list(facts), "value": [str(v) for v in facts.values()]}))
    weights = study.get("backbones", [])
    if weights:
        page.heading("Backbone weights", 3)
        page.table(Table({k: [str(b.get(k, "")) for b in weights]
                                for k in ("name", "weights", "digest", "random")}),
                   random_rows=[bool(b.get("random")) for b in weights])
    if study.get("baseline"):
        page.note("From-scratch baseline: " + ", ".join(
            f"{k} {v}" for k, v in study["baseline"].items()) + ".", "")
    for name, description in study.get("variants", {}).items():
        page.note(f"Variant {name}: {description}", "")
    page.heading("Preprocessing", 3)
    for path in sorted((run.folder / "figures").glob("preprocessing*.png")):
        page.png(path.read_bytes(), path.stem, "One image of the study through each "
                 "preprocessing, step by step.")
    seen = {}
    for row in run.results:
        seen.setdefault(str(row["preprocessing"]), []).append(
            f"{row['backbone']} / {row['variant']}")
    for text, users in seen.items():
        try:
            text = json.dumps(json.loads(text), indent=1)
        except json.JSONDecodeError:
            pass
        page.add(f"<p>{escape(', '.join(dict.fromkeys(users)))}:</p><pre>{escape(text)}</pre>")
