"""Detector.fit and Detector.detect in two CPU processes (DDP on gloo), as the docs run them.

Two multi-process runs in all: a driver script under ``torchrun`` (fit, save, detect) and
``astrofm detect`` with Lightning's own launcher (``--devices 2``). The one-process
references run in the test process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

import astrofm
from astrofm.cli import main

from .conftest import TINY_NET, tiny_detector

ROOT = Path(__file__).resolve().parents[2]
MOSAICS = 5  # odd: one process gets a mosaic more than the other

DRIVER = '''
import json, os, sys
from pathlib import Path

import torch

import astrofm
import astrofm.detect.catalog as catalog
import astrofm.trainer

start, train, val, out, *mosaics = sys.argv[1:]
out, rank = Path(out), int(os.environ["RANK"])
write = catalog.write_catalog


def logged(table, path):  # every catalogue a process writes leaves a line here
    with open(out / f"writes-{rank}.txt", "a") as f:
        f.write(f"{path}\\n")
    return write(table, path)


catalog.write_catalog = logged
where = {"device": "cpu", "devices": 2, "strategy": "ddp"}
det = astrofm.load(start)
# Augmented: a step, and each rank's first view of image 0 (a stream of its own).
det.fit(train, val, epochs=1, batch_size=4, max_steps=1, seed=0, progress=False, **where)
from astrofm.data import CocoDataset
from astrofm.detect.augment import DetectionAugment, augmented

view = augmented(CocoDataset(train), det.preprocessing, DetectionAugment(), 0)[0]
torch.save({"view": view[0], "augment": det.history["augment"]}, out / f"view-{rank}.pt")
# Not augmented: the weights can be compared with those of one process.
det = astrofm.load(start)
det.fit(train, val, epochs=2, batch_size=4, lr=1e-3, seed=0, progress=False,
        checkpoint_dir=out / "checkpoints", augment=False, **where)
torch.save(det.network.state_dict(), out / f"weights-{rank}.pt")
(out / f"history-{rank}.json").write_text(json.dumps(det.history))
det.save(out / "trained.astrofm")
tables = det.detect(mosaics, tile=64, overlap=8, score_threshold=0.0, progress=False,
                    output=out / "catalog.ecsv", regions=out / "catalog.reg", **where)
(out / f"rows-{rank}.json").write_text(json.dumps([len(t) for t in tables]))
astrofm.trainer.shutdown()
'''


def _env():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "astrofm-zoobot")])}
    return env


def _run(command, cwd):
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A start detector, training and validation fields, and mosaics with a WCS.

    Every training field has three sources and the samplers take every anchor and
    proposal, so the losses of two shares of a batch average to the loss of the whole
    batch and no random sampling differs between runs.
    """
    from astrofm.detect import simulate_field, write_simulated

    root = tmp_path_factory.mktemp("ddp")
    options = {"shape": 64, "beam_fwhm": 2.5, "snr": (20.0, 200.0)}
    train = write_simulated(root / "train", 8, seed=3, n_sources=3, **options)
    val = write_simulated(root / "val", 3, seed=4, n_sources=(2, 5), **options)
    net = {**TINY_NET, "rpn_batch_size_per_image": 100000, "box_batch_size_per_image": 100000,
           "rpn_post_nms_top_n_train": 20}
    start = tiny_detector(min_score=0.0, **net).save(root / "start.astrofm")
    mosaics = []
    for i in range(MOSAICS):
        image, _ = simulate_field(96, n_sources=(3, 6), beam_fwhm=2.5, snr=(20.0, 200.0),
                                  seed=10 + i)
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval, wcs.wcs.crpix = [150.0 + i, 2.0], [48, 48]
        wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
        mosaics.append(root / f"mosaic{i}.fits")
        fits.PrimaryHDU(image.data.astype(np.float32), header=wcs.to_header()).writeto(
            mosaics[-1])
    return {"root": root, "start": start, "train": train, "val": val, "mosaics": mosaics}


@pytest.fixture(scope="module")
def torchrun(data):
    """The driver under torchrun with two processes; its output folder."""
    out = data["root"] / "torchrun"
    out.mkdir()
    (data["root"] / "driver.py").write_text(DRIVER)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          "driver.py", str(data["start"]), str(data["train"]), str(data["val"]), str(out),
          *map(str, data["mosaics"])], cwd=data["root"])
    return out


def _sorted_rows(table):
    return table[np.lexsort([np.asarray(table[c]) for c in ("y0", "x0", "image")])]


