"""``astrofm pretrain``: one-line errors with exit status 2, and a file --weights reads."""

import numpy as np
import pytest
import torch
from astropy.io import fits

from astrofm import backbones
from astrofm.cli import main


@pytest.fixture
def fits_files(tmp_path, images):
    paths = []
    for i, data in enumerate(images[:2]):
        paths.append(tmp_path / f"im{i}.fits")
        fits.writeto(paths[-1], data)
    return [str(p) for p in paths]


@pytest.mark.parametrize("args, fragment", [
    (["-m", "resnet18", "--method", "mae"], "method='mae' needs a timm ViT"),
    (["-m", "resnet18", "--epochs", "0"], "epochs"),
    (["-m", "resnet18", "-o", "w.pt"], ".safetensors"),
    (["-m", "resnet18", "--resume"], "checkpoint_dir"),
    (["-m", "resnet18", "--devices", "zero"], "devices"),
])
def test_user_errors_are_one_line_with_status_2(fits_files, tmp_path, capsys, monkeypatch,
                                                args, fragment):
    monkeypatch.chdir(tmp_path)
    status = main(["pretrain", *fits_files, "--weights", "random", "-o", "w.safetensors", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("astrofm: error:") and fragment in err[0]


def test_unknown_method_is_refused_by_the_parser(fits_files, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["pretrain", *fits_files, "-m", "resnet18", "--method", "simclr", "-o",
              "w.safetensors"])
    assert stop.value.code == 2
    assert "simclr" in capsys.readouterr().err


def test_pretrain_writes_weights_that_load(fits_files, tmp_path):
    out = tmp_path / "sky.safetensors"
    status = main(["pretrain", *fits_files, "-m", "resnet18", "--weights", "random", "--size",
                   "32", "--epochs", "1", "--lr", "0.01", "-o", str(out), "-q",
                   "--accelerator", "cpu"])
    assert status == 0
    loaded = backbones.load("resnet18", weights=out)
    start = backbones.load("resnet18", weights=None)
    assert not torch.allclose(loaded.model.conv1.weight, start.model.conv1.weight)
    assert np.isfinite(loaded.model.conv1.weight.detach().numpy()).all()
