"""The divergence watch: the first step whose loss or gradient is not finite, found without a host sync per step.

Each step's statistics (:mod:`gan_train.step_io`) are checked on the device: the code ``step_id · 16 + term`` of
the first non-finite watched term since the last check is kept in one device integer (a ``torch.where``, no host
synchronisation). The trainer reads it once per log, plot or checkpoint interval (:meth:`DivergenceWatch.check`),
which names the iteration, the step and the term, so a NaN stops the run before a checkpoint could save it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_train.distributed import World
from gan_train.errors import DivergenceError
from gan_train.step_io import CRITIC_STATS, GENERATOR_STATS, SCALED_TERMS, STATS, TERM_NAMES

_MAX_TERMS = 16  # divergence codes are step_id · 16 + term index


@dataclass(frozen=True)
class Divergence:
    """The first non-finite term found by :meth:`DivergenceWatch.check`."""

    iteration: int  # the generator iteration (1-based, as logged) whose step diverged
    kind: str  # "critic" or "generator"
    where: str  # e.g. "critic step 1/5"
    term: str  # a name of CRITIC_STATS / GENERATOR_STATS
    value: str  # "nan" or "inf"

    def record(self) -> dict[str, Any]:
        """The ``metrics.jsonl`` event."""
        return {"iteration": self.iteration, "event": "diverged", "term": self.term, "where": self.where}

    def error(self, last_checkpoint: str | Path | None) -> DivergenceError:
        """The one-line error that stops the run."""
        last = str(last_checkpoint) if last_checkpoint else "none written yet"
        message = (
            f"diverged at iteration {self.iteration} ({self.where}): {TERM_NAMES.get(self.term, self.term)} is "
            f"{self.value}; the last good checkpoint is kept ({last})"
        )
        return DivergenceError(message, self.iteration, self.term)


class DivergenceWatch:
    """Remembers, on the device, the first step whose watched statistics are not finite.

    Args:
        penalised: whether the run has a penalty (without one the input-gradient norms are NaN by design).
        amp: the config's ``amp``; under ``fp16`` the terms computed from scaled gradients are not watched (the
            GradScaler skips overflowing steps by design).
        device: where the steps' statistics live.
    """

    def __init__(self, penalised: bool, amp: str, device: torch.device):
        self.watched = {
            kind: torch.tensor(
                [
                    not (name in ("grad_norm", "max_grad_norm") and not penalised)
                    and not (amp == "fp16" and name in SCALED_TERMS)
                    for name in names
                ],
                device=device,
            )
            for kind, names in STATS.items()
        }
        self._first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self._step_id = 0
        self._steps_seen: list[tuple[int, str, str]] = []

    def watch(self, stats: torch.Tensor, kind: str, where: str, iteration: int) -> None:
        """Note step ``where`` of generator iteration ``iteration`` (1-based); no host synchronisation."""
        bad = ~torch.isfinite(stats) & self.watched[kind]
        code = self._step_id * _MAX_TERMS + torch.argmax(bad.to(torch.int64))
        self._first_bad = torch.where((self._first_bad < 0) & bad.any(), code, self._first_bad)
        self._steps_seen.append((iteration, kind, where))
        self._step_id += 1

    def check(self, world: World, sums: dict[str, torch.Tensor]) -> Divergence | None:
        """One host sync (and one collective under torchrun): the first bad step since the last check, or ``None``.

        ``sums`` are the running sums of the statistics: the value itself is not kept per step (that would be a
        sync), so it is reported as nan, or inf when the running sum says so.
        """
        none = torch.iinfo(torch.int64).max  # "no bad step" for the minimum over ranks
        first = int(world.min_(torch.where(self._first_bad < 0, none, self._first_bad)))
        first = -1 if first == none else first
        self._first_bad.fill_(-1)
        steps, self._steps_seen, start = self._steps_seen, [], self._step_id - len(self._steps_seen)
        if first < 0:
            return None
        iteration, kind, where = steps[first // _MAX_TERMS - start]
        names = CRITIC_STATS if kind == "critic" else GENERATOR_STATS
        term = names[first % _MAX_TERMS]
        value = "inf" if math.isinf(float(sums[kind][names.index(term)])) else "nan"
        return Divergence(iteration, kind, where, term, value)
