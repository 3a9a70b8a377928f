"""The backbone registry: names to :class:`BackboneSpec`, filled from entry points.

Every backbone, built-in or third-party, arrives the same way: a package declares an
entry point in the group ``astrofm.backbones`` that names a function returning
:class:`BackboneSpec` objects::

    [project.entry-points."astrofm.backbones"]
    mymodels = "my_package.backbones:specs"

Discovery is lazy (the first :func:`list_names`, :func:`get`, :func:`load` or
:func:`register`), so ``import astrofm`` never imports a plugin. A plugin that fails to
import or returns something other than specs is skipped with a
:class:`~astrofm.errors.PluginWarning` naming it; everything else keeps working.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import threading
import warnings
from typing import Any

from astrofm.backbones.spec import BackboneSpec
from astrofm.backbones.weights import describe_weights, resolve_weights
from astrofm.errors import AstrofmError, BackboneError, ConfigError, PluginWarning, UnknownNameError

__all__ = [
    "GROUP",
    "BUILTIN_FAMILIES",
    "list_names",
    "aliases",
    "get",
    "load",
    "register",
    "unregister",
    "refresh",
]

#: Entry-point group that plugins (and astrofm itself) declare backbones in.
GROUP = "astrofm.backbones"

#: Modules of astrofm's own families. They are registered through astrofm's entry
#: points; the list is used directly only when astrofm runs from a source tree whose
#: entry points were never installed.
BUILTIN_FAMILIES = ("dinov1", "dinov2", "dinov3", "mae", "msn", "radio", "resnet", "siglip", "vit")

_specs: dict[str, BackboneSpec] = {}
_aliases: dict[str, str] = {}
_sources: dict[str, str] = {}
_state = {"discovered": False}
_lock = threading.RLock()


def _normalise(name: str) -> str:
    if not isinstance(name, str):
        raise ConfigError(f"a backbone name must be a string, not {type(name).__name__}")
    return name.strip().lower().replace("_", "-")


def _dist_name(ep) -> str | None:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) if dist is not None else None


def _discover() -> None:
    with _lock:
        if _state["discovered"]:
            return
        # Set first: a plugin that calls list_names() while loading must not recurse.
        _state["discovered"] = True
        try:
            points = list(importlib.metadata.entry_points(group=GROUP))
        except Exception as exc:  # a corrupt installed distribution must not break astrofm
            warnings.warn(
                f"cannot read the {GROUP!r} entry points ({exc}); only built-in backbones "
                f"are available",
                PluginWarning,
                stacklevel=3,
            )
            points = []
        if not any(_dist_name(ep) == "astrofm" for ep in points):
            points = [
                importlib.metadata.EntryPoint(f, f"astrofm.backbones.{f}:specs", GROUP)
                for f in BUILTIN_FAMILIES
            ] + points
        # astrofm's own first, so a plugin cannot take a built-in name.
        points.sort(key=lambda ep: (_dist_name(ep) not in ("astrofm", None), ep.name))
        for ep in points:
            _load_entry_point(ep)


def _load_entry_point(ep) -> None:
    package = _dist_name(ep) or ep.value.split(":")[0].split(".")[0]
    label = f"entry point {ep.name!r} = {ep.value!r} of package {package!r}"
    try:
        target = ep.load()
        specs = target() if callable(target) else target
        specs = [specs] if isinstance(specs, BackboneSpec) else list(specs)
        wrong = [type(s).__name__ for s in specs if not isinstance(s, BackboneSpec)]
        if wrong or not specs:
            raise TypeError(f"returned {wrong or 'nothing'} instead of BackboneSpec objects")
    except Exception as exc:  # any plugin failure: warn, skip, keep going
        warnings.warn(
            f"astrofm backbone plugin {label} failed and is skipped: "
            f"{type(exc).__name__}: {exc}",
            PluginWarning,
            stacklevel=4,
        )
        return
    for spec in specs:
        try:
            _add(spec, override=False, source=label)
        except ConfigError as exc:
            warnings.warn(f"{label}: {exc}; skipped", PluginWarning, stacklevel=4)


def _add(spec: BackboneSpec, override: bool, source: str) -> None:
    names = [spec.name, *spec.aliases]
    taken = [n for n in names if n in _specs or n in _aliases]
    if taken and not override:
        owners = {_sources.get(_aliases.get(n, n), "?") for n in taken}
        raise ConfigError(
            f"backbone name(s) {taken} already registered (by {', '.join(sorted(owners))}); "
            f"pass override=True to replace"
        )
    for n in taken:
        _remove(_aliases.get(n, n))
    _specs[spec.name] = spec
    _sources[spec.name] = source
    for alias in spec.aliases:
        _aliases[alias] = spec.name


def _remove(name: str) -> None:
    _specs.pop(name, None)
    _sources.pop(name, None)
    for alias in [a for a, target in _aliases.items() if target == name]:
        del _aliases[alias]


def list_names(
    pattern: str | None = None, *, family: str | None = None, library: str | None = None
) -> list[str]:
    """Names of the registered backbones, sorted.

    Parameters
    ----------
    pattern : str, optional
        Shell-style filter (``"dinov2*"``, ``"*-base"``).
    family : str, optional
        Keep one family (``"siglip"``).
    library : str, optional
        Keep one library (``"timm"``, ``"transformers"``, ``"torchvision"``).

    Returns
    -------
    list of str
        Canonical names; short aliases are in :func:`aliases`.
    """
    _discover()
    with _lock:
        specs = list(_specs.values())
    pattern = None if pattern is None else _normalise(pattern)
    return sorted(
        s.name
        for s in specs
        if (pattern is None or fnmatch.fnmatchcase(s.name, pattern))
        and (family is None or s.family == family)
        and (library is None or s.library == library)
    )


def aliases() -> dict[str, str]:
    """Short names and the backbone each stands for (``{"dinov2": "dinov2-base"}``)."""
    _discover()
    with _lock:
        return dict(sorted(_aliases.items()))


def get(name: str | BackboneSpec) -> BackboneSpec:
    """The spec registered under ``name`` (or an alias of it).

    Parameters
    ----------
    name : str or BackboneSpec
        Case and ``_``/``-`` are ignored; a spec is returned unchanged.

    Returns
    -------
    BackboneSpec

    Raises
    ------
    UnknownNameError
        When nothing is registered under ``name``; the message lists close names.
    """
    if isinstance(name, BackboneSpec):
        return name
    key = _normalise(name)
    _discover()
    with _lock:
        key = _aliases.get(key, key)
        if key in _specs:
            return _specs[key]
        known = [*_specs, *_aliases]
    close = difflib.get_close_matches(key, known, n=5, cutoff=0.6)
    close += [n for n in sorted(known) if n.startswith(key) and n not in close][: 5 - len(close)]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"unknown backbone {name!r}.{hint} astrofm.backbones.list() gives all "
        f"{len(known)} names and aliases"
    )


def load(name: str | BackboneSpec, weights: Any = "pretrained", *, seed: int = 0, **options):
    """Build a backbone.

    Parameters
    ----------
    name : str or BackboneSpec
        Registered name or alias (``"dinov2"``, ``"resnet50"``), or a spec.
    weights : "pretrained", str, os.PathLike, None or "random"
        ``"pretrained"`` (default): the published weights, from the hub (raises
        :class:`~astrofm.errors.WeightsError` explaining how to pass a local file when
        it is unreachable). A path: a ``.safetensors`` file, a torch checkpoint read
        with ``weights_only=True``, or a hub snapshot folder, loaded offline. None or
        ``"random"``: random initialisation, only when asked for (tests, baselines
        trained from scratch).
    seed : int
        Seed of a random initialisation, drawn without touching the caller's random
        state, so that every process (a resumed run, each rank of a distributed one)
        builds the same network.
    **options
        Architecture options for the library: ``timm.create_model`` keyword arguments
        (``depth``, ``embed_dim``, ``img_size``), transformers configuration fields
        (``num_hidden_layers``), torchvision keyword arguments. ``trust_remote_code``
        is passed on (transformers only) when, and only when, given.

    Returns
    -------
    Backbone
        In eval mode; ``backbone.spec`` describes what was built,
        ``backbone.build_options`` holds ``options`` and ``backbone.weights_origin``
        says where the weights came from (:func:`~astrofm.backbones.weights.describe_weights`).
    """
    import torch

    from astrofm.backbones.backbone import Backbone

    spec = get(name)
    resolved = resolve_weights(weights)
    builder = spec.resolve_builder()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = builder(spec, resolved, **options)
    except AstrofmError:
        raise
    except Exception as exc:  # library errors for bad options come in every type
        raise BackboneError(
            f"cannot build backbone {spec.name!r} ({spec.library} {spec.arch}) with options "
            f"{options}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(backbone, Backbone):
        raise BackboneError(
            f"the builder of backbone {spec.name!r} returned {type(backbone).__name__}, not "
            f"an astrofm Backbone"
        )
    # Kept so that a saved classifier or detector holding this module can rebuild it.
    backbone.build_options = dict(options)
    backbone.weights_origin = describe_weights(resolved, seed if resolved is None else None)
    return backbone


def register(spec: BackboneSpec, *, override: bool = False) -> BackboneSpec:
    """Add a spec at run time (plugins use entry points instead).

    Parameters
    ----------
    spec : BackboneSpec
        The spec; its name and aliases must be free.
    override : bool
        Replace whatever holds the name or an alias.

    Returns
    -------
    BackboneSpec
        ``spec``, so that it can be used as ``SPEC = register(BackboneSpec(...))``.
    """
    if not isinstance(spec, BackboneSpec):
        raise ConfigError(f"register() takes a BackboneSpec, not {type(spec).__name__}")
    _discover()
    with _lock:
        _add(spec, override=override, source="register()")
    return spec


def unregister(name: str) -> BackboneSpec:
    """Remove a backbone and its aliases; returns its spec."""
    spec = get(name)
    with _lock:
        _remove(spec.name)
    return spec


def refresh() -> None:
    """Forget every spec, runtime registrations included; entry points are read again
    on next use (after installing a plugin in a running session, say)."""
    with _lock:
        _specs.clear()
        _aliases.clear()
        _sources.clear()
        _state["discovered"] = False
