"""Checks of run-time options, made before any compute.

The API entry points (:func:`astrofm.embed`, :class:`~astrofm.classify.Classifier`,
:class:`~astrofm.detect.Detector`) and the ``astrofm`` command call these, so a bad
device, precision, worker count, tile or figure name fails at once with a
:class:`~astrofm.errors.ConfigError` naming the option and what it accepts, instead
of a third-party traceback after minutes of work.
"""

from __future__ import annotations

import functools
import math
import numbers
import tempfile
import typing
from pathlib import Path

from astrofm.errors import ConfigError

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "check_accelerator", "check_precision", "check_torch_device", "check_loop",
           "check_devices", "check_strategy",
           "parse_tile", "check_figure_path", "figure_formats", "check_writable",
           "cannot_write"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(value, option: str) -> int:
    """``value`` as an int, or ConfigError naming ``option`` unless it is an int >= 1."""
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{option}={value!r}: give a positive whole number.")
    return int(value)


def non_negative_int(value, option: str) -> int:
    """``value`` as an int, or ConfigError naming ``option`` unless it is an int >= 0."""
    if not _is_int(value) or value < 0:
        raise ConfigError(f"{option}={value!r}: give a whole number of at least 0.")
    return int(value)


def _real(value, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{option}={value!r}: give a finite number.")
    return float(value)


def positive_float(value, option: str) -> float:
    """``value`` as a float, or ConfigError naming ``option`` unless finite and > 0."""
    if _real(value, option) <= 0:
        raise ConfigError(f"{option}={value!r}: give a number above 0.")
    return float(value)


def non_negative_float(value, option: str) -> float:
    """``value`` as a float, or ConfigError naming ``option`` unless finite and >= 0."""
    if _real(value, option) < 0:
        raise ConfigError(f"{option}={value!r}: give a number of at least 0.")
    return float(value)


def _flatten(hint) -> list:
    args = typing.get_args(hint)
    return [v for a in args for v in _flatten(a)] if args else [hint]


def check_accelerator(device, option: str = "device"):
    """Check a Lightning ``accelerator``: a known name whose hardware is visible here.

    Accelerator objects pass unchecked; names are those of Lightning's accelerator
    registry, plus ``"auto"`` and ``"gpu"``.

    Returns
    -------
    The same value.
    """
    # The default passes without loading Lightning, so that a command's other checks
    # report in a second.
    if not isinstance(device, str) or device == "auto":
        return device
    from lightning.pytorch.accelerators import AcceleratorRegistry, CUDAAccelerator, MPSAccelerator

    names = sorted({"auto", "gpu", *AcceleratorRegistry.available_accelerators()})
    if device not in names:
        raise ConfigError(f"{option}={device!r}: not a device; choose one of {names}.")
    kinds = ((CUDAAccelerator, MPSAccelerator) if device == "gpu"
             else (AcceleratorRegistry[device]["accelerator"],))
    if not any(kind.is_available() for kind in kinds):
        what = "CUDA" if device in ("cuda", "gpu") else device.upper()
        raise ConfigError(f"{option}={device!r}: no {what} device is visible on this machine; "
                          "use cpu (or auto, which picks what is there).")
    return device


def check_precision(precision, option: str = "precision"):
    """Check a Lightning ``precision`` value (None, Lightning's default, passes)."""
    if precision is None:
        return None
    from lightning.pytorch.trainer.connectors.accelerator_connector import _PRECISION_INPUT

    allowed = _flatten(_PRECISION_INPUT)
    if precision not in allowed:
        names = [str(v) for v in allowed if isinstance(v, str)]
        raise ConfigError(f"{option}={precision!r}: not a precision; choose one of {names}.")
    return precision


def check_devices(devices, option: str = "devices"):
    """Check Lightning's ``devices``: ``"auto"``, a count, -1 (all), or a list of indices.

    Strings of digits and comma-separated indices (``"2"``, ``"0,1"``) pass, as the
    command line gives them; Lightning reads them itself.

    Returns
    -------
    The value, with a count given as a string turned into an int.
    """
    if devices == "auto" or (isinstance(devices, (list, tuple)) and devices
                             and all(_is_int(d) and d >= 0 for d in devices)):
        return devices
    if isinstance(devices, str):
        text = devices.strip()
        if text.lstrip("-").isdigit():
            devices = int(text)
        elif text and all(part.strip().isdigit() for part in text.rstrip(",").split(",")):
            return devices
    if _is_int(devices) and (devices >= 1 or devices == -1):
        return int(devices)
    raise ConfigError(f"devices={devices!r}: give 'auto', a number of devices per node "
                      "(-1 for all), or a list of device indices such as 0,1.")


def check_strategy(strategy, option: str = "strategy"):
    """Check a Lightning ``strategy``: ``"auto"``, a registered name, or a Strategy object.

    Returns
    -------
    The same value.
    """
    if not isinstance(strategy, str) or strategy == "auto":
        return strategy
    from lightning.pytorch.strategies import StrategyRegistry

    names = StrategyRegistry.available_strategies()
    if strategy not in names:
        common = [n for n in ("auto", "ddp", "ddp_spawn", "fsdp", "deepspeed") if n == "auto"
                  or n in names]
        raise ConfigError(f"{option}={strategy!r}: not a Lightning strategy; use one of "
                          f"{common} (all: lightning.pytorch.strategies.StrategyRegistry).")
    return strategy


def check_loop(*, device="auto", precision=None, num_workers=0, devices="auto", num_nodes=1,
               strategy="auto"):
    """Check the options every Lightning loop of astrofm takes, naming the one at fault.

    Returns
    -------
    dict
        ``devices``, ``num_nodes`` and ``strategy`` as Lightning takes them (a count
        given as a string becomes an int).
    """
    non_negative_int(num_workers, "num_workers")
    check_precision(precision)
    check_accelerator(device)
    return {"devices": check_devices(devices), "num_nodes": positive_int(num_nodes, "num_nodes"),
            "strategy": check_strategy(strategy)}


def check_torch_device(device, option: str = "device") -> str:
    """Check a torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``) for this machine."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"{option}={device!r}: not a torch device; give cpu or cuda "
                          "(cuda:N for the N-th GPU).") from err
    if parsed.type == "cpu":
        return device
    # torch.cuda, torch.xpu, torch.mps ... each say whether their hardware is there.
    module = getattr(torch, parsed.type, None)
    if module is None or not getattr(module, "is_available", lambda: False)():
        what = "CUDA" if parsed.type == "cuda" else parsed.type.upper()
        raise ConfigError(f"{option}={device!r}: no {what} device is visible on this "
                          "machine; use cpu.")
    count = module.device_count()
    if parsed.index is not None and parsed.index >= count:
        raise ConfigError(f"{option}={device!r}: this machine shows {count} {parsed.type} "
                          f"device(s); give {parsed.type}:0 to {parsed.type}:{count - 1}.")
    return device


def parse_tile(tile, option: str = "tile"):
    """A detector's tile option: ``"auto"``, None (whole image) or a positive int.

    Strings of digits are read as ints, so the value of a command-line option can be
    passed as it is.
    """
    if tile is None or tile == "auto":
        return tile
    if isinstance(tile, str) and tile.strip().isdigit():
        tile = int(tile)
    if not _is_int(tile) or tile < 1:
        raise ConfigError(f"{option}={tile!r}: give a tile side in pixels (a positive whole "
                          "number), 'auto', or the whole image (None; 'whole' on the "
                          "command line).")
    return int(tile)


@functools.lru_cache(maxsize=1)
def figure_formats() -> dict:
    """Matplotlib's figure formats, by suffix without the dot (``{"png": ...}``)."""
    from matplotlib.figure import Figure

    return Figure().canvas.get_supported_filetypes()


def check_figure_path(path, option: str) -> Path:
    """Check that a figure can be written at ``path``: a Matplotlib suffix, a writable folder.

    Raises
    ------
    ConfigError
        Naming ``option``, for a suffix Matplotlib cannot write or a path that cannot
        be written.
    """
    formats = figure_formats()
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ConfigError(f"{option}={path}: Matplotlib cannot write a figure ending in "
                          f"{path.suffix or '(no suffix)'!r}; use one of "
                          f"{', '.join('.' + s for s in sorted(formats))}.")
    return check_writable(path, option)


def cannot_write(path, err: OSError, option: str | None = None) -> ConfigError:
    """The error for an OSError met writing ``path``: names the file (and ``option``)."""
    name = f"{option}={path}" if option else str(path)
    return ConfigError(f"{name}: cannot write this file ({err.strerror or err}); choose a "
                       "path in a folder you can write to.")


def check_writable(path, option: str) -> Path:
    """Check, leaving nothing behind, that a file can be written at ``path``.

    The nearest existing folder on the way to ``path`` must be a folder in which a file
    can be created (:func:`~astrofm.features.store.atomic_path` makes the missing
    folders below it), and ``path`` must not be a folder itself. Called before any
    compute, so a run does not end by failing to save what it computed.

    Parameters
    ----------
    path : str or path
        The file to be written.
    option : str
        The argument or command-line option that gave ``path``, for the message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ConfigError
        Naming ``option`` and ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option}={path}: is a folder; give a file name inside it.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{option}={path}: {folder} is a file, not a folder; choose "
                          "another path.")
    try:
        # A real probe: permission bits say nothing for root or on a read-only mount.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise cannot_write(path, err, option) from err
    return path
