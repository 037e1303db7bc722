"""Trajectories of the gradient flow and of discrete gradient descent, and basins.

Numbers only (no matplotlib), so tests and users can use them headless:

* :func:`flow_trajectory` — the continuous flow (ψ̇, θ̇) of Definition 4 of
  ``003_…``, integrated with ``scipy.integrate.solve_ivp``;
* :func:`gd_trajectory` — discrete steps at a learning rate h, simultaneous
  (x ← x + h F(x)) or alternating (ψ first, then θ sees the new ψ — the
  convention of :func:`stability.analysis.linear.alternating_update`), and
  :func:`rule_trajectory` for any update rule (momentum, n_critic, Adam, …): both
  iterate the rule's one map in :mod:`stability.analysis.update_rules`;
* :func:`basin_of_attraction` — which equilibrium each start of a grid
  converges to under the flow within a horizon (vectorised RK4 over the grid),
  or "does not converge" (label −1). Lemma 1 of ``003_…`` predicts that the
  disk of radius R lies inside the basin of the origin of the Dirac GAN.

Every evaluation goes through one lambdified, vectorised flow function per
field (:func:`flow_function`); sympy is never called inside a loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy
from scipy.integrate import solve_ivp

from stability.analysis.equilibria import Equilibrium
from stability.spec.lambdify import numeric_function
from stability.symbolic.field import SymbolicField
from stability.util.errors import UserError

#: Label of a start that does not converge to any equilibrium within the horizon.
NO_CONVERGENCE = -1

FlowFunction = Callable[..., list]


def flow_function(field_: SymbolicField) -> FlowFunction:
    """The vectorised flow ``F(psi, theta, ...) -> [psi_dot, theta_dot, ...]`` of a field (lambdified once)."""
    return field_.numpy_function()


def evaluate_flow(field_: SymbolicField, *coordinates: np.ndarray) -> list[np.ndarray]:
    """The flow on arrays of coordinates (one array per parameter), broadcast to a common shape."""
    arrays = np.broadcast_arrays(*[np.asarray(c, dtype=float) for c in coordinates])
    values = flow_function(field_)(*arrays)
    return [np.broadcast_to(np.asarray(v, dtype=float), arrays[0].shape) for v in values]


def _vector_flow(field_: SymbolicField) -> Callable[[np.ndarray], np.ndarray]:
    function = flow_function(field_)
    return lambda x: np.array([float(v) for v in function(*x)])


@dataclass
class Trajectory:
    """A path (ψ, θ)(t) of the flow or of gradient descent.

    Attributes:
        method: ``"flow"``, ``"simultaneous"``, ``"alternating"``, or an update rule's text (:func:`rule_trajectory`).
        times: (n,) times; for gradient descent the step index times h.
        states: (n, d) states, ψ components first.
        step: the learning rate h (``None`` for the flow).
        diverged: True when the path left the escape radius (and was stopped).
        names: the parameter names of the columns of ``states``.
    """

    method: str
    times: np.ndarray
    states: np.ndarray
    step: float | None = None
    diverged: bool = False
    names: list[str] = field(default_factory=list)

    @property
    def final(self) -> np.ndarray:
        return self.states[-1]

    def squared_norms(self, center: Sequence[float] | None = None) -> np.ndarray:
        """‖x(t) − c‖² along the path (L = ψ² + θ² of Lemma 1's proof when c = 0)."""
        c = np.zeros(self.states.shape[1]) if center is None else np.asarray(center, dtype=float)
        return np.sum((self.states - c) ** 2, axis=1)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "step": self.step,
            "diverged": self.diverged,
            "names": self.names,
            "start": self.states[0].tolist(),
            "final": self.final.tolist(),
            "length": int(len(self.times)),
        }


def flow_trajectory(
    field_: SymbolicField,
    start: Sequence[float],
    t_max: float = 20.0,
    n_points: int = 400,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    escape: float = 1e6,
    method: str = "DOP853",
) -> Trajectory:
    """Integrate the continuous flow from ``start`` with ``solve_ivp``.

    Args:
        field_: the flow.
        start: initial (ψ, θ).
        t_max: integration horizon.
        n_points: number of output times (dense output, evenly spaced).
        rtol: the solver's relative tolerance (tight by default so that conserved
            quantities, e.g. ψ² + θ² for the unpenalised Dirac GAN, are kept).
        atol: the solver's absolute tolerance (tight, for the same reason).
        escape: stop when ‖x‖ exceeds this (the path is then ``diverged``).
        method: a ``solve_ivp`` method name.
    """
    x0 = field_.as_vector(start)
    F = _vector_flow(field_)

    def blow_up(t, x):
        return escape - float(np.linalg.norm(x))

    blow_up.terminal = True
    with np.errstate(all="ignore"):  # a stiff flow (ρ = 1e300) overflows inside the solver: the path just ends
        solution = solve_ivp(
            lambda t, x: F(x),
            (0.0, float(t_max)),
            x0,
            method=method,
            t_eval=np.linspace(0.0, float(t_max), int(n_points)),
            rtol=rtol,
            atol=atol,
            events=blow_up,
        )
    diverged = bool(solution.status == 1)
    # a failed solve (status -1: a stiff flow whose step falls below float spacing) keeps the path up to there
    times, states = np.asarray(solution.t), np.asarray(solution.y, dtype=float).reshape(len(x0), -1).T
    if len(times) == 0:
        times, states = np.array([0.0]), x0[None, :]
    return Trajectory("flow", times, states, None, diverged, [p.name for p in field_.params])


