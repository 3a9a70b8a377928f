"""The study report: rendered from a fabricated run folder, never from a real run."""

import base64
import json
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astrofm.cli import main
from astrofm.errors import ConfigError
from astrofm.study import figures
from astrofm.study.report import render

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["FRI", "FRII", "compact"]
IOUS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
# macro F1 = backbone base + configuration bonus + 0.1 * fraction + 0.01 * seed, so every
# difference the adaptation table shows is worked out from these two dicts by hand.
BASE = {"dinov2-small": 0.5, "dinov2-base": 0.6, "resnet18": 0.3}
BONUS = {("linear", "frozen", "default"): 0.0, ("mlp", "frozen", "default"): 0.04,
         ("linear", "full", "default"): 0.1, ("linear", "frozen", "crop"): -0.02}
POOLING = {"dinov2-small": "cls", "dinov2-base": "cls", "resnet18": "pooler"}
PREPROC = json.dumps({"step": "Pipeline", "steps": [{"step": "SigmaClip", "nsigma": 3.0}]})


def _classify_row(backbone, head, tuning, variant, fraction, seed, weights, baseline=False):
    f1 = (0.2 if baseline else BASE[backbone] + BONUS[head, tuning, variant])
    f1 += 0.1 * fraction + 0.01 * seed
    confusion = [[8 + seed, 2, 0], [1, 9, 0], [0, 1, 4]]
    return {"task": "classify", "name": f"{backbone} {head} {tuning} {variant}",
            "backbone": backbone, "weights": weights, "baseline": baseline,
            "pooling": POOLING[backbone], "head": head, "tuning": tuning, "variant": variant,
            "fraction": fraction, "seed": seed, "macro_f1": f1, "macro_precision": f1 + 0.02,
            "macro_recall": f1 - 0.02, "balanced_accuracy": f1, "accuracy": f1 + 0.05,
            "f1_per_class": json.dumps([f1 - 0.1, f1, f1 + 0.1]),
            "precision_per_class": json.dumps([f1] * 3),
            "recall_per_class": json.dumps([f1] * 3), "confusion": json.dumps(confusion),
            "map_50": np.nan, "map_50_95": np.nan, "map_per_iou": "",
            "det_precision": np.nan, "det_recall": np.nan}


def _detect_row(backbone, tuning, seed, weights, level, baseline=False):
    curve = [level * (1 - t) + 0.01 * seed for t in IOUS]
    return {"task": "detect", "name": f"{backbone} detector {tuning}", "backbone": backbone,
            "weights": weights, "baseline": baseline, "pooling": "", "head": "",
            "tuning": tuning, "variant": "default", "fraction": 1.0, "seed": seed,
            "macro_f1": np.nan, "macro_precision": np.nan, "macro_recall": np.nan,
            "balanced_accuracy": np.nan, "accuracy": np.nan, "f1_per_class": "",
            "precision_per_class": "", "recall_per_class": "", "confusion": "",
            "map_50": curve[4], "map_50_95": np.mean(curve[4:]), "map_per_iou": json.dumps(curve),
            "det_precision": 0.7, "det_recall": 0.6}


def _features(path, backbone, weights, counts=(15, 10, 5)):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(counts)), counts)
    table = Table()
    table["source"] = [f"img{i}.fits" for i in range(len(labels))]
    table["feature"] = (rng.normal(size=(len(labels), 16)) + 3 * labels[:, None]).astype(
        np.float32)
    table["label"] = labels
    table["class_name"] = [CLASSES[k] for k in labels]
    table["ra"] = np.zeros(len(labels))
    table["dec"] = np.zeros(len(labels))
    table["error"] = [""] * len(labels)
    table.meta.update({"MODEL": backbone, "WEIGHTS": weights, "WDIGEST": "ab12",
                       "POOLING": POOLING[backbone], "PREPROC": PREPROC})
    table.write(path)


