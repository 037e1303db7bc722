"""The 2-D toy data sets of Gulrajani et al.'s ``gan_toy.py`` as :class:`~stability.spec.laws.Law` objects.

Each data set is a law of :mod:`stability.spec.laws`, so the analysis can read the
same p_d that the trainer samples. Scales and noise are those of the toy script:

* ``8gaussians``: centres 2·(cos kπ/4, sin kπ/4), k = 0…7, noise N(0, 0.02²),
  everything divided by 1.414 ("stdev"): a mixture of 8 normals with means
  2c/1.414 and standard deviation 0.02/1.414.
* ``25gaussians``: centres (2i, 2j), i, j ∈ {−2, …, 2}, noise N(0, 0.05²),
  divided by 2.828. The script drew a fixed set of 100 000 points once and
  cycled through it; we draw fresh i.i.d. samples from the same mixture.
* ``swissroll``: scikit-learn's ``make_swiss_roll(noise=0.25)`` projected on its
  (x, z) coordinates and divided by 7.5: t = 1.5π(1 + 2u), u ~ U(0, 1),
  x = (t cos t + 0.25 n₁)/7.5, y = (t sin t + 0.25 n₂)/7.5, n ~ N(0, I), a
  pushforward law (no scikit-learn needed).

Besides these names, a data set may be any 2-D law of the spec-file language
(:data:`stability.spec.laws.LAWS`, parsed by :func:`law_from_text`), e.g.
``"discrete([[0.2, 0.5], [-0.6, 0.1]])"`` for two fixed real points (``001_…``
§5.1, Fig. 1) or ``"mixture([normal([-1, 0], 0.1), normal([1, 0], 0.1)])"`` for
two real Gaussians (``002_…`` Fig. 2). A fixed point set is the uniform law on
its points, so batches are i.i.d. draws from it as for the other sets.

:class:`DataStream` draws training minibatches: it samples the law in chunks
(one vectorised draw per ``chunk`` points, from its own seeded generator) and
hands out consecutive slices, so batches are i.i.d. draws and the stream's
whole state is (generator state at the last refill, position).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
import torch

from stability.spec.expressions import parse
from stability.spec.laws import LAWS, Law, mixture, normal, product, pushforward, uniform
from stability.util.errors import UserError, unknown_name


def eight_gaussians() -> Law:
    """Mixture of 8 normals on a circle of radius 2/1.414 (gan_toy.py)."""
    s = 1.0 / math.sqrt(2.0)
    centres = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    return mixture([normal([2.0 * cx / 1.414, 2.0 * cy / 1.414], 0.02 / 1.414) for cx, cy in centres])


def twenty_five_gaussians() -> Law:
    """Mixture of 25 normals on the grid {−2,…,2}²·2/2.828 (gan_toy.py)."""
    return mixture(
        [normal([2.0 * i / 2.828, 2.0 * j / 2.828], 0.05 / 2.828) for i in range(-2, 3) for j in range(-2, 3)]
    )


def swiss_roll() -> Law:
    """The (x, z) projection of scikit-learn's swiss roll with noise 0.25, divided by 7.5."""
    u, n1, n2 = sympy.symbols("u n1 n2", real=True)
    t = sympy.Rational(3, 2) * sympy.pi * (1 + 2 * u)
    noise = sympy.Rational(1, 4)
    scale = sympy.Rational(15, 2)
    mapping = [(t * sympy.cos(t) + noise * n1) / scale, (t * sympy.sin(t) + noise * n2) / scale]
    return pushforward(product(uniform(0, 1), normal(0, 1), normal(0, 1)), mapping, [u, n1, n2])


