"""Up-front checks of options and output paths in the API (astrofm.runtime and its callers)."""

import numpy as np
import pytest
import torch

from astrofm import runtime
from astrofm.errors import ConfigError
from astrofm.runtime import (
    check_accelerator,
    check_figure_path,
    check_torch_device,
    check_writable,
    parse_tile,
)

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")


@pytest.mark.parametrize("size", [0, -5, 2.5])
def test_size_is_refused_not_clamped(size):
    from astrofm import backbones
    from astrofm.features import default_preprocessing

    with pytest.raises(ConfigError, match=f"size={size}"):
        backbones.get("resnet18").valid_size(size)
    with pytest.raises(ConfigError, match=f"size={size}"):
        default_preprocessing("dinov2-small", size=size)


@pytest.mark.parametrize("option, value", [
    ("lr", -1.0), ("lr", 0.0), ("lr", float("nan")), ("epochs", 0), ("batch_size", 0),
    ("weight_decay", -0.1), ("num_workers", -2), ("size", -3), ("val_fraction", 1.0),
    ("seed", -1), ("device", "tpu9"), ("precision", "8bit"),
])
def test_classifier_refuses_impossible_options(option, value):
    from astrofm.classify import Classifier

    with pytest.raises(ConfigError, match=f"{option}="):
        Classifier("resnet18", weights=None, **{option: value})


@pytest.mark.parametrize("option, value", [
    ("precision", "8bit"), ("device", "tpu9"), ("num_workers", -2), ("size", 0),
])
def test_embed_refuses_impossible_options(tmp_path, option, value):
    from astrofm.features import embed

    out = tmp_path / "f.fits"
    with pytest.raises(ConfigError, match=f"{option}="):
        embed([np.ones((8, 8), np.float32)], "resnet18", weights=None, output=out,
              progress=False, **{option: value})
    assert not out.exists() and not (tmp_path / "f.fits.parts").exists()


@pytest.fixture(scope="module")
def detector():
    from astrofm.detect import Detector

    return Detector("resnet18", weights=None, input_scale=1.0, anchor_sizes=(8.0,),
                    out_channels=8, representation_size=16)


@pytest.mark.parametrize("options, match", [
    ({"tile": "big"}, "tile='big'"), ({"tile": 0}, "tile=0"), ({"batch_size": 0}, "batch_size"),
    ({"output": "c.xyz"}, "output=c.xyz"),
])
def test_detect_checks_options_before_running(detector, monkeypatch, tmp_path, options, match):
    def run(*args, **kwargs):
        raise AssertionError("the detector ran before its options were checked")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(detector, "_run", run)
    with pytest.raises(ConfigError, match=match):
        detector.detect(np.ones((32, 32), np.float32), **options)


def test_detect_refuses_a_read_only_region_file(detector, monkeypatch, read_only_folder):
    monkeypatch.setattr(detector, "_run", None)  # calling it would fail the test
    with pytest.raises(ConfigError, match="regions="):
        detector.detect(np.ones((32, 32), np.float32), regions=read_only_folder / "r.reg")


@pytest.mark.parametrize("options, match", [
    ({"lr": -1.0}, "lr="), ({"epochs": 0}, "epochs="), ({"weight_decay": -1.0}, "weight_decay"),
    ({"precision": "8bit"}, "precision="), ({"device": "tpu"}, "device='tpu'"),
])
def test_detector_fit_checks_options_before_reading_data(detector, tmp_path, options, match):
    with pytest.raises(ConfigError, match=match):
        detector.fit(tmp_path / "absent.json", **options)


def test_detector_to_a_device_that_is_not_there(detector):
    with pytest.raises(ConfigError, match="not a torch device"):
        detector.to("tpu9")


@NO_CUDA
def test_cuda_without_a_gpu_says_to_use_cpu():
    for device in ("cuda", "gpu"):
        with pytest.raises(ConfigError, match="no CUDA device is visible.*use cpu"):
            check_accelerator(device)
    with pytest.raises(ConfigError, match="no CUDA device is visible.*use cpu"):
        check_torch_device("cuda:0")


def test_accelerators_that_work_here_pass():
    assert check_accelerator("cpu") == "cpu" and check_accelerator("auto") == "auto"
    assert check_torch_device("cpu") == "cpu"


@pytest.mark.parametrize("tile, expected", [("auto", "auto"), (None, None), ("64", 64), (64, 64)])
def test_parse_tile(tile, expected):
    assert parse_tile(tile) == expected


@pytest.mark.parametrize("tile", ["big", "-3", 0, 2.5, True])
def test_parse_tile_refuses(tile):
    with pytest.raises(ConfigError, match="tile="):
        parse_tile(tile)


def test_figure_suffixes_are_matplotlibs(tmp_path):
    assert check_figure_path(tmp_path / "a.PNG", "--confusion") == tmp_path / "a.PNG"
    for name in ("a.xyz", "a"):
        with pytest.raises(ConfigError, match=r"--confusion=.*\.pdf"):
            check_figure_path(tmp_path / name, "--confusion")


def test_check_writable(tmp_path, read_only_folder):
    deep = tmp_path / "new" / "sub" / "f.fits"
    assert check_writable(deep, "-o") == deep
    assert not (tmp_path / "new").exists()
    with pytest.raises(ConfigError, match="is a folder"):
        check_writable(tmp_path, "-o")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_writable(tmp_path / "file" / "f.fits", "-o")
    with pytest.raises(ConfigError, match=f"-o={read_only_folder}/f.fits: cannot write"):
        check_writable(read_only_folder / "f.fits", "-o")


def test_atomic_path_names_the_file_it_cannot_write(read_only_folder):
    from astrofm.features.store import atomic_path

    target = read_only_folder / "sub" / "t.txt"
    with pytest.raises(ConfigError, match=f"{target}: cannot write"):
        with atomic_path(target) as tmp:
            tmp.write_text("x")


@pytest.mark.parametrize("given, expected", [("auto", "auto"), ("2", 2), (2, 2), (-1, -1),
                                             ("0,1", "0,1"), ([0, 1], [0, 1])])
def test_check_devices_accepts_what_lightning_reads(given, expected):
    assert runtime.check_devices(given) == expected


@pytest.mark.parametrize("bad", [0, -2, "two", "", [], [-1], 1.5, True])
def test_check_devices_names_the_option(bad):
    with pytest.raises(ConfigError, match="devices=.*auto"):
        runtime.check_devices(bad)


def test_check_strategy_takes_lightning_names_and_refuses_others():
    assert runtime.check_strategy("ddp") == "ddp"
    assert runtime.check_strategy("auto") == "auto"
    with pytest.raises(ConfigError, match="strategy='dpp'.*ddp"):
        runtime.check_strategy("dpp")


def test_check_loop_returns_placement_and_checks_num_nodes():
    assert runtime.check_loop(device="cpu", devices="2", num_nodes=1, strategy="ddp") == {
        "devices": 2, "num_nodes": 1, "strategy": "ddp"}
    with pytest.raises(ConfigError, match="num_nodes=0"):
        runtime.check_loop(num_nodes=0)
