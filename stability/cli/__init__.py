"""The ``ganstab`` command line.

Each sub-command lives in its own module with a ``register(subparsers)``
function; :data:`COMMAND_MODULES` lists them. User mistakes
(:class:`~stability.spec.errors.SpecError`) become one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from stability.spec.errors import SpecError

#: Modules that add sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "stability.cli.lemmas",
    "stability.cli.analyze",
    "stability.cli.portrait",
    "gan_train.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganstab",
        description="Stability analysis of GAN gradient flows under gradient-penalty measures.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # a command module that is not part of this install
            raise
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