def _png(path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().imshow(np.arange(16).reshape(4, 4))
    figure.savefig(path)


def _make_run(root, random=True, detect=True, features=True, attention=True,
              fractions=(0.1, 1.0), name="run"):
    """A fabricated run folder in ``root``, shaped as study_schema.md describes."""
    folder = root / name
    (folder / "features").mkdir(parents=True)
    (folder / "figures").mkdir()
    weights = {"dinov2-small": "pretrained", "dinov2-base": "pretrained",
               "resnet18": "random (seed 0)" if random else "pretrained"}
    rows = []
    for backbone in BASE:
        for head, tuning, variant in BONUS:
            for fraction in fractions:
                rows += [_classify_row(backbone, head, tuning, variant, fraction, seed,
                                       weights[backbone]) for seed in (0, 1)]
    rows += [_classify_row("resnet18", "linear", "full", "default", f, s, "random (seed 0)",
                           baseline=True) for f in fractions for s in (0, 1)]
    if detect:
        rows += [_detect_row("dinov2-small", t, s, "pretrained", level)
                 for t, level in (("frozen", 0.5), ("full", 0.7)) for s in (0, 1)]
        rows += [_detect_row("resnet18", "full", s, "random (seed 0)", 0.4, baseline=True)
                 for s in (0, 1)]
    results = Table(rows=rows)
    results["key"] = [f"{i:016x}" for i in range(len(results))]
    results["preprocessing"] = PREPROC
    results["n_train"] = (100 * results["fraction"]).astype(int)
    results["fit_seconds"] = 1.5
    results["eval_seconds"] = 0.5
    results.meta.update({"classes": CLASSES, "ious": IOUS})
    results.write(folder / "results.ecsv", format="ascii.ecsv")
    study = {
        "name": "radio galaxies", "task": "both", "classes": CLASSES,
        "reference": {"backbone": "dinov2-small", "head": "linear", "tuning": "frozen",
                      "variant": "default", "pooling": "cls"},
        "backbones": [{"name": b, "weights": w, "digest": "ab12" if w != "pretrained"
                       else "", "random": w.startswith("random")} for b, w in weights.items()],
        "baseline": {"backbone": "resnet18", "tuning": "full", "weights": "random (seed 0)"},
        "variants": {"default": "default pipeline", "crop": "close crop to the source"},
        "data": {"train": "train.npz", "val": None, "test": "test.npz", "n_train": 100,
                 "n_test": 30, "detect_train": None, "detect_test": None},
        "versions": {"astrofm": "0.1.0", "torch": "2.5", "timm": "1.0", "python": "3.11",
                     "lightning": "2.4"},
        "machine": {"platform": "Linux", "processor": "x86_64", "cpus": 2, "gpu": None},
        "started": "2026-01-01T00:00:00", "finished": "2026-01-01T01:00:00",
        "wall_seconds": 3600.0, "random_weights": random}
    (folder / "study.json").write_text(json.dumps(study))
    if features:
        for backbone in ("dinov2-small", "resnet18"):
            _features(folder / "features" / f"{backbone}__default__train.fits", backbone,
                      weights[backbone])
    if attention:
        _png(folder / "figures" / "attention__dinov2-small__crop.png")
    return folder


@pytest.fixture
def make_run(tmp_path):
    """Factory of fabricated run folders in the test's own folder (see _make_run)."""
    return lambda **options: _make_run(tmp_path, **options)


def _fake_umap(monkeypatch):
    """Put a stand-in for umap-learn, whose numba compilation takes half a minute."""

    class FirstTwo:
        def __init__(self, n_neighbors, random_state, **options):
            self.n_neighbors = n_neighbors

        def fit_transform(self, x):
            assert self.n_neighbors < len(x)
            return x[:, :2]

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FirstTwo))


@pytest.fixture
def fast_umap(monkeypatch):
    """umap-learn replaced by a stand-in for one test (see _fake_umap)."""
    _fake_umap(monkeypatch)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The report of the default run, rendered once for the tests that only read it (a
    render takes seconds)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fake_umap(monkeypatch)
        return render(_make_run(tmp_path_factory.mktemp("rendered")))



class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tables, self.classes, self.tags = [], {}, [], set()
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.classes.append(attrs.get("class"))
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self._table = attrs.get("id")
            self.tables.setdefault(self._table, 0)
        elif tag == "tr" and self._table is not None:
            self.tables[self._table] += 1


def _parse(path):
    page = _Page()
    page.feed(path.read_text())
    return page