@dataclass(frozen=True)
class Dataset:
    """A named data law with its description and a plotting range."""

    name: str
    build: Callable[[], Law]
    description: str
    extent: float  # plots show [−extent, extent]²


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("8gaussians", eight_gaussians, "8 Gaussians on a circle, σ=0.02/1.414 (gan_toy.py)", 2.0),
        Dataset("25gaussians", twenty_five_gaussians, "5×5 grid of Gaussians, σ=0.05/2.828 (gan_toy.py)", 2.0),
        Dataset("swissroll", swiss_roll, "Swiss roll, noise 0.25, scaled by 1/7.5 (gan_toy.py)", 2.5),
    )
}

_LAW_CACHE: dict[str, Law] = {}


def law_from_text(text: str, what: str = "dataset") -> Law:
    """A numeric law on R² written in the spec-file language, e.g. ``"discrete([[0, 0], [1, 1]])"``.

    Raises:
        UserError: the text is not a law, has free symbols, or is not 2-D.
    """
    try:
        law = parse(text, {}, functions=LAWS, what=f"{what} law")
    except TypeError:  # e.g. arithmetic on a law
        law = None
    if not isinstance(law, Law):
        raise UserError(f"{what} {text!r} is not a law; use one of: {', '.join(sorted(LAWS))}")
    if law.parameters():
        names = ", ".join(sorted(s.name for s in law.parameters()))
        raise UserError(f"{what} {text!r} must be numeric, but it depends on {names}")
    if law.dim != 2:
        raise UserError(f"{what} {text!r} is a law on R^{law.dim}; the 2-D networks need R^2")
    return law


def _extent(law: Law) -> float:
    """A plotting half-width that holds the law: 1.25 × the largest |coordinate| of its quadrature nodes, ≥ 1."""
    _, points = law.quadrature(nodes=8)
    return max(1.0, 1.25 * float(abs(points).max()))


def get_dataset(name: str) -> Dataset:
    """A registered data set, or one built from a law expression (:func:`law_from_text`)."""
    if name in DATASETS:
        return DATASETS[name]
    law = data_law(name)
    return Dataset(name, lambda: law, f"the law {law}", _extent(law))


def data_law(name: str) -> Law:
    """The law p_d of a data set: a registered name or a law expression (built once per process)."""
    if name not in _LAW_CACHE:
        if name not in DATASETS and "(" not in name:
            raise unknown_name("dataset", name, list(DATASETS))
        _LAW_CACHE[name] = DATASETS[name].build() if name in DATASETS else law_from_text(name)
    return _LAW_CACHE[name]


class DataStream:
    """Seeded minibatches of a law, drawn in chunks.

    Args:
        law: the data law.
        batch_size: rows per batch.
        seed: seed of the stream's own ``torch.Generator``.
        chunk: points drawn per refill (rounded up to whole batches).
    """

    def __init__(self, law: Law, batch_size: int, seed: int, chunk: int = 65536):
        self.law = law
        self.batch_size = batch_size
        self.chunk = max(batch_size, (chunk // batch_size) * batch_size)
        self.generator = torch.Generator().manual_seed(seed)
        self._refill_state = self.generator.get_state()
        self._buffer = law.sample(self.chunk, generator=self.generator, dtype=torch.float32)  # (chunk, dim)
        self._position = 0

    def next(self) -> torch.Tensor:
        """The next batch, shape ``(batch_size, dim)``."""
        if self._position + self.batch_size > self.chunk:
            self._refill_state = self.generator.get_state()
            self._buffer = self.law.sample(self.chunk, generator=self.generator, dtype=torch.float32)
            self._position = 0
        batch = self._buffer[self._position : self._position + self.batch_size]
        self._position += self.batch_size
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"refill_state": self._refill_state.clone(), "position": self._position, "chunk": self.chunk}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stream exactly: redraw the current chunk from its generator state."""
        self.chunk = int(state["chunk"])
        self.generator.set_state(state["refill_state"])
        self._refill_state = self.generator.get_state()
        self._buffer = self.law.sample(self.chunk, generator=self.generator, dtype=torch.float32)
        self._position = int(state["position"])
