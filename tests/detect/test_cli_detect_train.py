"""`astrofm train --task detect` and `astrofm evaluate` of a saved detector."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import astrofm
from astrofm.cli import main
from astrofm.data import CocoDataset
from astrofm.detect import IOU_STEPS, catalog_to_coco, simulate_field, write_simulated

TINY = ["-m", "resnet18", "--weights", "random", "--tuning", "full", "--epochs", "1",
        "--batch-size", "2", "--seed", "0", "--device", "cpu", "-q"]


def small_fields(folder, n, seed):
    """Generated 32 px fields, small enough for a few seconds of CPU training."""
    return write_simulated(folder, n, seed=seed, shape=32, n_sources=(1, 3), beam_fwhm=2.5,
                           snr=(30.0, 200.0))


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    """Four 32 px fields with their COCO JSON."""
    return small_fields(tmp_path_factory.mktemp("fields"), 4, seed=3)


@pytest.fixture(scope="module")
def trained(fields, tmp_path_factory):
    """A detector trained by the command on the generated fields, and what it printed."""
    import contextlib
    import io

    model = tmp_path_factory.mktemp("model") / "finder.astrofm"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--task", "detect", str(fields), "-o", str(model), *TINY]) == 0
    return model, out.getvalue()


@pytest.fixture
def field(tmp_path):
    """One generated field as a FITS file, and its true sources."""
    image, sources = simulate_field(32, n_sources=3, beam_fwhm=2.5, snr=(30.0, 100.0), seed=7)
    path = tmp_path / "field.fits"
    fits.PrimaryHDU(image.data).writeto(path)
    return path, sources


def test_train_writes_a_detector_and_prints_its_validation_map(trained):
    model, printed = trained
    detector = astrofm.load(model)
    assert isinstance(detector, astrofm.Detector) and detector.classes == ["source"]
    score = detector.history["best_val_map_50"]
    assert f"validation mAP@0.5 {score:.3f} -> {model}" in printed


def test_evaluate_prints_and_writes_the_detectors_report(trained, tmp_path, capsys):
    test = small_fields(tmp_path / "test", 2, seed=11)
    table, figure = tmp_path / "map.ecsv", tmp_path / "map.png"
    code = main(["evaluate", str(trained[0]), str(test), "-o", str(table), "--figure",
                 str(figure), "-q"])
    assert code == 0
    expected = astrofm.load(trained[0]).evaluate(test)
    assert f"mAP@0.5 = {expected.map_50:.3f}" in capsys.readouterr().out
    written = Table.read(table)
    np.testing.assert_allclose(written["iou"], IOU_STEPS)
    np.testing.assert_allclose(written["map"], [expected.ap_per_iou[t] for t in IOU_STEPS],
                               atol=1e-6)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pixel_catalogue_gives_the_true_boxes(field, tmp_path):
    path, sources = field
    sources.write(tmp_path / "sources.ecsv")
    coco = catalog_to_coco(path, tmp_path / "sources.ecsv", tmp_path / "boxes.json")
    boxes, labels = CocoDataset(coco).boxes(0)
    # simulate_field computed each source's box from its true ellipse.
    truth = np.stack([sources[c] for c in ("x0", "y0", "x1", "y1")], -1)
    np.testing.assert_allclose(boxes, truth, atol=1e-6)
    assert labels.tolist() == [1] * len(sources)


def test_sky_catalogue_gives_the_boxes_of_the_pixel_ellipses(field, tmp_path, wcs):
    path, sources = field
    fits.PrimaryHDU(fits.getdata(path), header=wcs.to_header()).writeto(path, overwrite=True)
    sky = wcs.pixel_to_world(np.asarray(sources["x"]) - 0.5, np.asarray(sources["y"]) - 0.5)
    scale = 10.0 / 3600  # degrees per pixel of the fixture's WCS
    # The fixture's y axis points 20 degrees east of north; theta runs from +x to +y and
    # +x points 90 degrees further from north towards the west: PA = theta - 70 degrees.
    catalog = Table({"RA": sky.ra.deg, "DEC": sky.dec.deg, "Maj": sources["major"] * scale,
                     "Min": sources["minor"] * scale,
                     "PA": np.degrees(sources["theta"]) - 70.0})
    coco = catalog_to_coco([path], catalog, tmp_path / "boxes.json")
    boxes, _ = CocoDataset(coco).boxes(0)
    truth = np.stack([sources[c] for c in ("x0", "y0", "x1", "y1")], -1)
    np.testing.assert_allclose(boxes, truth, atol=0.05)


def test_train_from_an_image_and_a_catalogue(field, tmp_path, monkeypatch, capsys):
    import astrofm.detect

    path, sources = field
    sources.write(tmp_path / "sources.ecsv")
    seen = {}

    class Recorder:
        """Stands for the Detector: records what the command trains it on."""

        history, tuning_report = {"best_val_map_50": 0.25}, "all trains"

        def __init__(self, model, tuning, **options):
            seen.update(model=model, tuning=tuning, **options)

        def fit(self, train, val, **options):
            seen.update(train=CocoDataset(train).boxes(0)[0], val=CocoDataset(val).boxes(0)[0],
                        **options)

        def save(self, output):
            seen["output"] = output

    monkeypatch.setattr(astrofm.detect, "Detector", Recorder)
    model = tmp_path / "m.astrofm"
    code = main(["train", "--task", "detect", str(path), "--catalog",
                 str(tmp_path / "sources.ecsv"), "--val", str(path), "-o", str(model),
                 "--max-steps", "3", "--weight-decay", "0.01", "--lora-rank", "4", *TINY])
    assert code == 0
    assert f"validation mAP@0.5 0.250 -> {model}" in capsys.readouterr().out
    truth = np.stack([sources[c] for c in ("x0", "y0", "x1", "y1")], -1)
    np.testing.assert_allclose(seen["train"], truth, atol=1e-6)
    np.testing.assert_allclose(seen["val"], truth, atol=1e-6)
    assert (seen["model"], seen["tuning"], seen["weights"]) == ("resnet18", "full", "random")
    assert seen["tuning_options"] == {"lora_rank": 4}
    assert (seen["max_steps"], seen["weight_decay"], seen["epochs"], seen["batch_size"],
            seen["seed"], seen["device"]) == (3, 0.01, 1, 2, 0, "cpu")
    assert seen["output"] == str(model)


@pytest.mark.parametrize("arguments, words", [
    (["data.npz"], ["data.npz", "COCO JSON", "--catalog"]),
    (["field.fits"], ["field.fits", "--catalog"]),
    (["fields.json", "--catalog", "sources.ecsv"], ["--catalog", "COCO JSON"]),
    (["fields.json", "--tuning", "most"], ["--tuning", "frozen"]),
    (["fields.json", "--head", "mlp"], ["--head"]),
    (["fields.json", "--solver", "fast"], ["--solver"]),
    (["fields.json", "--epochs", "0"], ["--epochs"]),
    (["fields.json", "--weight-decay", "-1"], ["--weight-decay"]),
    (["fields.json", "--val", "val.npz"], ["--val", "val.npz"]),
])
def test_bad_detector_options_fail_in_one_line_before_any_compute(
        arguments, words, tmp_path, monkeypatch, capsys):
    import astrofm.detect

    def never(*args, **kwargs):
        raise AssertionError("compute started before the options were checked")

    monkeypatch.setattr(astrofm.detect, "Detector", never)
    monkeypatch.setattr(astrofm.detect, "catalog_to_coco", never)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--task", "detect", *arguments, "-o", "m.astrofm", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("astrofm: error:") and err.count("\n") == 1
    for word in words:
        assert word in err


def test_classifier_options_of_a_detector_are_refused(tmp_path, capsys):
    code = main(["train", str(tmp_path / "t.npz"), "--max-steps", "3", "-o",
                 str(tmp_path / "m.astrofm"), "-q"])
    assert code == 2 and "--max-steps" in capsys.readouterr().err


def test_evaluate_refuses_a_confusion_figure_for_a_detector(trained, fields, tmp_path, capsys):
    code = main(["evaluate", str(trained[0]), str(fields), "--confusion",
                 str(tmp_path / "c.png"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--confusion" in err and "--figure" in err
    assert not (tmp_path / "c.png").exists()


def test_train_augments_by_default_and_no_augment_turns_it_off(trained, fields, tmp_path):
    from astrofm.detect import DetectionAugment

    assert astrofm.load(trained[0]).history["augment"] == DetectionAugment().config()
    model = tmp_path / "plain.astrofm"
    assert main(["train", "--task", "detect", str(fields), "-o", str(model), *TINY,
                 "--no-augment", "--max-steps", "1"]) == 0
    assert astrofm.load(model).history["augment"] is None
