"""The ``ganstab`` command line.

Each sub-command lives in its own module with a ``register(subparsers)``
function; :data:`COMMANDS` lists them. The modules import only ``argparse`` at
the top (their work is imported when a command runs), so ``ganstab --help``
loads neither sympy nor scipy nor torch. User mistakes
(:class:`~stability.spec.errors.SpecError`) become one line on stderr and exit
status 2, outputs that cannot be written (:class:`~stability.util.atomic.WriteError`) one line and exit
status 4, a closed pipe a quiet exit; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import NoReturn

from gan_train import cli as train_cli
from gan_train.experiments import cli as experiment_cli
from stability.cli import analyze, lemmas, portrait, spectrum
from stability.spec.errors import SpecError
from stability.util.atomic import WriteError

#: Modules that add sub-commands, in the order ``--help`` lists them.
COMMANDS = (lemmas, analyze, portrait, train_cli, spectrum, experiment_cli)


#: Exit statuses: 0 done, 1 a lemma check disagrees (``ganstab lemmas`` only), 2 bad input, 3 a training run stopped
#: (divergence, a checkpoint that cannot be written), 4 an output that cannot be written, 141 a closed pipe.
EXIT_BAD_INPUT = 2
EXIT_WRITE = 4
EXIT_PIPE = 128 + 13  # the shell's status for SIGPIPE, as `yes | head` gives


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (usage is one ``--help`` away), like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return status
    except BrokenPipeError:
        # `ganstab ... | head`: the reader has gone; say nothing, and keep Python from complaining at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except SpecError as exc:
        print(f"ganstab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WriteError as exc:
        print(f"ganstab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_WRITE
    except KeyboardInterrupt:
        print(f"ganstab {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """Messages quote user text (a spec's expression), which may hold newlines: keep the promise of one line."""
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