def gd_trajectory(
    field_: SymbolicField,
    start: Sequence[float],
    step: float,
    n_steps: int = 200,
    alternating: bool = False,
    escape: float = 1e6,
) -> Trajectory:
    """Gradient descent-ascent at learning rate ``step`` along the flow F.

    Simultaneous: (ψ, θ) ← (ψ, θ) + h F(ψ, θ). Alternating: ψ ← ψ + h F_ψ(ψ, θ),
    then θ ← θ + h F_θ(ψ_new, θ) — the update whose Jacobian is
    :func:`stability.analysis.linear.alternating_update`. Stops early (``diverged``) once
    ‖x‖ exceeds ``escape`` or becomes non-finite.
    """
    if step <= 0:
        raise UserError(f"the learning rate must be > 0, got {step}")
    from stability.analysis.update_rules import UpdateRule

    rule = UpdateRule("alt" if alternating else "sim", {"lr": float(step)})
    trajectory = rule_trajectory(field_, start, rule, n_steps, escape)
    trajectory.method = "alternating" if alternating else "simultaneous"
    return trajectory


def rule_trajectory(
    field_: SymbolicField, start: Sequence[float], rule: object, n_steps: int = 200, escape: float = 1e6
) -> Trajectory:
    """Iterates of an update rule (:mod:`stability.analysis.update_rules`; a rule or its text, e.g.
    ``"alt:lr=0.1,momentum=-0.5"``) from ``start`` with torch.optim's zero memory; the parameters only.

    ``method`` is the rule's text, ``times`` the step index times lr_d (the flow's time scale). Stops early
    (``diverged``) once ‖x‖ exceeds ``escape`` or becomes non-finite.
    """
    from stability.analysis.update_rules import as_rule, initial_state, iterate

    rule = as_rule(rule)
    if rule.lr_d is None:
        raise UserError(f"{rule.name}: a trajectory needs the rule's step, lr=... (or lr_d and lr_g)")
    F = _vector_flow(field_)
    n_psi = len(field_.system.psi)
    state = initial_state(rule, field_.as_vector(start).copy(), n_psi)
    states, diverged = iterate(rule, state, F, n_steps, escape)
    step = float(rule.lr_d)
    return Trajectory(
        rule.spec(), step * np.arange(len(states)), states, step, diverged, [p.name for p in field_.params]
    )


def simultaneous_gd(field_: SymbolicField, start: Sequence[float], step: float, n_steps: int = 200) -> Trajectory:
    """Simultaneous gradient descent-ascent (see :func:`gd_trajectory`)."""
    return gd_trajectory(field_, start, step, n_steps, alternating=False)


def alternating_gd(field_: SymbolicField, start: Sequence[float], step: float, n_steps: int = 200) -> Trajectory:
    """Alternating gradient descent-ascent, ψ first (see :func:`gd_trajectory`)."""
    return gd_trajectory(field_, start, step, n_steps, alternating=True)


# ---- basins of attraction ------------------------------------------------------


@dataclass
class BasinEstimate:
    """Which equilibrium each grid start converges to under the flow.

    Attributes:
        psi, theta: the grid axes, shapes (nx,) and (ny,).
        labels: (ny, nx) int array; ``k`` = converged to ``targets[k]``,
            :data:`NO_CONVERGENCE` (−1) = did not converge within the horizon.
        targets: descriptions of the equilibria (one per label ≥ 0).
        horizon, dt: the RK4 integration horizon and step.
        tol: distance to an equilibrium that counts as converged.
    """

    psi: np.ndarray
    theta: np.ndarray
    labels: np.ndarray
    targets: list[str]
    horizon: float
    dt: float
    tol: float

    def fraction(self, label: int) -> float:
        return float(np.mean(self.labels == label))

    def to_dict(self) -> dict:
        return {
            "grid": [len(self.psi), len(self.theta)],
            "box": [float(self.psi[0]), float(self.psi[-1]), float(self.theta[0]), float(self.theta[-1])],
            "targets": self.targets,
            "fractions": {t: self.fraction(k) for k, t in enumerate(self.targets)}
            | {"does not converge": self.fraction(NO_CONVERGENCE)},
            "horizon": self.horizon,
            "dt": self.dt,
            "tol": self.tol,
        }


