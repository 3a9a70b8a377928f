"""Where backbone weights come from: nothing, the hub, or a local file or folder.

``"pretrained"`` (the default everywhere) asks the library to fetch the published
weights (timm and transformers from the Hugging Face hub, torchvision from
download.pytorch.org); a path loads offline from

* a ``.safetensors`` file,
* a checkpoint read with ``torch.load(weights_only=True)`` (``.pt``, ``.pth``, ``.bin``,
  ``.ckpt``), optionally wrapped as ``{"state_dict": ...}`` or ``{"model": ...}``,
* a folder as the hub caches it: a snapshot folder holding ``model.safetensors`` or
  ``pytorch_model.bin``, or the repository folder ``models--org--name`` above it.

Random initialisation is for tests and baselines trained from scratch, and must be asked
for: ``weights=None`` or ``"random"``. It is seeded, so every process builds the same
network, and outputs record it (:func:`describe_weights`).

Every failure is a :class:`~astrofm.errors.WeightsError` that names the file and says
what to do; an unreachable hub explains how to pass a local file instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from astrofm.errors import ConfigError, WeightsError

__all__ = [
    "RANDOM",
    "WEIGHT_FILES",
    "describe_weights",
    "weights_note",
    "resolve_weights",
    "snapshot_folder",
    "weights_file",
    "read_state_dict",
    "match_prefix",
    "describe_mismatch",
    "load_checked",
    "unreadable_weights",
    "hub_errors",
    "is_hub_error",
]

#: File names looked for in a hub snapshot folder, best first.
WEIGHT_FILES = (
    "model.safetensors",
    "open_clip_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
    "model.pth",
    "model.pt",
)

#: The spelling of random initialisation on the command line and in study files.
RANDOM = "random"

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "teacher")
_NETWORK_MODULES = {"httpx", "httpx2", "requests", "urllib3", "huggingface_hub", "socket"}


def resolve_weights(weights: Any) -> None | str | Path:
    """Check the ``weights`` argument of :func:`astrofm.backbones.load`.

    Parameters
    ----------
    weights : None, "random", "pretrained", str or os.PathLike
        Random initialisation (None or ``"random"``), the published weights, or a local
        file or folder.

    Returns
    -------
    None, "pretrained" or pathlib.Path
        None for random initialisation; the path is absolute and exists.
    """
    if weights is None or weights == RANDOM:
        return None
    if weights == "pretrained":
        return weights
    if not isinstance(weights, str | os.PathLike):
        raise ConfigError(
            f"weights must be 'pretrained', a path to a local file or folder, or None "
            f"(or 'random') for random initialisation, not {weights!r}"
        )
    path = Path(weights).expanduser()
    if not path.exists():
        raise WeightsError(
            f"weights file or folder {str(path)!r} does not exist; pass weights=None for "
            f"random initialisation, 'pretrained' for the published weights, or the path "
            f"of a .safetensors file, a torch checkpoint or a hub snapshot folder"
        )
    return path.resolve()


def describe_weights(weights: Any, seed: int | None = None) -> str:
    """How a backbone's weights were obtained, as recorded in every output.

    Parameters
    ----------
    weights : None, "random", "pretrained", str or os.PathLike
        As given to :func:`astrofm.backbones.load`.
    seed : int, optional
        The seed of a random initialisation.

    Returns
    -------
    str
        ``"random (seed 0)"``, ``"pretrained"`` or the path of the weights.
    """
    if weights is None or weights == RANDOM:
        return RANDOM if seed is None else f"{RANDOM} (seed {seed})"
    return os.fspath(weights)


def weights_note(origin: str) -> str:
    """``origin`` (from :func:`describe_weights`) with a warning when it is random.

    Scores of a randomly initialised backbone say nothing about the pretrained model,
    so every report says so plainly.
    """
    if origin.startswith(RANDOM):
        return (f"{origin} -- randomly initialised, NOT pretrained: these figures say "
                "nothing about the foundation model")
    return origin


def snapshot_folder(path: Path) -> Path:
    """The folder that holds the files of a hub repository.

    Parameters
    ----------
    path : pathlib.Path
        A snapshot folder itself, or a hub cache repository folder
        (``models--org--name``) whose ``snapshots/`` holds one folder per revision.

    Returns
    -------
    pathlib.Path
        The revision ``refs/main`` points at, else the most recently modified snapshot,
        else ``path`` itself.
    """
    snapshots = path / "snapshots"
    if not snapshots.is_dir():
        return path
    ref = path / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    revisions = sorted(
        (p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    if not revisions:
        raise WeightsError(f"hub cache folder {str(path)!r} holds no snapshot")
    return revisions[-1]


def weights_file(path: Path) -> Path:
    """The weights file to read for ``path``: the file itself, or the one in a folder."""
    if path.is_file():
        return path
    folder = snapshot_folder(path)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p.name for p in folder.glob("*.safetensors")) + sorted(
        p.name for p in folder.glob("*.bin")
    )
    if len(found) == 1:
        return folder / found[0]
    raise WeightsError(
        f"found no single weights file in folder {str(folder)!r} (looked for "
        f"{', '.join(WEIGHT_FILES)}; found {found or 'none'}); pass the file itself, e.g. "
        f"weights='{folder / 'model.safetensors'}'"
    )


def read_state_dict(path: Path) -> dict[str, Any]:
    """Read a state dict from a file or hub folder without running pickled code.

    Parameters
    ----------
    path : pathlib.Path
        A ``.safetensors`` file, a torch checkpoint or a folder (see :func:`weights_file`).

    Returns
    -------
    dict of str to torch.Tensor
        The tensors, unwrapped from ``{"state_dict": ...}``-style containers and with a
        ``module.`` (DDP) or ``_orig_mod.`` (``torch.compile``) prefix removed.
    """
    import torch

    file = weights_file(Path(path))
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            checkpoint = load_file(str(file), device="cpu")
        else:
            checkpoint = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable formats raise many types; all mean the same
        # torch's own text advises unsafe loading, so astrofm's replaces it (kept as cause).
        raise unreadable_weights(file) from exc
    state = _unwrap(checkpoint)
    if state is None:
        raise WeightsError(
            f"{str(file)!r} holds no state dict (a mapping of parameter names to tensors), "
            f"nor one under any of the keys {_WRAPPER_KEYS}"
        )
    for prefix in ("module.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def unreadable_weights(file: Path | str) -> WeightsError:
    """The error for a weights file that is no format astrofm reads.

    Parameters
    ----------
    file : pathlib.Path or str
        The file, for the message.

    Returns
    -------
    WeightsError
        To be raised from the reader's exception, which is kept as its cause.
    """
    return WeightsError(
        f"cannot read weights from {str(file)!r}: it is neither a .safetensors file nor a "
        f"torch checkpoint of plain tensors (it may be truncated or of another format, or "
        f"hold pickled Python objects, which astrofm never loads because that can run code). "
        f"astrofm reads .safetensors files, torch checkpoints (.pt, .pth, .bin, .ckpt) holding "
        f"only tensors, possibly in dicts such as {{'state_dict': ...}}, and hub snapshot "
        f"folders; convert the weights, e.g. with safetensors.torch.save_file(state_dict, "
        f"'model.safetensors')"
    )


def _unwrap(checkpoint: Any) -> dict[str, Any] | None:
    import torch

    if not isinstance(checkpoint, Mapping):
        return None
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return dict(checkpoint)
    for key in _WRAPPER_KEYS:
        if key in checkpoint:
            inner = _unwrap(checkpoint[key])
            if inner is not None:
                return inner
    return None


def match_prefix(state: dict[str, Any], expected: set[str]) -> dict[str, Any]:
    """Drop a leading prefix (``"backbone.model."``) when that makes keys match better.

    A checkpoint saved from a training module nests the backbone's keys under its
    attribute names; the prefix that yields most of the ``expected`` keys is removed and
    keys outside it are dropped. A state dict that already matches is returned as is.
    """
    best, best_hits = "", len(expected & state.keys())
    if best_hits == len(expected):
        return state
    candidates = set()
    for key in state.keys() - expected:
        parts = key.split(".")
        candidates.update(".".join(parts[:i]) + "." for i in range(1, len(parts)))
    for prefix in sorted(candidates):
        hits = sum(1 for k in state if k.startswith(prefix) and k[len(prefix):] in expected)
        if hits > best_hits:
            best, best_hits = prefix, hits
    if not best:
        return state
    return {k[len(best):]: v for k, v in state.items() if k.startswith(best)}


def describe_mismatch(
    expected: Mapping[str, tuple[int, ...]], got: Mapping[str, tuple[int, ...]], limit: int = 5
) -> str:
    """Say which keys are missing, unexpected or of the wrong shape ('' if none)."""

    def first(keys):
        keys = sorted(keys)
        more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
        return ", ".join(keys[:limit]) + more

    missing = expected.keys() - got.keys()
    unexpected = got.keys() - expected.keys()
    shapes = [
        f"{k} {tuple(got[k])} vs {tuple(expected[k])} expected"
        for k in sorted(expected.keys() & got.keys())
        if tuple(got[k]) != tuple(expected[k])
    ]
    parts = []
    if missing:
        parts.append(f"missing keys: {first(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {first(unexpected)}")
    if shapes:
        more = f" (+{len(shapes) - limit} more)" if len(shapes) > limit else ""
        parts.append(f"wrong shapes: {'; '.join(shapes[:limit])}{more}")
    return "; ".join(parts)


def shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Parameter name to shape, for :func:`describe_mismatch`."""
    return {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def load_checked(model, state: dict[str, Any], source: Path | str, name: str) -> None:
    """Load ``state`` into ``model`` strictly, or raise a WeightsError naming the keys.

    Parameters
    ----------
    model : torch.nn.Module
        Model to fill in place.
    state : dict
        State dict read from ``source``.
    source : pathlib.Path or str
        Where the state came from, for the message.
    name : str
        Backbone name, for the message.
    """
    expected = model.state_dict()
    state = match_prefix(state, set(expected))
    problem = describe_mismatch(shapes(expected), shapes(state))
    if problem:
        raise WeightsError(
            f"weights in {str(source)!r} do not fit backbone {name!r}: {problem}. Check that "
            f"the file belongs to this architecture and that the options (depth, size ...) "
            f"match those it was saved with"
        )
    model.load_state_dict(state, strict=True)


def is_hub_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) says a download failed or was not allowed."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError):  # ConnectionError, URLError, LocalEntryNotFoundError ...
            return True
        if any(c.__module__.split(".")[0] in _NETWORK_MODULES for c in type(exc).__mro__):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def hub_errors(spec, download_hint: str) -> Iterator[None]:
    """Turn a failed download of ``spec``'s weights into an explanatory WeightsError.

    Parameters
    ----------
    spec : BackboneSpec
        The backbone whose weights are fetched.
    download_hint : str
        How to fetch the weights on a machine that has network access.
    """
    try:
        yield
    except WeightsError:
        raise
    except Exception as exc:
        if not is_hub_error(exc):
            raise
        raise WeightsError(
            f"cannot fetch the pretrained weights of {spec.name!r} ({spec.hub_id}): "
            f"{type(exc).__name__}: {exc}. The hub is unreachable or offline mode is on. "
            f"{download_hint}, then pass the local copy: astrofm.backbones.load("
            f"{spec.name!r}, weights='path/to/model.safetensors') -- a .safetensors file, "
            f"a torch checkpoint (.pt/.pth/.bin) or the downloaded hub folder"
        ) from exc
