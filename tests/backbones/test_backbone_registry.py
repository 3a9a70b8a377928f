"""The registry: names, aliases, lookups, runtime registration and entry-point plugins."""

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from astrofm import backbones
from astrofm.backbones import BackboneSpec, registry
from astrofm.errors import BackboneError, ConfigError, PluginWarning, UnknownNameError

BUILT_IN = [
    "am-radio-base", "am-radio-huge", "am-radio-large", "dinov1-base-16", "dinov1-base-8",
    "dinov2-base", "dinov2-base-reg", "dinov2-giant", "dinov2-giant-reg", "dinov2-large",
    "dinov2-large-reg", "dinov2-small", "dinov2-small-reg", "dinov3-7b", "dinov3-7b-sat",
    "dinov3-base", "dinov3-huge-plus", "dinov3-large", "dinov3-large-sat", "dinov3-small",
    "dinov3-small-plus", "mae-base", "mae-huge", "mae-large", "msn-base", "msn-large",
    "resnet101", "resnet152", "resnet18", "resnet50", "siglip-base-224", "siglip-base-256",
    "siglip-base-384", "siglip-so400m", "vit-base",
]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def toy(name="toy-net", **changes):
    fields = dict(name=name, family="toy", builder="astrofm.backbones.resnet:build",
                  library="torchvision", arch="resnet18", hub_id=None, native_size=224,
                  feature_dim=512, num_blocks=4)
    return BackboneSpec(**{**fields, **changes})


def good_plugin():
    """Entry-point target of a well-behaved plugin."""
    return [toy("plugin-net", aliases=("plugnet",))]


def garbage_plugin():
    return [toy("fine-net"), "not a spec"]


def thief_plugin():
    return toy("resnet50")


