import sys
import types

import pytest
import torch

import astrofm
from astrofm.errors import ConfigError, FileFormatError, InputFileError
from astrofm.saving import read_model, register_kind, save_model


class _Echo:
    def __init__(self, config, tensors):
        self.config, self.tensors = config, tensors

    @classmethod
    def from_saved(cls, config, tensors):
        return cls(config, tensors)


@pytest.fixture
def echo_kind(monkeypatch):
    module = types.ModuleType("astrofm_test_echo")
    module.Echo = _Echo
    monkeypatch.setitem(sys.modules, "astrofm_test_echo", module)
    register_kind("echo", "astrofm_test_echo:Echo")


def test_round_trip_through_astrofm_load(tmp_path, echo_kind):
    tensors = {"head.weight": torch.randn(3, 4), "head.bias": torch.zeros(3)}
    config = {"backbone": "resnet18", "classes": ["FRI", "FRII"], "steps": [{"step": "X"}]}
    path = save_model(tmp_path / "m.astrofm", "echo", config, tensors)
    model = astrofm.load(path)
    assert model.config == config
    assert all(torch.equal(model.tensors[k], v) for k, v in tensors.items())
    assert [p.name for p in tmp_path.iterdir()] == ["m.astrofm"]


def test_bad_saved_models(tmp_path, echo_kind):
    with pytest.raises(ConfigError, match="must end in"):
        save_model(tmp_path / "m.pt", "echo", {}, {})
    with pytest.raises(ConfigError, match="JSON"):
        save_model(tmp_path / "m.astrofm", "echo", {"x": object()}, {})
    with pytest.raises(InputFileError):
        read_model(tmp_path / "absent.astrofm")
    path = save_model(tmp_path / "m.astrofm", "echo", {}, {"w": torch.ones(100)})
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(FileFormatError, match="truncated"):
        astrofm.load(path)
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "plain.astrofm"))
    with pytest.raises(FileFormatError, match="not an astrofm model"):
        read_model(tmp_path / "plain.astrofm")
