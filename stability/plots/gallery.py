"""The composite figures of the report (``ganstab lemmas --out``), one function each.

* :func:`gd_portraits` — continuous flow vs simultaneous and alternating GD
  on the toys (Dirac GAN without / with penalty, ψx² toy, Lemma 3 system);
* :func:`root_locus_rho` — spectra at the desired equilibria against ρ
  (Lemma 1: Dirac GAN; Lemma 2: ψx² toy under several measures);
* :func:`root_locus_anchor` — against the anchor A of μ_g,anc;
* :func:`lemma1_basin` — the basin of the origin of the Dirac GAN with a
  test mass M(ψ, θ), with Lemma 1's radius R.

Each returns ``(figure, info)`` where ``info`` holds the numbers behind the
picture (JSON-serialisable) for ``results.json``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import sympy
from matplotlib.figure import Figure

from stability.analysis.lyapunov import lemma1_basin_radius
from stability.analysis.trajectories import basin_of_attraction, flow_trajectory, gd_trajectory
from stability.plots.basin import plot_basin
from stability.plots.fields import MEASURE_TITLES, TOY_TITLES, toy_field
from stability.plots.locus import Locus, eigenvalue_locus, plot_root_locus
from stability.plots.marks import find_marks
from stability.plots.portrait import phase_portrait
from stability.plots.style import figure_legend
from stability.spec.expressions import parse
from stability.spec.measures import MEASURES
from stability.spec.toys import PSI, THETA, get_toy
from stability.symbolic.field import SymbolicField

#: Symbols left free in the root-locus fields.
RHO = sympy.Symbol("rho", positive=True)
ANCHOR = sympy.Symbol("A", real=True)

#: The Lemma 1 test mass of the report: M ≥ 0 everywhere, 2M + ψ∂_ψM ≥ 0 exactly on |ψ| ≤ 1, so R = 1.
TEST_MASS = "exp(-psi**2 - theta**2)"


@lru_cache(maxsize=32)
def symbolic_field(
    toy: str, measure: str | None, rho: str = "rho", anchor: str = "2", form: str = "simple"
) -> SymbolicField:
    """A toy's field with ``"rho"`` and/or ``"A"`` left symbolic (cached)."""
    symbols = {"rho": RHO, "A": ANCHOR}
    value = lambda text: symbols[text] if text in symbols else parse(text, {})  # noqa: E731
    return SymbolicField(get_toy(toy, measure=measure, rho=value(rho), anchor=value(anchor), form=form))


def gd_portraits(rho: Any = 1, lr: float = 0.1, steps: int = 150) -> tuple[Figure, dict]:
    """Flow vs simultaneous vs alternating GD on four toy/penalty pairs (2 × 2 panels).

    The Dirac GAN without penalty is the classic case: the flow conserves
    ψ² + θ², simultaneous GD multiplies it by (1 + h²) per step, alternating GD
    stays on the ellipse ψ² + θ² − hψθ = const.
    """
    panels = [
        ("dirac", None, (1.0, 0.5), (-2.0, 2.0, -2.0, 2.0)),
        ("dirac", "p_d", (1.0, 0.5), (-2.0, 2.0, -2.0, 2.0)),
        ("psi_x2", "mu_gp", (0.8, 0.3), (-1.5, 1.5, -1.5, 1.5)),
        ("lemma3", "mu_gp", (1.0, 1.0), (-2.5, 1.5, -2.0, 2.0)),
    ]
    fig = Figure(figsize=(10.5, 9.0), layout="constrained")
    axes = fig.subplots(2, 2)
    info: dict[str, Any] = {"lr": lr, "steps": steps, "panels": []}
    for ax, (toy, measure, start, box) in zip(axes.ravel(), panels):
        field_ = toy_field(toy, measure, rho=rho)
        title = f"{TOY_TITLES[toy]}, {MEASURE_TITLES[measure]}" + ("" if measure is None else f", ρ = {float(rho):g}")
        phase_portrait(
            field_,
            box,
            ax,
            resolution=31,
            density=0.9,
            starts=[start],
            t_max=25.0,
            lr=lr,
            gd_starts=[start],
            gd_steps=steps,
            title=title,
            marks=find_marks(field_, box),
            legend=False,
        )
        flow = flow_trajectory(field_, start, t_max=25.0)
        simultaneous = gd_trajectory(field_, start, lr, steps)
        alternating = gd_trajectory(field_, start, lr, steps, alternating=True)
        info["panels"].append(
            {
                "toy": toy,
                "measure": measure,
                "start": list(start),
                "final": {t.method: t.final.tolist() for t in (flow, simultaneous, alternating)},
                "diverged": {t.method: t.diverged for t in (flow, simultaneous, alternating)},
            }
        )
    figure_legend(fig, list(axes.ravel()), ncol=4)
    fig.suptitle(f"Continuous flow vs discrete gradient descent (h = {lr:g}, {steps} steps; ★ = start)")
    return fig, info


