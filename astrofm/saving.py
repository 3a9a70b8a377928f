"""The saved-model format shared by classifiers and detectors.

A saved model is one ``.astrofm`` file: a safetensors file whose tensors are the
trained weights (adapters, heads, and the backbone when it was fine-tuned) and whose
metadata holds a JSON description (kind of model, backbone name and weights reference,
head, class names, the exact preprocessing) and a digest of the tensors. One file,
written atomically, readable without executing code (safetensors holds no pickles).
Reading checks everything before a model is rebuilt: the format version, the fields the
kind's description needs, and the digest, so a damaged or edited file is refused with
a :class:`~astrofm.errors.FileFormatError` that names it.

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

from astrofm.errors import (
    AstrofmError,
    ConfigError,
    FileFormatError,
    InputFileError,
    UnknownNameError,
    WeightsError,
)

__all__ = ["SUFFIX", "save_model", "read_model", "load_model", "register_kind",
           "is_saved_model", "load_stored", "weights_digest", "check_weights"]

SUFFIX = ".astrofm"
_FORMAT = "astrofm-model"
# 2: the metadata holds a digest of the stored tensors.
_VERSION = 2
_KINDS = {
    "classifier": "astrofm.classify:Classifier",
    "detector": "astrofm.detect:Detector",
}
_TEXT, _OPTIONAL_TEXT = (str,), (str, type(None))
# The description each kind's from_saved reads, field by field, with its JSON types.
_FIELDS = {
    "classifier": {
        "model": _TEXT, "weights": _OPTIONAL_TEXT, "weights_origin": _TEXT,
        "build_options": (dict,),
        "backbone_included": (bool,), "backbone_digest": _OPTIONAL_TEXT, "tuning": _TEXT,
        "head": _TEXT, "head_config": (dict,), "in_dim": (int,), "pooling": _TEXT,
        "scaler": (bool,), "classes": (list,), "preprocessing": (dict,), "options": (dict,),
    },
    "detector": {
        "model": _TEXT, "weights": _OPTIONAL_TEXT, "weights_origin": _TEXT,
        "backbone_options": (dict,),
        "backbone_digest": _OPTIONAL_TEXT, "tuning": _TEXT, "tuning_options": (dict,),
        "classes": (list,), "min_patches": (int,), "prior": (dict,),
        "preprocessing": (dict,), "network": (dict,),
    },
}
_RESAVE = "the file is damaged or was edited; save the model again"


def register_kind(kind: str, target: str, fields: dict | None = None) -> None:
    """Say which class rebuilds saved models of ``kind``.

    Parameters
    ----------
    kind : str
        Name of the kind, stored in each file.
    target : str
        The class, as ``"module:Class"``; its ``from_saved(config, tensors)`` rebuilds
        the model.
    fields : dict of str to tuple of type, optional
        Fields the description must hold, with their allowed JSON types; checked
        before ``from_saved`` is called.
    """
    _KINDS[kind] = target
    _FIELDS[kind] = dict(fields or {})


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
    from astrofm.features.fingerprint import tensors_digest
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
    state = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {"format": _FORMAT, "version": str(_VERSION), "kind": kind,
                "astrofm": __version__, "config": text, "tensors_digest": tensors_digest(state)}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return path


def read_model(path) -> tuple[str, dict, dict]:
    """Read a saved model: its kind, description and tensors, all checked.

    Raises :class:`~astrofm.errors.FileFormatError` naming the file for anything but
    a complete model of a known version: a truncated or edited file, a description
    that is not JSON or lacks the fields of its kind, tensors that differ from those
    saved.
    """
    from safetensors import SafetensorError, safe_open

    from astrofm.features.fingerprint import tensors_digest

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
    _check_version(path, metadata)
    kind = metadata.get("kind")
    if not kind:
        raise FileFormatError(f"{path}: the metadata names no model kind; {_RESAVE}.")
    if metadata.get("tensors_digest") != tensors_digest(tensors):
        raise FileFormatError(f"{path}: the stored tensors differ from those saved (their "
                              f"digest does not match); {_RESAVE}.")
    config = _description(path, metadata.get("config"))
    if kind in _FIELDS:
        _check_fields(path, kind, config)
    return kind, config, tensors


def _check_version(path: Path, metadata: dict) -> None:
    text, written_by = metadata.get("version"), metadata.get("astrofm", "an unknown version")
    try:
        version = int(text)
    except (TypeError, ValueError) as err:
        raise FileFormatError(f"{path}: the format version {text!r} is not a whole number; "
                              f"{_RESAVE}.") from err
    if version > _VERSION:
        raise FileFormatError(f"{path}: saved by a newer astrofm ({written_by}, format "
                              f"{version}); upgrade astrofm to read it.")
    if version < _VERSION:
        raise FileFormatError(f"{path}: saved by astrofm {written_by} in format {version}, "
                              f"which this astrofm (format {_VERSION}) does not read; load it "
                              "with that version and save it again with this one.")


def _description(path: Path, text) -> dict:
    if text is None:
        raise FileFormatError(f"{path}: the metadata holds no model description; {_RESAVE}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise FileFormatError(f"{path}: the model description is not valid JSON ({err}); "
                              f"{_RESAVE}.") from err
    if not isinstance(config, dict):
        raise FileFormatError(f"{path}: the model description is a JSON "
                              f"{type(config).__name__}, not an object; {_RESAVE}.")
    return config


def _check_fields(path: Path, kind: str, config: dict) -> None:
    fields = _FIELDS[kind]
    missing = [name for name in fields if name not in config]
    wrong = [f"{name} is {type(config[name]).__name__}" for name, types in fields.items()
             if name in config and not isinstance(config[name], types)]
    if missing or wrong:
        problems = ([f"missing fields {', '.join(missing)}"] if missing else []) + wrong
        raise FileFormatError(f"{path}: not a valid saved {kind} ({'; '.join(problems)}); the "
                              f"file is damaged, was edited, or holds another kind of model. "
                              "Save the model again.")


def load_model(path):
    """Rebuild a saved classifier or detector.

    Errors in rebuilding name the file: a :class:`~astrofm.errors.WeightsError` when
    the backbone weights it refers to are missing or changed, an
    :class:`~astrofm.errors.UnknownNameError` when its backbone is not installed, and
    a :class:`~astrofm.errors.FileFormatError` when the file does not describe a model
    that can be rebuilt.
    """
    kind, config, tensors = read_model(path)
    if kind not in _KINDS:
        raise UnknownNameError(f"{path}: model kind {kind!r} is not known to this astrofm; "
                               f"known: {sorted(_KINDS)}.")
    module, _, name = _KINDS[kind].partition(":")
    target = getattr(import_module(module), name)
    try:
        return target.from_saved(config, tensors)
    except (WeightsError, UnknownNameError) as err:
        # The fix lies outside the file (a weights file, a plugin): the kind of error stays.
        raise type(err)(f"{path}: {err}") from err
    except AstrofmError as err:
        raise FileFormatError(f"{path}: the saved {kind} cannot be rebuilt: {err} The file "
                              "is damaged, was edited, or was saved by another astrofm "
                              "version; save the model again.") from err


def load_stored(module, state: dict, what: str, stored=None) -> None:
    """Load a saved model's tensors into a rebuilt module, strictly.

    Parameters
    ----------
    module : torch.nn.Module
        The rebuilt module.
    state : dict of str to torch.Tensor
        The tensors the file holds for it.
    what : str
        The module's name, for the message (``"head"``, ``"network"``).
    stored : callable, optional
        Says which of the module's tensor names the file holds (default: all); the
        others keep the values the module was built with.

    Raises
    ------
    FileFormatError
        When a tensor is missing, unexpected or of another shape.
    """
    from astrofm.backbones.weights import describe_mismatch, shapes

    expected = {k: v for k, v in shapes(module.state_dict()).items()
                if stored is None or stored(k)}
    problem = describe_mismatch(expected, shapes(state))
    if problem:
        raise FileFormatError(f"the stored tensors of the {what} do not fit the {what} "
                              f"rebuilt from the saved description: {problem}.")
    module.load_state_dict(state, strict=stored is None)


def weights_digest(backbone) -> str:
    """Digest of a backbone's own weights (not its LoRA adapters), for :func:`check_weights`."""
    from astrofm.features.fingerprint import backbone_digest

    return backbone_digest(backbone, skip_lora=True)


def check_weights(backbone, weights, expected: str, kind: str) -> None:
    """Check that a rebuilt backbone has the weights a saved model was trained with.

    Parameters
    ----------
    backbone : Backbone
        Rebuilt from the weights reference ``weights``.
    weights : str
        The reference (a file or ``"pretrained"``), for the message.
    expected : str
        :func:`weights_digest` recorded at save time.
    kind : str
        The kind of model, for the message.

    Raises
    ------
    WeightsError
        When the digests differ.
    """
    found = weights_digest(backbone)
    if found != expected:
        raise WeightsError(
            f"the backbone weights {weights!r} differ from those this {kind} was trained "
            f"with (digest {found}, expected {expected}); restore the weights file it was "
            "trained with at that path, or retrain the model on these weights."
        )
