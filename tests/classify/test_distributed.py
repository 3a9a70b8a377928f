"""Classifier.fit and save with 2 CPU processes (DDP on gloo), against 1 process.

One ``torchrun --standalone --nproc_per_node=2`` run of a driver script (the command the
cluster docs show) trains a frozen linear head and a fully tuned tiny ViT; each process
records what it ended with. The same models are trained here in one process, with the
same effective batch size (8 = 2 processes x 4). The same driver then runs the cluster
docs' ``astrofm train`` command line, so that one launch (each costs seconds of imports
per process) serves every test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

import astrofm
from astrofm.classify import Classifier
from astrofm.data import ArrayDataset

ROOT = Path(__file__).resolve().parents[2]
TINY = {"depth": 2, "embed_dim": 48, "num_heads": 3}
# One full batch per epoch: the 2-process run's two shares of 4 are the 1-process batch
# of 8, so both take the same steps, up to the order of floating-point sums.
FULL = {"tuning": "full", "epochs": 6, "lr": 3e-3, "augment": False}

DRIVER = """
import json, os, sys
from pathlib import Path

import numpy as np
import torch

import astrofm.saving
import astrofm.trainer
from astrofm.classify import Classifier
from astrofm.cli import main
from astrofm.data import ArrayDataset

out = Path(sys.argv[1])
writes = []
save_model = astrofm.saving.save_model


def counted(path, *args, **kwargs):
    writes.append(Path(path).name)
    return save_model(path, *args, **kwargs)


astrofm.saving.save_model = counted
torch.set_num_threads(1)
train, val = ArrayDataset(out / "train.npz"), ArrayDataset(out / "val.npz")
place = {"device": "cpu", "devices": 2, "batch_size": 4, "progress": False}
tiny = json.loads(sys.argv[2])
full = json.loads(sys.argv[3])
frozen = Classifier("dinov2-small", weights=None, backbone_options=tiny,
                    features_cache=out / "features", **place).fit(train, val)
frozen.save(out / "models" / "frozen.astrofm")
tuned = Classifier("dinov2-small", weights=None, backbone_options=tiny, **full,
                   **place).fit(train, val)
tuned.save(out / "models" / "full.astrofm")
rank = torch.distributed.get_rank()
state = torch.cat([v.flatten().float() for v in tuned.net.state_dict().values()])
np.savez(out / f"rank{rank}.npz", full_state=state.numpy(),
         head=frozen.net.head.weight.detach().numpy(),
         frozen_probability=np.asarray(frozen.predict(val)["probability"]),
         full_probability=np.asarray(tuned.predict(val)["probability"]))
(out / f"rank{rank}.json").write_text(json.dumps(
    {"writes": writes, "frozen": frozen.history["final_val_macro_f1"],
     "full": tuned.history["val_macro_f1"], "best": tuned.history["best_val_macro_f1"],
     "loss": tuned.history["train_loss"],
     "best_epoch": tuned.history["best_epoch"]}))
# docs/cluster.rst's ``astrofm train`` recipe, with its counts made small.
os.chdir(out / "cli")
code = main(["train", str(out / "train.npz"), "--val", str(out / "val.npz"), "-o",
             "model.astrofm", "-m", "resnet18", "--weights", "random", "--size", "32",
             "--tuning", "full", "--epochs", "2", "--accelerator", "cpu", "--devices", "2",
             "--strategy", "ddp", "-q"])