class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint, with an installed distribution."""

    def __init__(self, name, value, package):
        self.name, self.value, self.group = name, value, registry.GROUP
        self.dist = type("Dist", (), {"name": package})()

    def load(self):
        return importlib.metadata.EntryPoint(self.name, self.value, self.group).load()


def test_builtin_names_and_aliases():
    names = backbones.list()
    assert [n for n in names if n in BUILT_IN] == sorted(BUILT_IN)
    assert backbones.list("dinov2*") == sorted(n for n in BUILT_IN if n.startswith("dinov2"))
    assert backbones.list("*-sat") == ["dinov3-7b-sat", "dinov3-large-sat"]
    assert backbones.list(library="transformers") == ["msn-base", "msn-large"]
    assert backbones.list(family="resnet") == ["resnet101", "resnet152", "resnet18", "resnet50"]
    builtin_aliases = {a: n for a, n in backbones.aliases().items() if n in BUILT_IN}
    assert builtin_aliases == {
        "am-radio": "am-radio-base", "dinov1": "dinov1-base-16", "dinov2": "dinov2-base",
        "dinov2-reg": "dinov2-base-reg", "dinov3": "dinov3-base", "dinov3-sat": "dinov3-large-sat",
        "mae": "mae-base", "msn": "msn-base", "siglip": "siglip-base-224", "vit": "vit-base",
    }


def test_get_normalises_names_and_resolves_aliases():
    assert backbones.get("DINOv2_Small").name == "dinov2-small"
    assert backbones.get(" dinov2 ").name == "dinov2-base"
    spec = backbones.get("resnet50")
    assert backbones.get(spec) is spec


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownNameError, match="dinov2-small") as info:
        backbones.get("dinov2-smal")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ConfigError)
    assert "astrofm.backbones.list()" in str(info.value)
    with pytest.raises(UnknownNameError, match="resnet50"):
        backbones.load("resnet05", weights=None)
    with pytest.raises(ConfigError, match="string"):
        backbones.get(50)


def test_register_override_unregister(fresh_registry):
    spec = backbones.register(toy(aliases=("tn",)))
    assert backbones.get("tn") is spec and "toy-net" in backbones.list()
    with pytest.raises(ConfigError, match="already registered"):
        backbones.register(toy())
    with pytest.raises(ConfigError, match="already registered"):
        backbones.register(toy("other-net", aliases=("tn",)))
    with pytest.raises(ConfigError, match="already registered"):
        backbones.register(toy("dinov2"))  # an alias is a name too
    replaced = backbones.register(toy(feature_dim=7), override=True)
    assert backbones.get("toy-net").feature_dim == 7 and replaced.aliases == ()
    assert "tn" not in backbones.aliases()
    assert backbones.unregister("toy-net") is replaced
    assert "toy-net" not in backbones.list()
    with pytest.raises(ConfigError, match="BackboneSpec"):
        backbones.register("toy-net")


def test_refresh_forgets_runtime_registrations(fresh_registry):
    backbones.register(toy())
    backbones.refresh()
    assert "toy-net" not in backbones.list() and "resnet50" in backbones.list()


def test_builder_failures_are_backbone_errors(fresh_registry):
    backbones.register(toy("returns-none", builder=lambda spec, weights, **o: None))
    with pytest.raises(BackboneError, match="not an astrofm Backbone"):
        backbones.load("returns-none", weights=None)
    with pytest.raises(BackboneError, match="depht"):
        backbones.load("dinov2-small", weights=None, depht=2)
    with pytest.raises(ConfigError, match="not ViTMSNConfig fields"):
        backbones.load("msn-base", weights=None, depth=2)


def test_plugins_are_discovered_and_broken_ones_skipped(fresh_registry, monkeypatch):
    real = list(importlib.metadata.entry_points(group=registry.GROUP))
    fakes = [
        FakeEntryPoint("broken", "astrofm_no_such_plugin.models:specs", "broken-astro-plugin"),
        FakeEntryPoint("garbage", f"{__name__}:garbage_plugin", "garbage-plugin"),
        FakeEntryPoint("thief", f"{__name__}:thief_plugin", "thief-plugin"),
        FakeEntryPoint("good", f"{__name__}:good_plugin", "good-plugin"),
    ]

    def entry_points(**kwargs):
        assert kwargs == {"group": registry.GROUP}
        return real + fakes

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with pytest.warns(PluginWarning) as caught:
        names = backbones.list()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3
    assert any("'broken'" in m and "broken-astro-plugin" in m and "ModuleNotFoundError" in m
               for m in messages)
    assert any("garbage-plugin" in m and "BackboneSpec" in m for m in messages)
    assert any("thief-plugin" in m and "resnet50" in m for m in messages)
    assert "plugin-net" in names and backbones.get("plugnet").name == "plugin-net"
    assert "fine-net" not in names  # a plugin returning garbage is skipped whole
    assert set(BUILT_IN) <= set(names)
    assert backbones.get("resnet50").family == "resnet"


def test_builtins_without_installed_entry_points(fresh_registry, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    assert set(BUILT_IN) <= set(backbones.list())

    def unreadable(**kw):
        raise RuntimeError("corrupt metadata")

    registry.refresh()
    monkeypatch.setattr(importlib.metadata, "entry_points", unreadable)
    with pytest.warns(PluginWarning, match="corrupt metadata"):
        assert set(BUILT_IN) <= set(backbones.list())


def test_pyproject_declares_every_builtin_family():
    table = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][registry.GROUP]
    assert table == {f: f"astrofm.backbones.{f}:specs" for f in registry.BUILTIN_FAMILIES}
    installed = {ep.name for ep in importlib.metadata.entry_points(group=registry.GROUP)
                 if ep.dist is not None and ep.dist.name == "astrofm"}
    assert installed == set(registry.BUILTIN_FAMILIES), "re-run pip install -e ."


def test_import_is_light_and_discovers_nothing():
    code = (
        "import sys, astrofm, astrofm.backbones as b\n"
        "from astrofm.backbones import registry\n"
        "print(registry._state['discovered'], 'timm' in sys.modules)\n"
        "b.list()\n"
        "print('timm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "False"]
