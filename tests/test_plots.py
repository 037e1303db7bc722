"""The numbers behind the pictures, checked against ``003_…``'s closed forms, and the files themselves.

Closed forms used (derived in the paper, not by this code):

* Lemma 3 (Appendix B): ψ̇ = −θ² − (4/3)ρψθ², θ̇ = 2ψθ — nullclines ψ = −3/(4ρ)
  and ψ = 0 off the axis θ = 0, which is all equilibria; at (a, 0) the
  Jacobian is diag(0, 2a).
* Lemma 1 with M = 1: J(0, 0) = [[−ρ, −1], [1, 0]], λ = (−ρ ± √(ρ² − 4))/2.
* Lemma 2: at (0, ±1) λ = −2ρE[x²] ± √(4ρ²E[x²]² − 4/9), with E[x²] = 1/3 for
  p_d and p_g, E[(αx_d + (1−α)x_g)²] = 2/9 for μ_GP, 1/6 for μ_mid and
  A²/3 + 1/9 for μ_g,anc (α ~ U(0, 1), x_d ~ U(−1, 1), x_g ~ U(−1, 1) at θ = 1).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import sympy

from stability.analysis.linear import CENTER, SADDLE, STABLE_CLASSES, STABLE_FOCUS
from stability.analysis.trajectories import basin_of_attraction
from stability.cli import main
from stability.plots import (
    COLUMNS,
    ROWS,
    eigenvalue_locus,
    figure3,
    figure3_nullcline_positions,
    find_marks,
    measures_grid,
    nullclines,
    phase_portrait,
    plot_basin,
    plot_root_locus,
    save_figure,
)
from stability.plots.fields import toy_field
from stability.plots.gallery import symbolic_field

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def saved(figure, path) -> bytes:
    save_figure(figure, path)
    return path.read_bytes()


# ---- nullclines --------------------------------------------------------------------


@pytest.mark.parametrize("rho", [sympy.Rational(3, 8), 1, sympy.Rational(1, 2)])
def test_lemma3_nullcline_positions(rho):
    positions = figure3_nullcline_positions(rho=rho)
    assert positions["psi_dot"] == pytest.approx([-3 / (4 * float(rho))], abs=1e-9)
    assert positions["theta_dot"] == pytest.approx([0.0], abs=1e-9)


def test_figure3_nullclines_are_at_psi_0_and_minus_2():
    assert figure3_nullcline_positions() == {"psi_dot": [-2.0], "theta_dot": [0.0]}


def test_dirac_nullclines_follow_the_linear_flow():
    rho = 0.7
    lines = nullclines(toy_field("dirac", "p_d", rho=rho), (-2, 2, -2, 2))
    psi_dot = np.concatenate(lines["psi_dot"])
    theta_dot = np.concatenate(lines["theta_dot"])
    np.testing.assert_allclose(psi_dot[:, 1], -rho * psi_dot[:, 0], atol=1e-9)  # ψ̇ = −θ − ρψ = 0
    np.testing.assert_allclose(theta_dot[:, 0], 0.0, atol=1e-9)  # θ̇ = ψ = 0
    assert np.ptp(psi_dot[:, 0]) > 3.9  # spans the box


def test_wgan_gp_jump_is_not_drawn_as_a_nullcline():
    # Dirac GAN with (|ψ| − 1)² on μ_GP, ρ = 1: ψ̇ = −θ − (|ψ| − 1)sign(ψ), which jumps by 2 at ψ = 0.
    lines = nullclines(toy_field("dirac", "mu_gp", rho=1, form="gp"), (-2, 2, -2, 2))
    psi, theta = np.concatenate(lines["psi_dot"]).T
    expected = np.where(psi > 0, 1 - psi, -1 - psi)
    np.testing.assert_allclose(theta, expected, atol=1e-6)


# ---- equilibria and their classes ------------------------------------------------------


def test_marks_of_the_dirac_gan():
    (wgan,) = find_marks(toy_field("dirac", None), (-2, 2, -2, 2))
    assert wgan.classification == CENTER
    np.testing.assert_allclose(sorted(wgan.eigenvalues.imag), [-1, 1], atol=1e-12)
    (penalised,) = find_marks(toy_field("dirac", "p_d", rho=1), (-2, 2, -2, 2))
    assert penalised.classification == STABLE_FOCUS


@pytest.mark.parametrize("rho", [0.5, 1.0])
def test_marks_of_the_psi_x2_toy(rho):
    marks = find_marks(toy_field("psi_x2", "p_d", rho=rho), (-2, 2, -2, 2))
    points = {tuple(np.round(m.point, 9)): m.classification for m in marks}
    assert points[(0.0, 1.0)] in STABLE_CLASSES and points[(0.0, -1.0)] in STABLE_CLASSES
    # θ = 0: 1/3 − (4ρ/3)ψ = 0 → a saddle at ψ = 1/(4ρ)
    assert points[(round(1 / (4 * rho), 9), 0.0)] == SADDLE


def test_lemma3_continuum_attracts_left_and_repels_right():
    marks = find_marks(toy_field("lemma3", "mu_gp", rho=sympy.Rational(3, 8)), (-4, 2, -3, 3))
    (continuum,) = [m for m in marks if m.kind == "continuum"]
    assert len(marks) == 1  # (0, 0) lies on the continuum and is not drawn twice
    for points, behaviour in continuum.segments:
        np.testing.assert_allclose(points[:, 1], 0.0)
        inner = points[1:-1, 0] if len(points) > 2 else points[:, 0]
        expected = "attracting" if np.all(inner < 0) else "repelling" if np.all(inner > 0) else None
        assert behaviour == expected  # transverse eigenvalue 2a


# ---- root loci ----------------------------------------------------------------------


def test_dirac_root_locus_equals_lemma1_closed_form():
    rho = np.linspace(0.05, 4.0, 80)
    locus = eigenvalue_locus(symbolic_field("dirac", "p_d"), "rho", rho, {"psi": 0.0, "theta": 0.0})
    root = np.sqrt(rho.astype(complex) ** 2 - 4)
    expected = np.stack([(-rho - root) / 2, (-rho + root) / 2], axis=1)
    for got, want in zip(locus.eigenvalues, expected):
        np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(want), atol=1e-10)


@pytest.mark.parametrize(
    ("measure", "second_moment"),
    [("p_d", 1 / 3), ("p_g", 1 / 3), ("mu_gp", 2 / 9), ("mu_mid", 1 / 6), ("mu_anchor", 4 / 3 + 1 / 9)],
)
def test_psi_x2_root_locus_equals_lemma2_closed_form(measure, second_moment):
    rho = np.linspace(0.05, 3.0, 60)
    locus = eigenvalue_locus(symbolic_field("psi_x2", measure, anchor="2"), "rho", rho, {"psi": 0.0, "theta": 1.0})
    E = second_moment
    root = np.sqrt(4 * rho.astype(complex) ** 2 * E**2 - 4 / 9)
    expected = np.stack([-2 * rho * E - root, -2 * rho * E + root], axis=1)
    for got, want in zip(locus.eigenvalues, expected):
        np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(want), atol=1e-10)


def test_anchor_root_locus_equals_closed_form():
    rho, anchors = 1.0, np.linspace(0.0, 4.0, 50)
    locus = eigenvalue_locus(
        symbolic_field("psi_x2", "mu_anchor", rho="1", anchor="A"), "A", anchors, {"psi": 0.0, "theta": 1.0}
    )
    E = anchors**2 / 3 + 1 / 9
    root = np.sqrt(4 * rho**2 * E.astype(complex) ** 2 - 4 / 9)
    for got, e, r in zip(locus.eigenvalues, E, root):
        np.testing.assert_allclose(
            np.sort_complex(got), np.sort_complex([-2 * rho * e - r, -2 * rho * e + r]), atol=1e-10
        )
    lemma3 = eigenvalue_locus(
        symbolic_field("lemma3", "mu_anchor", rho="1", anchor="A"), "A", anchors, {"psi": 0.0, "theta": 0.0}
    )
    # J(0, 0) = diag(−4ρA²/3, 0)
    np.testing.assert_allclose(
        np.sort(lemma3.eigenvalues.real, axis=1),
        np.stack([np.minimum(-4 * rho * anchors**2 / 3, 0), np.zeros_like(anchors)], 1),
        atol=1e-12,
    )


# ---- figures: files, axes, markers -----------------------------------------------------


def test_phase_portrait_files_and_markers(tmp_path):
    fig, ax = phase_portrait(
        toy_field("psi_x2", "p_d", rho=1), (-2, 2, -2, 2), starts=[(0.5, 0.5)], lr=0.1, gd_steps=20
    )
    assert len(fig.axes) == 1 and ax.get_xlabel().startswith(r"$\psi$") and ax.get_ylabel().startswith(r"$\theta$")
    assert saved(fig, tmp_path / "p.png").startswith(PNG_MAGIC)
    assert saved(fig, tmp_path / "p.pdf").startswith(PDF_MAGIC)
    labels = {line.get_label(): line for line in ax.get_lines()}
    assert {"flow (solve_ivp)", "simultaneous GD (h = 0.1)", "alternating GD (h = 0.1)"} <= set(labels)
    stable = labels["stable node"]
    saddle = labels["saddle"]
    assert stable.get_markerfacecolor() == stable.get_markeredgecolor()  # filled
    assert saddle.get_markerfacecolor() == "white"  # hollow


def test_nonsmooth_panel_is_annotated_and_does_not_crash(tmp_path):
    fig, ax = phase_portrait(toy_field("dirac", "mu_gp", rho=1, form="gp"), (-2, 2, -2, 2), starts=[(1.0, 0.5)])
    assert any("non-smooth" in text.get_text() for text in ax.texts)
    assert saved(fig, tmp_path / "gp.png").startswith(PNG_MAGIC)


def test_figure3_file(tmp_path):
    fig, ax = figure3()
    assert len(fig.axes) == 1
    assert {"A", "B", "C"} <= {t.get_text() for t in ax.texts}
    assert ax.get_xlim() == (-4.0, 2.0)
    assert saved(fig, tmp_path / "fig3.pdf").startswith(PDF_MAGIC)


def test_measures_grid_axes(tmp_path):
    summary: dict = {}
    fig, axes = measures_grid(rows=ROWS[:1], columns=COLUMNS, progress=False, summary=summary)
    assert axes.shape == (1, len(COLUMNS)) == (1, 7) and len(fig.axes) == 7
    assert saved(fig, tmp_path / "grid.png").startswith(PNG_MAGIC)
    assert summary["dirac/wgan"][0]["classification"] == CENTER
    assert all(
        summary[f"dirac/{c}"][0]["classification"] in STABLE_CLASSES
        for c in ("p_d", "p_g", "mu_gp", "mu_mid", "mu_anchor")
    )


def test_root_locus_and_basin_figures(tmp_path):
    locus = eigenvalue_locus(symbolic_field("dirac", "p_d"), "rho", np.linspace(0.1, 3, 30), {"psi": 0, "theta": 0})
    fig, ax = plot_root_locus(locus)
    assert len(fig.axes) == 2  # the locus and its colorbar
    assert saved(fig, tmp_path / "locus.png").startswith(PNG_MAGIC)
    field_ = toy_field("dirac", "p_d", rho=1)
    targets = [m.equilibrium for m in find_marks(field_, (-1, 1, -1, 1))]
    estimate = basin_of_attraction(field_, targets, (-1, 1, -1, 1), resolution=11, horizon=30.0, dt=0.1)
    assert np.all(estimate.labels == 0)  # M = 1: the basin is the whole plane (Lemma 1)
    fig, _ = plot_basin(estimate, radius=float("inf"))
    assert len(fig.axes) == 1
    assert saved(fig, tmp_path / "basin.pdf").startswith(PDF_MAGIC)


# ---- ganstab portrait ----------------------------------------------------------------


def test_portrait_cli_writes_a_png(tmp_path, capsys):
    out = tmp_path / "fig.png"
    code = main(
        [
            "portrait",
            "--toy",
            "lemma3",
            "--measure",
            "mu_gp",
            "--rho",
            "0.375",
            "--box=-4,2,-3,3",
            "--lr",
            "0.1",
            "--steps",
            "20",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_portrait_cli_json(tmp_path, capsys):
    import json

    code = main(["portrait", "--toy", "dirac", "--measure", "none", "--out", str(tmp_path / "w.pdf"), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [e["classification"] for e in result["equilibria"]] == [CENTER]
    assert (tmp_path / "w.pdf").read_bytes().startswith(PDF_MAGIC)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--toy", "dirac", "--out", "x.jpg"], "must end in .png or .pdf or .svg"),
        (["--toy", "nope", "--out", "x.png"], "unknown toy system"),
        (["--out", "x.png"], "give a spec file or --toy"),
        (["--toy", "dirac", "--box", "1,2,3", "--out", "x.png"], "--box needs 2 numbers"),  # one pair is every axis
        (["--toy", "dirac", "--measure", "bogus", "--out", "x.png"], "unknown penalty measure"),
        (["--toy", "dirac", "--starts", "1,2,3", "--out", "x.png"], "--starts"),
    ],
)
def test_portrait_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    try:
        status = main(["portrait", *argv, "--no-progress"])
    except SystemExit as exc:  # refused by an argparse type while the command line is read
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_stream_io_is_not_needed():
    # figures are plain Figure objects: drawing into memory needs no display
    fig, _ = phase_portrait(toy_field("dirac", "p_d"), (-1, 1, -1, 1), starts=())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(PNG_MAGIC)


def test_rate_bars_without_a_diverging_rule_keep_the_layout(recwarn):
    """Panels where every rule contracts drew an empty unclipped '×' line, whose unbounded extent made constrained
    layout give up ("axes sizes collapsed to zero" on stderr of `ganstab lemmas --rho 2`)."""
    import io

    from matplotlib.figure import Figure

    from stability.plots.stability_map import rate_bars

    figure = Figure(figsize=(8, 3), layout="constrained")
    left, right = figure.subplots(1, 2)
    rate_bars(left, {"p_d": {"sim": 0.5, "alt": 0.2}, "p_g": {"sim": 0.9, "alt": 0.1}}, ["sim", "alt"], "all contract")
    rate_bars(right, {"p_d": {"sim": None, "alt": 0.3}}, ["sim", "alt"], "one diverges")
    figure.savefig(io.BytesIO(), format="png", dpi=50)
    assert not [w for w in recwarn if "constrained_layout" in str(w.message)]
    assert left.get_position().height > 0.3  # the axes kept their size
