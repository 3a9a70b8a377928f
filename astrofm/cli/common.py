"""What the subcommand modules of the ``astrofm`` command share.

The parser class whose errors are one line, the help strings and option names that
several subcommands repeat, the ``--hdu`` argument type and the loading of a saved model
that must be of a given kind. Nothing here imports torch, so that ``astrofm --help`` and
argument errors stay fast.
"""

from __future__ import annotations

import argparse

__all__ = ["OUTPUT", "WEIGHTS_HELP", "DATA_HELP", "hdu", "load_saved", "add_placement",
           "placement"]

OUTPUT = "-o/--output"

WEIGHTS_HELP = ("'pretrained' (default: downloaded or cached), 'random' (random "
                "initialisation) or a local weights file or folder")

DATA_HELP = "a .npz file (images, labels), a folder with one sub-folder per class, or " \
    "a catalogue (.csv/.ecsv/.fits) with path and label columns"


def hdu(value: str):
    """The ``--hdu`` argument: an HDU index when ``value`` is an integer, else its name.

    Parameters
    ----------
    value : str
        The option's value on the command line.

    Returns
    -------
    int or str
    """
    return int(value) if value.lstrip("-").isdigit() else value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as astrofm's own errors are."""

    def error(self, message):
        message = " ".join(message.split())
        self.exit(2, f"astrofm: error: {message} (see '{self.prog} --help')\n")


def load_saved(path, cls, writer: str):
    """The saved model at ``path``, which must be a ``cls`` (a class or a tuple of them).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``save()`` of an astrofm model.
    cls : type or tuple of type
        The kinds of model the subcommand accepts.
    writer : str
        What writes such a file, for the error message.

    Returns
    -------
    object
        The loaded model.

    Raises
    ------
    ConfigError
        When the file holds another kind of model.
    """
    from astrofm.errors import ConfigError
    from astrofm.io import load

    model = load(path)
    kinds = cls if isinstance(cls, tuple) else (cls,)
    if not isinstance(model, kinds):
        names = " or ".join(k.__name__.lower() for k in kinds)
        raise ConfigError(f"{path}: not a saved {names}; give a file written by {writer}.")
    return model


def add_placement(parser, default=None) -> None:
    """Add the options that say where a Lightning job runs, passed to Lightning as given.

    ``--accelerator`` (also spelled ``--device``), ``--devices``, ``--num-nodes`` and
    ``--strategy``. With ``default=None`` an option left out is not passed on, so the
    API's (or a study file's) own value stays.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    default : None or "lightning"
        ``"lightning"`` gives the options Lightning's own defaults (auto, auto, 1, auto).
    """
    given = default == "lightning"
    parser.add_argument("--accelerator", "--device", dest="device",
                        default="auto" if given else None,
                        help="Lightning accelerator: auto, cpu, gpu/cuda, mps or tpu")
    parser.add_argument("--devices", default="auto" if given else None,
                        help="devices per node: a count, -1 for all, or indices such as 0,1")
    parser.add_argument("--num-nodes", type=int, default=1 if given else None,
                        help="number of nodes (machines) of a multi-node job")
    parser.add_argument("--strategy", default="auto" if given else None,
                        help="Lightning strategy, e.g. ddp, ddp_spawn, fsdp (default: auto, "
                        "which is ddp with more than one device)")


def placement(args) -> dict:
    """The placement options given on the command line, named as the API names them.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser that :func:`add_placement` extended.

    Returns
    -------
    dict
        ``device``, ``devices``, ``num_nodes`` and ``strategy``, without those left out.
    """
    return {k: v for k, v in ((k, getattr(args, k)) for k in
                              ("device", "devices", "num_nodes", "strategy")) if v is not None}
