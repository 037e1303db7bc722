"""The ``ganstab`` command line.

Commands are found, not imported: every package that adds commands declares a module with a
``register(subparsers)`` function under the ``ganstab.commands`` entry-point group of ``pyproject.toml``
(the analysis' ``lemmas``, ``analyze``, ``portrait``; the trainer's ``train``, ``sample``, ``table2``,
``experiment``; the bridge's ``spectrum``). So this package, the bottom of the house, never imports the
trainer that builds on it. The modules import only ``argparse`` at the top (their work is imported when a
command runs), so ``ganstab --help`` loads neither sympy nor scipy nor torch.

User mistakes (:class:`~stability.util.errors.UserError`, the one user-error type of the whole tool) become
one line on stderr and exit status 2, outputs that cannot be written
(:class:`~stability.util.atomic.WriteError`) one line and exit status 4, a closed pipe a quiet exit, Ctrl-C and
SIGTERM one line and 128 + the signal, also while the command line is still being read; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import NoReturn

from stability.util.atomic import WriteError
from stability.util.errors import UserError
from stability.util.torch_warnings import silence_torch_internals

#: The entry-point group a package fills with its command modules.
COMMAND_GROUP = "ganstab.commands"
#: The analysis' own commands, used when the package metadata is missing (the tree run uninstalled).
OWN_COMMANDS = {
    "lemmas": "stability.cli.lemmas",
    "analyze": "stability.cli.analyze",
    "portrait": "stability.cli.portrait",
}

#: Exit statuses: 0 done, 1 a lemma check disagrees (``ganstab lemmas`` only), 2 bad input, 3 a training run stopped
#: (divergence, a checkpoint that cannot be written), 4 an output that cannot be written, 141 a closed pipe.
EXIT_BAD_INPUT = 2
EXIT_WRITE = 4
EXIT_PIPE = 128 + 13  # the shell's status for SIGPIPE, as `yes | head` gives


def command_modules() -> list[ModuleType]:
    """The modules that add sub-commands, in the order ``--help`` lists them (the analysis' first)."""
    # imported here, not at the top: it is most of this module's import time, which a Ctrl-C could hit before
    # main() can answer it in one line
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=COMMAND_GROUP)}
    names = list(OWN_COMMANDS) + sorted(set(found) - set(OWN_COMMANDS))
    return [importlib.import_module(found.get(name) or OWN_COMMANDS[name]) for name in names]


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (usage is one ``--help`` away), like every other error here, and a value
    that starts like a negative number taken as a value."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Python 3.11's argparse takes only a lone number (-4, -0.5) for a value, so `--box -4,2,-3,3` and
        # `--resolution -1,5` stopped at "expected one argument"; no option here starts with a digit, so anything
        # that starts "-<digit>" or "-.<digit>" is a value (the rule Python 3.13's argparse adopted)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ganstab",
        description="Stability analysis of GAN gradient flows under gradient-penalty measures.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        module.register(subparsers)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C raises :class:`KeyboardInterrupt`: the same unwinding
    (a temporary output file is removed, a run's lock released) and one line, where the default action of SIGTERM
    killed the process silently. A training run catches both signals itself and stops after a checkpoint."""


def _terminate(signum: int, frame: object) -> NoReturn:
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while a command runs (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command_of(argv: list[str] | None) -> str:
    """The sub-command named on the command line, before (or without) argparse: the first word not an option."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    command = _command_of(argv)
    try:
        with _sigterm_raises():
            return _run(argv)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM, also while the commands are imported and the line parsed
        prefix = f"ganstab {command}".rstrip()
        if isinstance(exc, Terminated):
            print(f"{prefix}: stopped by SIGTERM", file=sys.stderr)
            return 128 + signal.SIGTERM
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _run(argv: list[str] | None) -> int:
    silence_torch_internals()  # torch's own deprecation warnings are not the user's business
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except WriteError as exc:  # an output path refused by its argparse type (stability.util.checks), before any work
        print(f"ganstab {_command_of(argv)}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_WRITE
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _warnings_in_one_line(args.command):
            status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return status
    except BrokenPipeError:
        # `ganstab ... | head`: the reader has gone; say nothing, and keep Python from complaining at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except UserError as exc:
        print(f"ganstab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WriteError as exc:
        print(f"ganstab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_WRITE


@contextlib.contextmanager
def _warnings_in_one_line(command: str) -> Iterator[None]:
    """A warning the command gives (e.g. ``eval_every`` beyond ``iterations``) is one ``ganstab CMD: warning:`` line
    on stderr, like the errors, not Python's two lines of file, line number and source."""
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, *_args, **_kwargs: f"ganstab {command}: warning: {_one_line(message)}\n"
    try:
        yield
    finally:
        warnings.formatwarning = previous


def _one_line(exc: BaseException | str) -> str:
    """Messages quote user text (a spec's expression), which may hold newlines: keep the promise of one line."""
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
