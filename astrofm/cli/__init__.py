"""The ``astrofm`` console script.

Each subcommand mirrors a library call; ``astrofm --help`` lists them. One module per
group of subcommands adds their parsers and holds their handlers; the handlers import
torch and the rest of astrofm only when they run, so that ``--help`` and argument errors
stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from astrofm import __version__
from astrofm.cli import detect, discover, embed, info, pretrain, study, train
from astrofm.cli.common import _Parser
from astrofm.errors import AstrofmError
from astrofm.trainer import shutdown

__all__ = ["main", "build_parser"]

# In the order of `astrofm --help`.
_GROUPS = (info, embed, train, detect, study, discover, pretrain)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astrofm`` command, with one sub-parser per subcommand."""
    parser = _Parser(
        prog="astrofm",
        description="Adapt astronomical images to vision foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"astrofm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    # astrofm's own progress notes (a resumed run, skipped cells) reach the terminal;
    # other libraries stay at warnings.
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("astrofm").setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            # Lightning's own use of a deprecated torch API, repeated on every fit:
            # nothing a user can act on.
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
            status = args.func(args)
        shutdown()
        return status
    except AstrofmError as err:
        print(f"astrofm: error: {err}", file=sys.stderr)
        return 2
