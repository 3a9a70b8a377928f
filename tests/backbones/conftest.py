"""Fixtures for the backbone tests: no network, tiny architecture options per family."""

import urllib.error

import pytest

TINY_VIT = {"depth": 2, "embed_dim": 32, "num_heads": 2}
TINY_MSN = {
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}

#: One small, fast build per family and per distinct architecture path (registers,
#: patch 8 and 14, RoPE, attention pooling, transformers, torchvision).
TINY = {
    "dinov2-small": TINY_VIT,
    "dinov2-small-reg": TINY_VIT,
    "dinov1-base-8": TINY_VIT,
    "mae-huge": TINY_VIT,
    "siglip-base-224": TINY_VIT,
    "siglip-so400m": TINY_VIT,
    "am-radio-base": TINY_VIT,
    "vit-base": TINY_VIT,
    "dinov3-small": TINY_VIT,
    "dinov3-large-sat": TINY_VIT,
    "msn-base": TINY_MSN,
    "resnet18": {},
}


def _refuse_downloads(monkeypatch):
    """Make every download fail at once, as it would on a machine without network."""
    import huggingface_hub.constants
    import torchvision.models._api

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(f"network disabled in tests ({url})")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """No network for the test (see _refuse_downloads)."""
    _refuse_downloads(monkeypatch)


@pytest.fixture
def fresh_registry():
    """A registry rediscovered from scratch, and again after the test."""
    from astrofm.backbones import registry

    registry.refresh()
    yield registry
    registry.refresh()


def pytest_generate_tests(metafunc):
    # A test asking for ``tiny_name`` runs once per entry of TINY. Module scope: the tests
    # of one family run together and share its build (see ``tiny``).
    if "tiny_name" in metafunc.fixturenames:
        metafunc.parametrize("tiny_name", list(TINY), scope="module")


@pytest.fixture(scope="module")
def tiny(tiny_name):
    """A tiny backbone of the family under test (random weights, seed 0), built once per
    module: a full-size ResNet-18 takes seconds to initialise here, and the tests only run
    it under torch.no_grad (test_attention_maps checks that it is left as it was)."""
    import torch

    from astrofm import backbones

    with pytest.MonkeyPatch.context() as monkeypatch, torch.random.fork_rng(devices=[]):
        _refuse_downloads(monkeypatch)
        torch.manual_seed(0)
        return backbones.load(tiny_name, weights=None, **TINY[tiny_name])


@pytest.fixture
def tiny_options():
    """The TINY table: backbone name to architecture overrides."""
    return TINY


@pytest.fixture
def unit():
    """The smallest input side unit of a spec: its patch size, or 32 px for CNNs."""
    return lambda spec: spec.patch_size or 32