def test_two_processes_train_the_weights_of_one_with_the_same_effective_batch(data, torchrun):
    # DDP averages the two processes' gradients of 4 images each, so the weights after
    # the same steps are those of one process on batches of 8. mAP@0.5 after two steps
    # of a tiny random network is 0 for both, so the weights are compared instead: their
    # difference relative to how far training moved them. Adam's first steps move each
    # weight by about lr whatever its gradient, so a sign that differs (the batches or
    # their averaging differing) shows as a difference of the update's own size.
    ranks = [torch.load(torchrun / f"weights-{r}.pt") for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    histories = [json.loads((torchrun / f"history-{r}.json").read_text()) for r in (0, 1)]
    assert histories[0] == histories[1]
    assert (histories[0]["steps"], histories[0]["epochs"]) == (2, 2)

    one = astrofm.load(data["start"]).fit(data["train"], data["val"], epochs=2, batch_size=8,
                                          lr=1e-3, seed=0, progress=False, device="cpu",
                                          devices=1, augment=False)
    assert one.history["steps"] == histories[0]["steps"]
    start = astrofm.load(data["start"]).network.state_dict()
    ours = one.network.state_dict()
    moved = sum(float(((ours[k] - start[k]) ** 2).sum()) for k in ours) ** 0.5
    apart = sum(float(((ours[k] - ranks[0][k]) ** 2).sum()) for k in ours) ** 0.5
    assert moved > 0.01
    assert apart / moved < 0.02  # measured 0.002

    saved = astrofm.load(torchrun / "trained.astrofm").network.state_dict()
    for key, value in ranks[0].items():
        np.testing.assert_allclose(saved[key], value, rtol=0, atol=0)
    names = sorted(p.name for p in (torchrun / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("best-epoch=") and names[1] == "last.ckpt"
    assert not list(torchrun.glob(".*tmp*"))


def test_two_processes_train_augmented_each_with_a_stream_of_its_own(torchrun):
    from astrofm.detect import DetectionAugment

    views = [torch.load(torchrun / f"view-{r}.pt") for r in (0, 1)]
    assert views[0]["augment"] == views[1]["augment"] == DetectionAugment().config()
    a, b = views[0]["view"], views[1]["view"]
    assert not (a.shape == b.shape and torch.allclose(a, b, atol=1e-3))


def test_two_processes_write_the_catalogue_of_one_once(data, torchrun, tmp_path):
    merged = Table.read(torchrun / "catalog.ecsv")
    reference = astrofm.load(torchrun / "trained.astrofm").detect(
        data["mosaics"], tile=64, overlap=8, score_threshold=0.0, progress=False,
        output=tmp_path / "one.ecsv")
    one = Table.read(tmp_path / "one.ecsv")
    assert len(merged) == len(one) == sum(map(len, reference)) > MOSAICS
    assert sorted(set(merged["image"])) == sorted(str(p) for p in data["mosaics"])
    np.testing.assert_array_equal(merged["id"], np.arange(1, len(merged) + 1))
    a, b = _sorted_rows(merged), _sorted_rows(one)
    np.testing.assert_array_equal(a["image"], b["image"])
    for column in ("x0", "y0", "x1", "y1", "score", "ra", "dec"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-6, atol=1e-4)
    boxes = {(r["image"], *(round(float(r[c]), 3) for c in ("x0", "y0", "x1", "y1")))
             for r in merged}
    assert len(boxes) == len(merged)  # no mosaic catalogued twice
    # Written once, by rank 0; every rank returned every mosaic's catalogue.
    assert (torchrun / "writes-0.txt").read_text().splitlines() == [
        str(torchrun / "catalog.ecsv")]
    assert not (torchrun / "writes-1.txt").exists()
    rows = [json.loads((torchrun / f"rows-{r}.json").read_text()) for r in (0, 1)]
    assert rows[0] == rows[1] == [len(t) for t in reference]
    assert not (torchrun / ".catalog.ecsv.parts").exists()
    assert (torchrun / "catalog.reg").read_text().count("box(") == len(merged)


def test_command_line_detect_with_lightnings_launcher(data, torchrun):
    out = data["root"] / "cli.ecsv"
    _run([sys.executable, "-m", "astrofm.cli", "detect", str(torchrun / "trained.astrofm"),
          *map(str, data["mosaics"]), "-o", str(out), "--tile", "64", "--overlap", "8",
          "--score", "0", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "-q"],
         cwd=data["root"])
    a, b = _sorted_rows(Table.read(out)), _sorted_rows(Table.read(torchrun / "catalog.ecsv"))
    assert len(a) == len(b)
    np.testing.assert_array_equal(a["image"], b["image"])
    for column in ("x0", "y0", "x1", "y1", "score"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-6, atol=1e-4)


def _fail_on_second(survey, monkeypatch, det, mosaics, output, **options):
    """Run detect until the second mosaic's catalogue fails, as a killed job would."""
    real = survey.catalog_of

    def failing(detector, source, opts):
        if source != mosaics[0]:
            raise RuntimeError("the job was killed")
        return real(detector, source, opts)

    monkeypatch.setattr(survey, "catalog_of", failing)
    with pytest.raises(RuntimeError, match="killed"):
        det.detect(mosaics, output=output, **options)
    monkeypatch.setattr(survey, "catalog_of", real)
    assert not output.exists()
    assert [p.name for p in survey.parts_folder(output).iterdir()] == ["000000.ecsv"]


def _counting(survey, monkeypatch):
    seen, real = [], survey.catalog_of
    monkeypatch.setattr(survey, "catalog_of", lambda *a: seen.append(a[1]) or real(*a))
    return seen


def test_a_rerun_after_a_failure_skips_the_mosaics_done(data, tmp_path, monkeypatch):
    import astrofm.detect.survey as survey

    det, mosaics, output = astrofm.load(data["start"]), data["mosaics"][:3], tmp_path / "c.ecsv"
    options = {"tile": 64, "overlap": 8, "score_threshold": 0.0, "progress": False}
    clean = det.detect(mosaics, **options)
    _fail_on_second(survey, monkeypatch, det, mosaics, output, **options)
    seen = _counting(survey, monkeypatch)
    again = det.detect(mosaics, output=output, **options)
    assert seen == mosaics[1:]
    assert [len(t) for t in again] == [len(t) for t in clean]
    for before, after in zip(clean, again, strict=True):
        np.testing.assert_allclose(after["x0"], before["x0"], rtol=1e-6, atol=1e-4)
    assert len(Table.read(output)) == sum(len(t) for t in clean)
    assert not survey.parts_folder(output).exists()


def test_a_part_from_other_settings_is_done_again(data, tmp_path, monkeypatch):
    import astrofm.detect.survey as survey

    det, mosaics, output = astrofm.load(data["start"]), data["mosaics"][:2], tmp_path / "c.ecsv"
    options = {"tile": 64, "overlap": 8, "progress": False}
    _fail_on_second(survey, monkeypatch, det, mosaics, output, score_threshold=0.9, **options)
    seen = _counting(survey, monkeypatch)
    again = det.detect(mosaics, output=output, score_threshold=0.0, **options)
    assert seen == mosaics
    assert min(t["score"].min() for t in again) < 0.9


@pytest.mark.parametrize("options, named", [
    (["--devices", "0"], "devices=0"), (["--strategy", "nope"], "strategy='nope'"),
    (["--num-nodes", "0"], "num_nodes"), (["--accelerator", "abacus"], "abacus"),
])
def test_bad_placement_fails_in_one_line_before_any_compute(options, named, tmp_path,
                                                            monkeypatch, capsys):
    import astrofm.detect

    def never(*args, **kwargs):
        raise AssertionError("compute started before the options were checked")

    monkeypatch.setattr(astrofm.detect, "Detector", never)
    monkeypatch.setattr("astrofm.cli.detect.load_saved", never)
    monkeypatch.chdir(tmp_path)
    for command in (["detect", "m.astrofm", "a.fits", "b.fits", "-o", "c.ecsv"],
                    ["train", "--task", "detect", "t.json", "-o", "m.astrofm"]):
        code = main([*command, *options, "-q"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("astrofm: error:") and err.count("\n") == 1
        assert named in err


def test_an_old_torch_device_names_lightnings_accelerator_and_device():
    from argparse import Namespace

    from astrofm.cli.detect import _lightning_placement

    args = Namespace(device="cuda:1", devices=None, num_nodes=None, strategy=None)
    assert _lightning_placement(args) == {"device": "cuda", "devices": [1]}
    args = Namespace(device="cpu", devices="2", num_nodes=None, strategy="ddp")
    assert _lightning_placement(args) == {"device": "cpu", "devices": "2", "strategy": "ddp"}


def test_each_validation_image_goes_to_one_process_once():
    from types import SimpleNamespace

    from astrofm.detect.module import DetectionData

    val = [(i, {"index": i}) for i in range(3)]
    seen = []
    for rank in (0, 1):
        data = DetectionData([], val, batch_size=2, num_workers=0, seed=0)
        data.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen += [i for images, _ in data.val_dataloader() for i in images]
    # A DistributedSampler would pad the shares to 2 + 2 with a repeated image.
    assert sorted(seen) == [0, 1, 2]
    data.trainer = SimpleNamespace(world_size=4, global_rank=0)
    with pytest.raises(astrofm.errors.DatasetError, match="3 images for 4 processes"):
        data.val_dataloader()
