"""astrofm study: the description is checked first, cells are keyed, runs resume."""

import json

import numpy as np
import pytest
from astropy.table import Table

from astrofm.errors import ConfigError, SplitError, UnknownNameError
from astrofm.study import Study, expand, load_study, run_study, variant_preprocessing

TINY_VIT = {"depth": 1, "embed_dim": 24, "num_heads": 2}


def _images(n, seed, contrast=12):
    """8-bit noise; class 1 a faint square, class 0 a faint bar (not trivially separable)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 60, size=(n, 32, 32)).astype(np.uint8)
    images[labels == 1, 8:24, 8:24] += contrast
    images[labels == 0, 8:24, 14:18] += contrast
    return images, labels


@pytest.fixture
def npz(tmp_path):
    paths = {}
    for name, n, seed in (("train", 24, 0), ("test", 10, 1)):
        images, labels = _images(n, seed)
        paths[name] = tmp_path / f"{name}.npz"
        np.savez(paths[name], images=images, labels=labels, label_names=np.array(["a", "b"]))
    return paths


def _study(npz, **classify):
    grid = {"backbones": [{"name": "resnet18", "weights": "random"}], "heads": ["linear"],
            "fractions": [0.5, 1.0], "seeds": [0, 1], "size": 32, **classify}
    return Study(name="toy", data={"train": npz["train"], "test": npz["test"]},
                 classify=grid, run={"progress": False})


# ----------------------------------------------------------------- the description
@pytest.mark.parametrize("change, error, match", [
    ({"colour": 1}, UnknownNameError, "unknown key 'colour'"),
    ({"heads": ["linear", "svm"]}, UnknownNameError, "svm"),
    ({"backbones": ["resnet-7"]}, UnknownNameError, "resnet-7"),
    ({"fractions": [0.5, 1.5]}, ConfigError, r"1.5 is not a label fraction"),
    ({"fractions": [0.0]}, ConfigError, "not a label fraction"),
    ({"backbones": []}, ConfigError, "is empty"),
    ({"heads": ["whitening"], "tunings": ["lora"]}, ConfigError, "grid is empty"),
    ({"variants": {"crop": {"crop": "source", "zoom": 2}}}, UnknownNameError, "zoom"),
])
def test_bad_grids_are_refused_by_name(npz, change, error, match):
    with pytest.raises(error, match=match):
        _study(npz, **change)


def test_a_study_file_names_itself_in_errors(tmp_path, npz):
    path = tmp_path / "s.toml"
    path.write_text('[data]\ntrain = "train.npz"\ntest = "test.npz"\n[classify]\n'
                    'backbones = ["resnet18"]\nfractons = [0.5]\n')
    with pytest.raises(UnknownNameError, match=r"s\.toml.*'fractons'.*'fractions'"):
        load_study(path)
    path.write_text("[data\n")
    with pytest.raises(Exception, match="not a valid TOML"):
        load_study(path)


def test_relative_paths_are_read_from_the_study_files_folder(tmp_path, npz):
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\n[data]\ntrain = "train.npz"\ntest = "test.npz"\n'
                    '[classify]\nbackbones = ["resnet18"]\nweights = "random"\n')
    study = load_study(path)
    assert study.path(study.data["train"]) == npz["train"]
    assert study.classify["backbones"] == [{"name": "resnet18", "weights": "random",
                                            "options": {}}]


def test_a_detection_grid_needs_boxes(npz):
    with pytest.raises(ConfigError, match="classification data"):
        Study(detect={"train": npz["train"], "test": npz["test"], "backbones": ["resnet18"]})


def test_a_test_image_in_the_training_data_is_refused_before_any_compute(npz, tmp_path,
                                                                         monkeypatch):
    images, labels = _images(24, 0)
    images[3] = _images(10, 1)[0][7]          # one test image, under another name
    np.savez(npz["train"], images=images, labels=labels, label_names=np.array(["a", "b"]))
    monkeypatch.setattr("astrofm.features.embed", lambda *a, **k: pytest.fail("computed"))
    with pytest.raises(SplitError, match=r"1 test image.*test\.npz\[7\].*train\.npz\[3\]"):
        run_study(_study(npz), tmp_path / "run", report=False)
    assert not (tmp_path / "run" / "results.ecsv").exists()


# ----------------------------------------------------------------------- the grid
def test_the_grid_is_the_product_less_what_a_classifier_refuses(npz):
    study = _study(npz, heads=["linear", "knn"], tunings=["frozen", "lora"],
                   variants={"default": {}, "crop": {"crop": "source"}},
                   baseline={"backbone": "resnet18", "epochs": 1})
    cells = expand(study)
    # (linear, knn) x frozen + linear x lora, 2 variants, 2 fractions, 2 seeds; baseline 4
    assert len(cells) == 3 * 2 * 2 * 2 + 4
    assert not [c for c in cells if c.head == "knn" and c.tuning == "lora"]
    assert sum(c.baseline for c in cells) == 4
    assert all(c.tuning == "full" and c.weights == "random" for c in cells if c.baseline)


def test_variants_put_the_crop_before_the_resize():
    from astrofm import backbones
    from astrofm.preprocess import CropToSource, ResizeForPatch

    spec = backbones.get("dinov2-small")
    crop = variant_preprocessing(spec, {"crop": {"nsigma": 4.0}}, size=56)
    steps = [type(s) for s in crop.float]
    assert steps.index(CropToSource) == steps.index(ResizeForPatch) - 1
    assert crop.float[steps.index(CropToSource)].nsigma == pytest.approx(4.0)
    assert variant_preprocessing(spec, {"size": 112}).float[-3].to_dict()["size"] == [112, 112]
    whole = variant_preprocessing(spec, {"steps": [{"step": "ToChannels"}]})
    assert [type(s).__name__ for s in whole] == ["ToChannels"]
    with pytest.raises(ConfigError, match="whole pipeline"):
        variant_preprocessing(spec, {"steps": [], "size": 3})


# ------------------------------------------------------------------------ the run
def _metrics(path):
    table = Table.read(path, format="ascii.ecsv")
    table.sort("key")
    return table


def test_frozen_cells_share_one_feature_table_per_split(npz, tmp_path, monkeypatch):
    import astrofm.features

    calls = []
    real = astrofm.features.embed

    def counting(dataset, *args, **kwargs):
        calls.append(len(dataset))
        return real(dataset, *args, **kwargs)

    monkeypatch.setattr("astrofm.features.embed", counting)
    out = run_study(_study(npz, heads=["linear", "knn"]), tmp_path / "run", report=False)
    assert sorted(calls) == [10, 24]            # test and train, once, for 8 cells
    results = Table.read(out / "results.ecsv", format="ascii.ecsv")
    assert len(results) == 8 and len(set(results["key"])) == 8
    assert sorted(p.name for p in (out / "features").iterdir()) == [
        "resnet18__default__test.fits", "resnet18__default__train.fits"]


def test_the_run_placement_reaches_every_embedding_and_classifier(npz, tmp_path, monkeypatch):
    import astrofm.features
    from astrofm.classify import Classifier

    placements, real_embed, real_fit = [], astrofm.features.embed, Classifier.fit
    keys = ("device", "devices", "num_nodes", "strategy")

    def embed(dataset, *args, **kwargs):
        placements.append({k: kwargs.get(k) for k in keys})
        return real_embed(dataset, *args, **kwargs)

    def fit(self, *args, **kwargs):
        placements.append({k: getattr(self.options, k) for k in keys})
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr("astrofm.features.embed", embed)
    monkeypatch.setattr(Classifier, "fit", fit)
    study = _study(npz, fractions=[1.0], seeds=[0])
    # A count as the command line gives it: checked, and passed on as a number.
    study.run.update(device="cpu", devices="1", num_nodes=1, strategy="auto")
    run_study(study, tmp_path / "run", report=False)
    assert len(placements) == 3          # train and test embedded, one head fitted
    assert all(p == {"device": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto"}
               for p in placements)


def test_only_rank_zero_writes_the_run_folder(npz, tmp_path, monkeypatch):
    # Under torchrun every process runs the cells; a process of rank 1 computes the
    # same results but must leave the shared folder to rank 0.
    rank_one = lambda: 1  # noqa: E731
    monkeypatch.setattr("astrofm.trainer.global_rank", rank_one)
    monkeypatch.setattr("astrofm.study.runner.global_rank", rank_one)
    out = run_study(_study(npz, fractions=[1.0], seeds=[0]), tmp_path / "run")
    assert out.is_dir() and list(out.iterdir()) == [out / "cache"]


def test_a_cell_equals_the_classifier_run_by_hand(npz, tmp_path):
    from astrofm import backbones
    from astrofm.classify import Classifier, mark_test
    from astrofm.data import ArrayDataset, label_fraction, subset

    out = run_study(_study(npz, fractions=[0.5], seeds=[1]), tmp_path / "run", report=False)
    row = Table.read(out / "results.ecsv", format="ascii.ecsv")[0]
    train = ArrayDataset(npz["train"])
    # The study's frozen backbone is the seed-0 random network; the cell's seed is the
    # head's and the subset's.
    backbone = backbones.load("resnet18", weights=None, seed=0)
    clf = Classifier(backbone, size=32, seed=1)
    index = label_fraction(train.labels, 0.5, 1)
    report = clf.fit(subset(train, index)).evaluate(mark_test(ArrayDataset(npz["test"])))
    assert row["n_train"] == len(index) == 12
    assert row["macro_f1"] == pytest.approx(report.macro_f1, abs=1e-6)
    assert json.loads(row["confusion"]) == report.confusion.tolist()
    assert row["weights"] == "random (seed 0)"


def test_a_crashed_run_resumes_to_the_results_of_an_uninterrupted_one(npz, tmp_path,
                                                                      monkeypatch, caplog):
    import astrofm.study.execute as execute

    study = _study(npz, heads=["linear", "knn"])
    whole = run_study(study, tmp_path / "whole", report=False)
    real, calls = execute._classify_cell, []

    def crashing(run, cell, group):
        if len(calls) == 3:
            raise RuntimeError("killed")
        calls.append(cell.key)
        return real(run, cell, group)

    monkeypatch.setattr(execute, "_classify_cell", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        run_study(_study(npz, heads=["linear", "knn"]), tmp_path / "part", report=False)
    assert len(Table.read(tmp_path / "part" / "results.ecsv", format="ascii.ecsv")) == 3
    monkeypatch.setattr(execute, "_classify_cell", lambda *a: calls.append(a[1].key) or real(*a))
    with caplog.at_level("INFO", logger="astrofm.study"):
        run_study(_study(npz, heads=["linear", "knn"]), tmp_path / "part", report=False)
    assert "skipping 3 finished cells of 8" in caplog.text
    assert len(calls) == 8 and len(set(calls)) == 8     # each cell computed once in all
    a, b = _metrics(whole / "results.ecsv"), _metrics(tmp_path / "part" / "results.ecsv")
    assert list(a["key"]) == list(b["key"])
    for column in ("macro_f1", "balanced_accuracy", "accuracy", "macro_precision"):
        np.testing.assert_allclose(a[column], b[column], atol=1e-6)
    assert list(a["confusion"]) == list(b["confusion"])


def test_dry_run_prints_the_grid_and_runs_nothing(npz, tmp_path, capsys):
    run_study(_study(npz), tmp_path / "run", dry_run=True)
    out = capsys.readouterr().out
    assert "4 cells, 4 to run" in out and "estimated cost" in out
    assert not (tmp_path / "run" / "results.ecsv").exists()


def test_the_command_line_runs_a_study_file(npz, tmp_path, capsys):
    from astrofm.cli import main

    path = tmp_path / "s.toml"
    path.write_text('[data]\ntrain = "train.npz"\ntest = "test.npz"\n[classify]\n'
                    'backbones = ["resnet18"]\nweights = "random"\nsize = 32\n')
    assert main(["study", str(path), "-o", str(tmp_path / "run"), "-q"]) == 0
    assert "report: " in capsys.readouterr().out
    assert (tmp_path / "run" / "report.html").stat().st_size > 0
    assert main(["study", "-o", str(tmp_path / "x")]) == 2
    assert "give a study file" in capsys.readouterr().err


def test_a_detection_split_may_be_images_with_a_catalogue(tmp_path):
    from astropy.io import fits

    from astrofm.detect.simulate import simulate_field
    from astrofm.study import StudyRun

    image, sources = simulate_field(64, n_sources=4, seed=3)
    fits.PrimaryHDU(image.data).writeto(tmp_path / "field.fits")
    sources.write(tmp_path / "sources.ecsv")
    split = {"images": ["field.fits"], "catalog": "sources.ecsv"}
    study = Study(detect={"train": split, "test": split, "backbones": ["resnet18"],
                          "weights": "random"}, root=tmp_path)
    run = StudyRun(study, tmp_path / "run")
    coco = json.loads((tmp_path / "run" / "data" / "detect_train.json").read_text())
    assert len(coco["annotations"]) == len(sources) == 4
    made = sorted(tuple(a["bbox"]) for a in coco["annotations"])   # COCO: x, y, w, h
    true = sorted((r["x0"], r["y0"], r["x1"] - r["x0"], r["y1"] - r["y0"]) for r in sources)
    np.testing.assert_allclose(made, true, atol=1e-3)
    assert len(run.splits["detect_train"]) == 1
    assert [c.task for c in run.cells] == ["detect"]
