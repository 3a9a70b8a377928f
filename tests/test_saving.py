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


def _rewrite(path, tensors=None, **metadata):
    """Rewrite a saved model with other tensors or metadata (None removes an entry)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        old = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    old.update(metadata)
    save_file(state if tensors is None else tensors, str(path),
              metadata={k: v for k, v in old.items() if v is not None})


@pytest.mark.parametrize(("metadata", "problem"), [
    ({"config": '{"classes": ['}, "not valid JSON"),
    ({"config": "[1, 2]"}, "JSON list, not an object"),
    ({"config": None}, "no model description"),
    ({"kind": None}, "names no model kind"),
    ({"version": "two"}, "'two' is not a whole number"),
    ({"version": "1"}, "in format 1, which this astrofm"),
    ({"version": "99"}, "saved by a newer astrofm"),
])
def test_damaged_metadata_names_the_file(tmp_path, echo_kind, metadata, problem):
    path = save_model(tmp_path / "m.astrofm", "echo", {"a": 1}, {"w": torch.ones(3)})
    _rewrite(path, **metadata)
    with pytest.raises(FileFormatError, match=problem) as info:
        astrofm.load(path)
    assert str(path) in str(info.value)


def test_empty_and_half_files_are_refused(tmp_path, echo_kind):
    path = save_model(tmp_path / "m.astrofm", "echo", {}, {"w": torch.ones(1000)})
    data = path.read_bytes()
    for size in (0, len(data) // 2):
        path.write_bytes(data[:size])
        with pytest.raises(FileFormatError, match="truncated") as info:
            astrofm.load(path)
        assert str(path) in str(info.value)


def test_tensors_changed_after_saving_are_found(tmp_path, echo_kind):
    tensors = {"head.weight": torch.randn(3, 4), "head.lora_A": torch.randn(2, 4)}
    path = save_model(tmp_path / "m.astrofm", "echo", {}, tensors)
    edited = {**tensors, "head.weight": tensors["head.weight"].clone()}
    edited["head.weight"][1, 2] += 1e-3
    for changed in (edited, {"head.weight": tensors["head.weight"]},
                    {**tensors, "extra": torch.zeros(1)}):
        _rewrite(path, tensors=changed)
        with pytest.raises(FileFormatError, match="differ from those saved") as info:
            astrofm.load(path)
        assert str(path) in str(info.value)
    _rewrite(path, tensors=tensors)
    assert torch.equal(astrofm.load(path).tensors["head.lora_A"], tensors["head.lora_A"])


def test_each_kind_declares_the_fields_it_needs(tmp_path, echo_kind):
    register_kind("echo", "astrofm_test_echo:Echo", {"classes": (list,), "size": (int,)})
    path = save_model(tmp_path / "m.astrofm", "echo", {"classes": "a"}, {})
    with pytest.raises(FileFormatError, match="missing fields size; classes is str") as info:
        astrofm.load(path)
    assert str(path) in str(info.value)
    save_model(path, "echo", {"classes": ["a"], "size": 3}, {})
    assert astrofm.load(path).config == {"classes": ["a"], "size": 3}