(out / f"cli-{rank}.json").write_text(json.dumps(code))
astrofm.trainer.shutdown()
"""


def _data(n, seed):
    """Noise images of 28 px, with a bright square in those of class 1."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 80, size=(n, 28, 28)).astype(np.uint8)
    images[labels == 1, 9:19, 9:19] += 120
    return {"images": images, "labels": labels, "label_names": np.array(["a", "b"])}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The 2-process run: its folder and what each rank recorded."""
    out = tmp_path_factory.mktemp("ddp")
    np.savez(out / "train.npz", **_data(8, 0))
    # An odd validation split: Lightning's own sampler would score one image twice.
    np.savez(out / "val.npz", **_data(5, 1))
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    (out / "cli").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins' / 'astrofm-zoobot'}"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(driver), str(out), json.dumps(TINY), json.dumps(FULL)],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [(json.loads((out / f"rank{r}.json").read_text()), np.load(out / f"rank{r}.npz"))
             for r in (0, 1)]
    return out, ranks


@pytest.fixture(scope="module")
def alone(run):
    """The same two models trained in this process, batches of 8."""
    out, _ = run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train, val = ArrayDataset(out / "train.npz"), ArrayDataset(out / "val.npz")
    place = {"device": "cpu", "devices": 1, "batch_size": 8, "progress": False}
    frozen = Classifier("dinov2-small", weights=None, backbone_options=TINY,
                        **place).fit(train, val)
    tuned = Classifier("dinov2-small", weights=None, backbone_options=TINY, **FULL,
                       **place).fit(train, val)
    torch.set_num_threads(threads)
    return frozen, tuned, val


def test_every_rank_ends_with_the_same_models(run):
    _, ((_, first), (_, second)) = run
    # Exact: the head is rank 0's, sent to rank 1, and DDP's replicas start from rank 0's
    # parameters and apply the same averaged gradients; copies, not recomputations.
    for key in ("head", "full_state", "frozen_probability", "full_probability"):
        np.testing.assert_array_equal(first[key], second[key])


def test_two_processes_score_as_one(run, alone):
    _, ((info, arrays), _) = run
    frozen, tuned, val = alone
    # A macro F1 over 5 images moves in steps of at least 0.1 when one prediction
    # changes: 1e-6 asks for the same predictions. The two runs differ only in the
    # order of floating-point sums (batches of 4 + 4 against 8), far below that.
    assert info["frozen"] == pytest.approx(frozen.history["final_val_macro_f1"], abs=1e-6)
    np.testing.assert_allclose(info["full"], tuned.history["val_macro_f1"], atol=1e-6)
    assert info["best_epoch"] == tuned.history["best_epoch"]
    # It trained: the loss of the 2-process run fell, as that of the single one did.
    assert info["loss"][-1] < info["loss"][0]
    np.testing.assert_allclose(info["loss"], tuned.history["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(arrays["full_probability"],
                               tuned.predict(val)["probability"], atol=1e-4)
    np.testing.assert_allclose(arrays["frozen_probability"],
                               frozen.predict(val)["probability"], atol=1e-4)


def test_validation_scores_each_image_once(run):
    out, ((info, _), _) = run
    val = ArrayDataset(out / "val.npz")
    tuned = astrofm.load(out / "models" / "full.astrofm")
    predicted = np.asarray(tuned.predict(val)["label"])
    # The restored epoch's score, recomputed here over the 5 images, each once.
    assert info["best"] == pytest.approx(f1_score(val.labels, predicted, average="macro"),
                                         abs=1e-6)


def test_the_saved_models_are_written_once_and_load(run):
    out, ((first, arrays), (second, _)) = run
    assert first["writes"] == ["frozen.astrofm", "full.astrofm"] and second["writes"] == []
    assert sorted(p.name for p in (out / "models").iterdir()) == ["frozen.astrofm",
                                                                   "full.astrofm"]
    val = ArrayDataset(out / "val.npz")
    for name in ("frozen", "full"):
        loaded = astrofm.load(out / "models" / f"{name}.astrofm")
        np.testing.assert_allclose(loaded.predict(val)["probability"],
                                   arrays[f"{name}_probability"], atol=1e-5)


def test_the_cluster_docs_train_command_runs_on_two_processes(run):
    """docs/cluster.rst's ``astrofm train`` recipe, with its counts made small."""
    out, _ = run
    assert [json.loads((out / f"cli-{r}.json").read_text()) for r in (0, 1)] == [0, 0]
    assert sorted(p.name for p in (out / "cli").iterdir()) == ["model.astrofm"]
    model = astrofm.load(out / "cli" / "model.astrofm")
    assert len(model.history["val_macro_f1"]) == 2
    assert len(model.predict(ArrayDataset(out / "val.npz"))) == 5
