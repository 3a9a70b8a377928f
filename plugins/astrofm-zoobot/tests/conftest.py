"""Plugin tests run offline: every hub download fails at once."""

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


@pytest.fixture(autouse=True)
def _own_torch_rng():
    """Torch's global random state as it was, after a test that seeds it."""
    import torch

    with torch.random.fork_rng(devices=[]):
        yield