def _psi_x2_point(_: float) -> dict[str, float]:
    return {"psi": 0.0, "theta": 1.0}


def root_locus_rho(anchor: Any = 2, rho_max: float = 4.0, count: int = 240) -> tuple[Figure, dict]:
    """Spectra against ρ ∈ (0, ρmax]: Dirac GAN at (0, 0) and ψx² toy at (0, 1) (Lemmas 1 and 2)."""
    values = np.linspace(rho_max / count, rho_max, count)
    fig = Figure(figsize=(11.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    dirac = eigenvalue_locus(
        symbolic_field("dirac", "p_d"),
        "rho",
        values,
        {"psi": 0.0, "theta": 0.0},
        label="every probability measure (M = 1)",
    )
    plot_root_locus(dirac, left, title="Dirac GAN at (0, 0) (Lemma 1)")
    loci: list[Locus] = []
    for measure in ("p_d", "mu_gp", "mu_mid", "mu_anchor"):
        label = MEASURE_TITLES[measure] + (" (= $p_g$)" if measure == "p_d" else "")
        if MEASURES[measure].needs_anchor:
            label += f", A = {float(anchor):g}"
        loci.append(
            eigenvalue_locus(
                symbolic_field("psi_x2", measure, anchor=str(anchor)), "rho", values, _psi_x2_point(0), label=label
            )
        )
    plot_root_locus(loci, right, title=r"$\psi x^2$ toy at (0, 1) (Lemma 2)")
    fig.suptitle(r"Root locus against the penalty weight $\rho$")
    return fig, {"dirac": dirac.to_dict(), "psi_x2": [locus.to_dict() for locus in loci]}


def root_locus_anchor(rho: Any = 1, anchor_max: float = 4.0, count: int = 240) -> tuple[Figure, dict]:
    """Spectra against the anchor A of μ_g,anc: ψx² toy at (0, 1), Lemma 3 system at (0, 0)."""
    values = np.linspace(0.0, anchor_max, count)
    fig = Figure(figsize=(11.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    toy = eigenvalue_locus(
        symbolic_field("psi_x2", "mu_anchor", rho=str(rho), anchor="A"),
        "A",
        values,
        {"psi": 0.0, "theta": 1.0},
        label=rf"$\mu_{{g,anc}}$, ρ = {float(rho):g}",
    )
    plot_root_locus(toy, left, title=r"$\psi x^2$ toy at (0, 1)")
    lemma3 = eigenvalue_locus(
        symbolic_field("lemma3", "mu_anchor", rho=str(rho), anchor="A"),
        "A",
        values,
        {"psi": 0.0, "theta": 0.0},
        label=rf"$\mu_{{g,anc}}$, ρ = {float(rho):g}",
    )
    plot_root_locus(lemma3, right, title="Lemma 3 system at (0, 0): one eigenvalue stays 0")
    fig.suptitle(r"Root locus against the anchor $A$ of $\mu_{g,anc}$")
    return fig, {"psi_x2": toy.to_dict(), "lemma3": lemma3.to_dict()}


def lemma1_basin(
    rho: Any = 1,
    mass: str = TEST_MASS,
    box: tuple[float, float, float, float] = (-2.5, 2.5, -2.5, 2.5),
    resolution: int = 51,
    horizon: float = 50.0,
    progress: bool = False,
) -> tuple[Figure, dict]:
    """The basin of the origin of the Dirac GAN with mass M(ψ, θ), and Lemma 1's ball of radius R."""
    field_ = toy_field("dirac", "p_d", rho=rho, mass=mass)
    mass_expr = sympy.sympify(mass, locals={"psi": PSI, "theta": THETA})
    radius = lemma1_basin_radius(mass_expr, PSI, THETA)
    marks = find_marks(field_, box)
    estimate = basin_of_attraction(
        field_, [m.equilibrium for m in marks], box, resolution=resolution, horizon=horizon, dt=0.1, progress=progress
    )
    fig = Figure(figsize=(6.2, 5.6), layout="constrained")
    ax = fig.add_subplot()
    plot_basin(
        estimate,
        ax,
        radius=radius,
        field_=field_,
        title=f"Lemma 1: Dirac GAN, $p_d$ with mass $M = {sympy.latex(mass_expr)}$, ρ = {float(rho):g}",
    )
    ax.title.set_fontsize(10)
    return fig, {"mass": mass, "rho": str(rho), "R": radius, "basin": estimate.to_dict()}
