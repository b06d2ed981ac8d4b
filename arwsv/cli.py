"""The ``arwsv`` command line: one subcommand per module in ``arwsv.commands``.

Every subcommand module defines ``add_parser(subparsers)`` and a ``run(args) -> int`` that
imports what it needs lazily, so ``arwsv --help`` and ``arwsv eval`` start without torch.
Bad input (:class:`arwsv.errors.InputError`) is printed as one line and exits with status 2; a
run that cannot go on (:class:`arwsv.errors.TrainingError`, e.g. a NaN loss) exits with status 3.
"""

from __future__ import annotations

import argparse
import sys

from arwsv import __version__
from arwsv.errors import InputError, TrainingError

COMMANDS = ("eval", "compare", "audit", "prepare", "train", "select", "virtual", "embed", "score", "baseline", "demo",
            "study")


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
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    try:
        return int(args.run(args) or 0)
    except InputError as err:
        print(f"arwsv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"arwsv {args.command}: stopped: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"arwsv {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `arwsv eval ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
