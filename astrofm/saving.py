"""The saved-model format shared by classifiers and detectors.

A saved model is one ``.astrofm`` file: a safetensors file whose tensors are the
trained weights (adapters, heads, and the backbone when it was fine-tuned) and whose
metadata holds a JSON description (kind of model, backbone name and weights reference,
head, class names, the exact preprocessing). One file, written atomically, readable
without executing code (safetensors holds no pickles).

Each kind of model registers how it is rebuilt::

    register_kind("classifier", "astrofm.classify:Classifier")

and :func:`load_model` (also ``astrofm.load("model.astrofm")``) calls that class's
``from_saved(config, tensors)``.
"""

from __future__ import annotations

import json
import os
from importlib import import_module
from pathlib import Path

from astrofm.errors import ConfigError, FileFormatError, InputFileError, UnknownNameError

__all__ = ["SUFFIX", "save_model", "read_model", "load_model", "register_kind",
           "is_saved_model"]

SUFFIX = ".astrofm"
_FORMAT = "astrofm-model"
_VERSION = 1
_KINDS = {
    "classifier": "astrofm.classify:Classifier",
    "detector": "astrofm.detect:Detector",
}


def register_kind(kind: str, target: str) -> None:
    """Say which class rebuilds saved models of ``kind`` (``"module:Class"``)."""
    _KINDS[kind] = target


def is_saved_model(path) -> bool:
    """True for a path that names a saved astrofm model (by its suffix)."""
    return isinstance(path, str | os.PathLike) and str(path).endswith(SUFFIX)


def save_model(path, kind: str, config: dict, tensors: dict) -> Path:
    """Write a model atomically.

    Parameters
    ----------
    path : str or path
        Target file; must end in ``.astrofm``.
    kind : str
        A registered kind (``"classifier"``, ``"detector"``).
    config : dict
        JSON-able description needed to rebuild the model.
    tensors : dict of str to torch.Tensor
        The weights to store.

    Returns
    -------
    pathlib.Path
    """
    from safetensors.torch import save_file

    from astrofm import __version__
    from astrofm.features.store import atomic_path

    path = Path(path)
    if path.suffix != SUFFIX:
        raise ConfigError(f"save: {path.name!r} must end in {SUFFIX!r}.")
    if kind not in _KINDS:
        raise UnknownNameError(f"unknown model kind {kind!r}; known: {sorted(_KINDS)}.")
    try:
        text = json.dumps(config)
    except TypeError as err:
        raise ConfigError(f"save: the model description is not JSON-able ({err}).") from err
    metadata = {"format": _FORMAT, "version": str(_VERSION), "kind": kind,
                "astrofm": __version__, "config": text}
    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return path


def read_model(path) -> tuple[str, dict, dict]:
    """Read a saved model: its kind, description and tensors."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such saved model; give a file written by .save().")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    except (SafetensorError, OSError, ValueError) as err:
        raise FileFormatError(f"{path}: not a readable astrofm model ({err}); it may be "
                              "truncated. Save the model again.") from err
    if metadata.get("format") != _FORMAT:
        raise FileFormatError(f"{path}: a safetensors file, but not an astrofm model; "
                              "load backbone weights with astrofm.backbones.load(weights=...).")
    if int(metadata.get("version", 0)) > _VERSION:
        raise FileFormatError(f"{path}: saved by a newer astrofm ({metadata.get('astrofm')}); "
                              "upgrade astrofm to read it.")
    return metadata["kind"], json.loads(metadata["config"]), tensors


def load_model(path):
    """Rebuild a saved classifier or detector."""
    kind, config, tensors = read_model(path)
    if kind not in _KINDS:
        raise UnknownNameError(f"{path}: model kind {kind!r} is not known to this astrofm; "
                               f"known: {sorted(_KINDS)}.")
    module, _, name = _KINDS[kind].partition(":")
    return getattr(import_module(module), name).from_saved(config, tensors)
