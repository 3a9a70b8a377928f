"""User errors at the command line: one line on stderr, exit status 2, no traceback.

The subprocess tests run the installed ``astrofm`` script, as a user does; each picks
an error caught before Lightning is imported, which alone takes seconds. The others
call ``main`` in this process.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrofm.cli import main

SCRIPT = shutil.which("astrofm") or str(Path(sys.executable).with_name("astrofm"))


def run_script(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=60)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("astrofm: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "im.fits"
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(16, 16)).astype("f4")).writeto(path)
    return path


@pytest.fixture
def npz(tmp_path):
    """A labelled split of classes a and b."""
    def make(name, classes=("a", "b")):
        images = np.random.default_rng(0).integers(0, 255, (6, 16, 16), dtype=np.uint8)
        path = tmp_path / name
        np.savez(path, images=images, labels=np.arange(6) % len(classes),
                 label_names=np.array(classes))
        return path

    return make


# ------------------------------------------------------------- installed script
def test_script_info_bad_argument_is_one_line():
    assert_one_line_error(run_script("info", "--verbose"), "--verbose", "astrofm --help")


def test_script_embed_into_read_only_folder(image, read_only_folder):
    out = read_only_folder / "f.fits"
    assert_one_line_error(run_script("embed", image, "-o", out, "-m", "resnet18", "--weights",
                                     "random", "-q"), "-o/--output", str(out))


def test_script_train_into_read_only_folder(npz, read_only_folder):
    out = read_only_folder / "m.astrofm"
    result = run_script("train", npz("train.npz"), "-o", out, "-m", "resnet18", "--weights",
                        "random", "-q")
    assert_one_line_error(result, "-o/--output", str(out))


def test_script_evaluate_refuses_unknown_figure_suffix(tmp_path, npz):
    # The figure is checked before the model is even read.
    result = run_script("evaluate", tmp_path / "absent.astrofm", npz("test.npz"),
                        "--confusion", tmp_path / "conf.xyz")
    assert_one_line_error(result, "--confusion", "conf.xyz", ".png")


def test_script_detect_refuses_a_word_as_tile(tmp_path, image):
    result = run_script("detect", tmp_path / "absent.astrofm", image, "-o",
                        tmp_path / "c.ecsv", "--tile", "big")
    assert_one_line_error(result, "--tile='big'", "auto")


# ---------------------------------------------------------------------- in process
def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("astrofm: error:"), err
    return err


@pytest.mark.parametrize("options, fragments", [
    (["--precision", "8bit"], ["precision='8bit'", "bf16-mixed"]),
    (["--device", "tpu9"], ["device='tpu9'", "'cpu'"]),
    (["--device", "tpu"], ["device='tpu'", "no TPU device", "use cpu"]),
    (["--accelerator", "tpu9"], ["device='tpu9'", "'cpu'"]),
    (["--devices", "zero"], ["devices='zero'", "0,1"]),
    (["--num-nodes", "0"], ["num_nodes=0"]),
    (["--strategy", "warp"], ["strategy='warp'", "ddp"]),
    (["--workers", "-2"], ["num_workers=-2"]),
    (["--size", "-3"], ["size=-3"]),
    (["--size", "0"], ["size=0"]),
])
def test_embed_option_errors(tmp_path, image, capsys, options, fragments):
    out = tmp_path / "f.fits"
    assert main(["embed", str(image), "-o", str(out), "-m", "resnet18", "--weights",
                 "random", "-q", *options]) == 2
    err = error_line(capsys)
    for fragment in fragments:
        assert fragment in err
    assert not out.exists() and not Path(f"{out}.parts").exists()


def test_embed_cuda_without_gpu(tmp_path, image, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert main(["embed", str(image), "-o", str(tmp_path / "f.fits"), "-m", "resnet18",
                 "--weights", "random", "-q", "--device", "cuda"]) == 2
    assert "no CUDA device is visible" in error_line(capsys)


def test_detect_cuda_without_gpu_before_reading_the_model(tmp_path, image, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert main(["detect", str(tmp_path / "absent.astrofm"), str(image), "-o",
                 str(tmp_path / "c.ecsv"), "--device", "cuda"]) == 2
    err = error_line(capsys)
    assert "--device='cuda'" in err and "use cpu" in err


def test_detect_refuses_catalogue_suffix_before_reading_the_model(tmp_path, image, capsys):
    assert main(["detect", str(tmp_path / "absent.astrofm"), str(image), "-o",
                 str(tmp_path / "c.xyz")]) == 2
    err = error_line(capsys)
    assert "-o/--output" in err and ".ecsv" in err


@pytest.mark.parametrize("options, fragment", [
    (["--lr", "-1"], "lr=-1.0"),
    (["--epochs", "0"], "epochs=0"),
    (["--batch-size", "0"], "batch_size=0"),
    (["--size", "-3"], "size=-3"),
    (["--device", "tpu"], "device='tpu'"),
    (["--devices", "zero"], "devices='zero'"),
    (["--num-nodes", "0"], "num_nodes=0"),
    (["--strategy", "dpp"], "strategy='dpp'"),
])
def test_train_option_errors(tmp_path, npz, capsys, options, fragment):
    out = tmp_path / "m.astrofm"
    assert main(["train", str(npz("train.npz")), "-o", str(out), "-m", "resnet18",
                 "--weights", "random", "-q", *options]) == 2
    assert fragment in error_line(capsys)
    assert not out.exists()


def test_train_refuses_test_classes_before_training(tmp_path, npz, capsys):
    out = tmp_path / "m.astrofm"
    test = npz("test.npz", classes=("a", "c"))
    assert main(["train", str(npz("train.npz")), "-o", str(out), "--test", str(test), "-m",
                 "resnet18", "--weights", "random", "-q"]) == 2
    err = error_line(capsys)
    assert "--test" in err and "['c']" in err
    assert not out.exists()


def test_train_into_read_only_folder_before_training(npz, read_only_folder, capsys):
    out = read_only_folder / "m.astrofm"
    assert main(["train", str(npz("train.npz")), "-o", str(out), "-m", "resnet18",
                 "--weights", "random", "-q"]) == 2
    assert str(out) in error_line(capsys)


def test_script_study_with_a_bad_key_is_one_line(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('[data]\ntrain = "a.npz"\ntest = "b.npz"\n[classify]\n'
                     'backbones = ["resnet18"]\nfractions = [2.0]\n')
    assert_one_line_error(run_script("study", study, "-o", tmp_path / "run"), "s.toml",
                          "2.0 is not a label fraction")


@pytest.mark.parametrize("options, fragment", [
    (["--devices", "zero"], "devices='zero'"),
    (["--strategy", "dpp"], "strategy='dpp'"),
    (["--accelerator", "tpu9"], "device='tpu9'"),
])
def test_study_placement_errors_before_reading_the_study(tmp_path, capsys, options, fragment):
    # The study file does not exist: the placement is refused before it is read.
    assert main(["study", str(tmp_path / "absent.toml"), "-o", str(tmp_path / "run"),
                 *options]) == 2
    assert fragment in error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_script_report_of_a_folder_without_a_run_is_one_line(tmp_path):
    assert_one_line_error(run_script("report", tmp_path), "results.ecsv")


def test_script_similar_and_anomalies_of_a_missing_table_are_one_line(tmp_path):
    missing = tmp_path / "features.fits"
    assert_one_line_error(run_script("similar", missing, "--query", "x"), "features.fits")
    assert_one_line_error(run_script("anomalies", missing), "features.fits")