def test_report_is_self_contained_with_every_figure(rendered):
    path = rendered
    assert path.name == "report.html"
    page = _parse(path)
    # fraction curves, per-class F1, confusion, UMAP, attention, mAP against IoU
    assert len(page.images) == 6
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not {"script", "link"} & page.tags
    assert "http" not in path.read_text()
    written = {p.name for p in (path.parent / "figures").glob("*.png")}
    assert {"scores_vs_fraction.png", "per_class_f1.png", "confusion.png", "umap.png",
            "map_vs_iou.png"} <= written


def test_results_table_has_one_row_per_cell(rendered):
    cells = len(Table.read(rendered.parent / "results.ecsv"))
    page = _parse(rendered)
    assert page.tables["results"] == cells + 1  # header row


@pytest.mark.parametrize("random", [True, False])
def test_random_banner_iff_study_says_so(rendered, make_run, fast_umap, random):
    path = rendered if random else render(make_run(random=False))  # the default is random
    text = path.read_text()
    assert ("banner" in _parse(path).classes) is random
    # every figure showing resnet18 names its random weights in the caption
    assert (text.count("resnet18 ran randomly initialised, NOT pretrained") >= 4) is random


def test_adaptation_deltas_against_hand_computation(rendered):
    table = Table.read(rendered.parent / "tables" / "adaptation.ecsv")
    got = {(r["backbone"], r["change"], r["value"]): r["delta"] for r in table}
    for backbone in BASE:
        assert got[backbone, "head", "mlp"] == pytest.approx(0.04, abs=1e-9)
        assert got[backbone, "tuning", "full"] == pytest.approx(0.1, abs=1e-9)
        assert got[backbone, "variant", "crop"] == pytest.approx(-0.02, abs=1e-9)
    assert got["dinov2-small", "bigger model", "dinov2-base"] == pytest.approx(0.1, abs=1e-9)
    # one change only: full tuning of the crop variant is not there; nothing bigger than base
    assert len(table) == 3 * 3 + 1
    # the largest fraction, mean over seeds 0 and 1: 0.5 + 0.1 * 1.0 + 0.005
    ref = table[(table["backbone"] == "dinov2-small") & (table["change"] == "head")]
    assert ref["reference_f1"][0] == pytest.approx(0.605, abs=1e-9)


def test_per_class_and_detection_tables(rendered):
    from astrofm.study.summary import per_class_report, select

    folder = rendered.parent
    results = Table.read(folder / "results.ecsv")
    rows = select(results, backbone="dinov2-small", head="linear", tuning="frozen",
                  variant="default", fraction=1.0)
    report = per_class_report(rows, CLASSES)
    np.testing.assert_array_equal(report.confusion, [[17, 4, 0], [2, 18, 0], [0, 2, 8]])
    np.testing.assert_allclose(report.f1, [0.505, 0.605, 0.705], atol=1e-9)
    detection = Table.read(folder / "tables" / "detection.ecsv")
    frozen = select(detection, backbone="dinov2-small", tuning="frozen")
    assert frozen["map_50_mean"][0] == pytest.approx(0.5 * 0.5 + 0.005, abs=1e-9)
    np.testing.assert_allclose(frozen["map_per_iou"][0], [0.5 * (1 - t) + 0.005 for t in IOUS],
                               atol=1e-9)


def test_sections_without_inputs_say_why(make_run, fast_umap):
    path = render(make_run(detect=False, features=False, attention=False, fractions=(1.0,)))
    text = path.read_text()
    assert "No detection cells in this run." in text
    assert "No features/*__train.fits" in text
    assert "No figures/attention__*.png" in text
    assert "Only one label fraction (100%) ran" in text
    assert len(_parse(path).images) == 2  # per-class F1 and confusion remain


def test_missing_run_files_are_one_line_cli_errors(tmp_path, capsys):
    (tmp_path / "study.json").write_text("{}")
    with pytest.raises(ConfigError, match="results.ecsv missing"):
        render(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.ecsv" in err and "astrofm study" in err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_cli_prints_the_report_path(make_run, fast_umap, capsys):
    folder = make_run(detect=False)
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "report.html")