def _continuum_distance(equilibrium: Equilibrium, names: list[str]) -> Callable[..., np.ndarray]:
    """|x_fixed − expr(x_free)| (max over fixed coordinates) for a continuum of equilibria."""
    symbols = {n: sympy.Symbol(n, real=True) for n in names}
    parts = []
    for symbol, expr in (equilibrium.solution or {}).items():
        expr = sympy.sympify(expr).xreplace({s: symbols[s.name] for s in sympy.sympify(expr).free_symbols})
        parts.append((names.index(symbol.name), numeric_function([symbols[n] for n in names], expr)))

    def distance(*coordinates: np.ndarray) -> np.ndarray:
        result = np.zeros(np.shape(coordinates[0]))
        for index, function in parts:
            target = np.broadcast_to(np.asarray(function(*coordinates), dtype=float), result.shape)
            result = np.maximum(result, np.abs(coordinates[index] - target))
        return result

    return distance


def unique_equilibria(equilibria: Sequence[Equilibrium], tol: float = 1e-9) -> list[Equilibrium]:
    """Drop repeated representatives of one continuum and isolated points lying on a continuum."""
    continua: list[Equilibrium] = []
    seen: set = set()
    for e in equilibria:
        if e.kind == "continuum":
            key = tuple(sorted((e.exact or {}).items()))
            if key not in seen:
                seen.add(key)
                continua.append(e)
    names = list(equilibria[0].point) if equilibria else []
    on_continuum = [_continuum_distance(c, names) for c in continua]
    isolated: list[Equilibrium] = []
    for e in equilibria:
        if e.kind == "continuum":
            continue
        vector = [np.array(v) for v in e.point.values()]
        if any(float(d(*vector)) < tol for d in on_continuum):
            continue
        if all(max(abs(e.point[k] - o.point[k]) for k in e.point) > tol for o in isolated):
            isolated.append(e)
    return isolated + continua


def basin_of_attraction(
    field_: SymbolicField,
    equilibria: Sequence[Equilibrium],
    box: Sequence[float],
    resolution: int = 61,
    horizon: float = 40.0,
    dt: float = 0.05,
    tol: float = 1e-3,
    escape: float = 1e3,
    progress: bool = False,
) -> BasinEstimate:
    """Estimate basins of attraction on a (ψ, θ) grid.

    All grid starts are integrated together by classical RK4 (fixed step
    ``dt``, vectorised through the lambdified flow) up to ``horizon``; starts
    whose norm passes ``escape`` are frozen as diverged. A start converged to
    an isolated equilibrium when it ends within ``tol`` of it, to a continuum
    when it ends within ``tol`` of the continuum's defining equations.

    Args:
        field_: a flow in two parameters (one ψ, one θ).
        equilibria: candidate limits (e.g. from :func:`~stability.analysis.equilibria.find_equilibria`).
        box: ``(psi_min, psi_max, theta_min, theta_max)``.
        resolution: grid points per axis.
        progress: show a tqdm bar over the RK4 steps.
    """
    if len(field_.params) != 2:
        raise UserError(f"basins are drawn in the (psi, theta) plane; this system has {len(field_.params)} parameters")
    names = [p.name for p in field_.params]
    targets = unique_equilibria(list(equilibria))
    psi = np.linspace(box[0], box[1], resolution)
    theta = np.linspace(box[2], box[3], resolution)
    P, T = np.meshgrid(psi, theta)
    x = np.stack([P.ravel(), T.ravel()])  # (2, N)
    active = np.ones(x.shape[1], dtype=bool)
    function = flow_function(field_)

    def F(y: np.ndarray) -> np.ndarray:
        return np.stack([np.broadcast_to(np.asarray(v, dtype=float), y.shape[1:]) for v in function(*y)])

    steps = int(np.ceil(horizon / dt))
    from tqdm.auto import tqdm

    with np.errstate(over="ignore", invalid="ignore"):
        for _ in tqdm(range(steps), desc="basin (RK4)", disable=None if progress else True, leave=False):
            y = x[:, active]
            if y.shape[1] == 0:
                break
            k1 = F(y)
            k2 = F(y + dt / 2 * k1)
            k3 = F(y + dt / 2 * k2)
            k4 = F(y + dt * k3)
            y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            x[:, active] = y
            escaped = ~np.all(np.isfinite(y), axis=0) | (np.linalg.norm(np.nan_to_num(y, nan=np.inf), axis=0) > escape)
            active[np.flatnonzero(active)[escaped]] = False
    labels = np.full(x.shape[1], NO_CONVERGENCE, dtype=int)
    finite = active & np.all(np.isfinite(x), axis=0)
    descriptions = []
    for k, target in enumerate(targets):
        if target.kind == "continuum":
            distance = _continuum_distance(target, names)(x[0], x[1])
        else:
            c = np.array([target.point[n] for n in names])[:, None]
            distance = np.max(np.abs(x - c), axis=0)
        labels[finite & (labels == NO_CONVERGENCE) & (distance < tol)] = k
        descriptions.append(target.describe())
    return BasinEstimate(psi, theta, labels.reshape(P.shape), descriptions, float(horizon), float(dt), float(tol))
