"""The ``ganstab`` command line.

Each sub-command lives in its own module with a ``register(subparsers)``
function; :data:`COMMANDS` lists them. The modules import only ``argparse`` at
the top (their work is imported when a command runs), so ``ganstab --help``
loads neither sympy nor scipy nor torch. User mistakes
(:class:`~stability.spec.errors.SpecError`) become one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from gan_train import cli as train_cli
from stability.cli import analyze, lemmas, portrait
from stability.spec.errors import SpecError

#: Modules that add sub-commands, in the order ``--help`` lists them.
COMMANDS = (lemmas, analyze, portrait, train_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganstab",
        description="Stability analysis of GAN gradient flows under gradient-penalty measures.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpecError as exc:
        print(f"ganstab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ganstab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
