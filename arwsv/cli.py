"""The ``arwsv`` command line: one subcommand per module in ``arwsv.commands``.

Every subcommand module defines ``add_parser(subparsers)`` and a ``run(args) -> int`` that
imports what it needs lazily, so ``arwsv --help`` and ``arwsv eval`` start without torch.
Bad input (:class:`arwsv.errors.InputError`) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from arwsv import __version__
from arwsv.errors import InputError

COMMANDS = ("eval", "prepare")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="arwsv", description="Fairness-aware speaker verification: adversarial reweighting and group audits.")
    parser.add_argument("--version", action="version", version=f"arwsv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"arwsv.commands.{name}").add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except InputError as err:
        print(f"arwsv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"arwsv {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `arwsv eval ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
