import importlib.util

import numpy as np
from astropy.io import fits
from astropy.table import Table

import astrofm
from astrofm.cli import main


def test_info_lists_version_parts_and_backbones(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"astrofm {astrofm.__version__}" in out
    status = {line.split()[1]: line.split()[0] for line in out.splitlines()
              if line.startswith("  ") and line.split()[0] in ("yes", "no")}
    for module in ("photutils", "torch", "h5py", "astrofm_zoobot", "peft"):
        installed = importlib.util.find_spec(module) is not None
        assert status[module] == ("yes" if installed else "no"), module
    for name in ("dinov2-base", "resnet50"):
        assert name in out


def test_embed_writes_a_table(tmp_path, capsys):
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.fits"
        fits.PrimaryHDU(np.random.default_rng(i).normal(size=(40, 40)).astype("f4")).writeto(path)
        paths.append(str(path))
    out = tmp_path / "f.fits"
    code = main(["embed", *paths, "-o", str(out), "-m", "resnet18", "--size", "32",
                 "--batch-size", "2", "--weights", "random", "-q"])
    assert code == 0
    table = Table.read(out)
    assert len(table) == 3 and table["feature"].shape == (3, 512)
    assert "3 images, 512 features" in capsys.readouterr().out


def test_embed_error_is_a_message_not_a_traceback(tmp_path, capsys):
    code = main(["embed", str(tmp_path / "missing.fits"), "-o", str(tmp_path / "f.fits"),
                 "-m", "resnet18", "--weights", "random", "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("astrofm: error:") and "missing.fits" in err


def test_evaluate_refuses_a_model_of_another_kind(tmp_path, capsys, monkeypatch):
    import sys
    import types

    import torch

    from astrofm import saving
    from astrofm.saving import register_kind, save_model

    module = types.ModuleType("astrofm_test_other")
    module.Other = type("Other", (), {"from_saved": classmethod(lambda cls, c, t: cls())})
    monkeypatch.setitem(sys.modules, "astrofm_test_other", module)
    # register_kind fills a module-level table; a copy keeps the kind out of other tests.
    monkeypatch.setattr(saving, "_KINDS", dict(saving._KINDS))
    register_kind("other", "astrofm_test_other:Other")
    path = save_model(tmp_path / "m.astrofm", "other", {}, {"w": torch.zeros(1)})
    np.savez(tmp_path / "t.npz", images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 1]))
    assert main(["evaluate", str(path), str(tmp_path / "t.npz"), "-q"]) == 2
    assert "not a saved classifier or detector" in capsys.readouterr().err