def test_umap_sample_is_class_balanced(fast_umap):
    labels = np.repeat(np.array(CLASSES), (15, 10, 5))
    features = np.random.default_rng(1).normal(size=(30, 16))
    points, kept = figures.embedding_2d(features, labels)
    assert points.shape == (15, 2)
    assert sorted(kept.tolist()) == sorted(CLASSES * 5)
    with pytest.raises(ConfigError, match="at least 4"):
        figures.embedding_2d(features[:3], labels[[0, 15, 25]])


def test_real_umap_is_reproducible():
    # Slow (about half a minute): umap-learn compiles with numba on first use.
    pytest.importorskip("umap")
    rng = np.random.default_rng(2)
    labels = np.repeat(["a", "b"], 12)
    features = rng.normal(size=(24, 20)) + 5 * (labels == "b")[:, None]
    first, _ = figures.embedding_2d(features, labels, seed=3)
    again, _ = figures.embedding_2d(features, labels, seed=3)
    assert first.shape == (24, 2) and np.isfinite(first).all()
    np.testing.assert_allclose(first, again, atol=1e-5)


def _blob(tmp_path):
    import astrofm

    data = np.random.default_rng(3).normal(size=(64, 64)).astype(np.float32)
    data[28:36, 30:38] += 40
    path = tmp_path / "blob.fits"
    fits.PrimaryHDU(data).writeto(path)
    return astrofm.load(path)


def test_attention_figure_one_panel_per_image_and_maps(tmp_path):
    import torch

    from astrofm.features import AttentionMaps
    from astrofm.preprocess import CropToBox, Pipeline, ResizeForPatch, ToChannels

    image = _blob(tmp_path)
    images = [image, image]
    sets = []
    for pipe in (Pipeline([ResizeForPatch(14, 56), ToChannels()]),
                 Pipeline([CropToBox((16, 8, 44, 36)), ResizeForPatch(14, 56), ToChannels()])):
        grid = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        sets.append(AttentionMaps.from_patch_grid(grid, pipe(images)))
    figure = figures.attention_figure(images, sets, ["default", "close crop"])
    assert len(figure.axes) == 4
    assert [ax.get_title() for ax in figure.axes[:2]] == ["default", "close crop"]
    assert all(len(ax.collections) >= 2 for ax in figure.axes)  # two heads contoured
    assert figures.figure_png(figure).startswith(PNG)
    with pytest.raises(ConfigError, match="one title per set"):
        figures.attention_figure(images, sets, ["default"])
    with pytest.raises(ConfigError, match="3 heads"):
        figures.attention_figure(images, sets, ["a", "b"], heads=(0, 3))


def test_preprocessing_figure_shows_every_step(tmp_path):
    from astrofm.preprocess import CropToBox, Pipeline, default_pipeline

    image = _blob(tmp_path)
    default = default_pipeline(image, patch_size=14, size=56)
    crop = Pipeline([CropToBox((16, 8, 44, 36)), *default])
    figure = figures.preprocessing_figure(image, {"default": default, "crop": crop})
    titles = [ax.get_title() for ax in figure.axes]
    assert len(figure.axes) == (1 + len(default)) + (1 + len(crop))
    assert titles[:2] == ["raw", "1. SigmaClip"]
    # the crop row's first step shows the 28 x 28 cut-out
    assert figure.axes[len(default) + 2].images[0].get_array().shape == (28, 28)
    assert figures.figure_png(figure).startswith(PNG)


def test_report_renders_in_a_headless_browser(rendered, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium or chromium-browser on PATH (apt-get install chromium)")
    from PIL import Image

    path = rendered
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1300,2400",
                    path.as_uri()], check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    # The figures fill most of the page below the banner and tables with dark ink.
    assert (pixels < 128).mean() > 0.01
    dom = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox",
                          "--dump-dom", path.as_uri()], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<img") == 6


def test_run_without_finished_cells_renders(make_run, fast_umap):
    folder = make_run(features=False, attention=False)
    results = Table.read(folder / "results.ecsv")
    results[:0].write(folder / "results.ecsv", format="ascii.ecsv", overwrite=True)
    page = _parse(render(folder))
    assert page.tables["results"] == 1 and page.images == []
    assert "No classification cells in this run." in (folder / "report.html").read_text()
