"""``ganstab analyze SPEC.toml``: flow, equilibria, Jacobians, eigenvalues, classes, stable steps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stability.cli.common import dump_json, parse_assignments, parse_box


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyse a GAN system given as a TOML spec file",
        description="Derive the simultaneous gradient flow (Definition 4 of 003) of the system in SPEC and "
        "linearise it at its equilibria (or at --at).",
        epilog=(
            "examples:\n"
            "  ganstab analyze examples/specs/psi_x2_toy.toml\n"
            "  ganstab analyze examples/specs/dirac_mu_gp.toml --at psi=0,theta=0 --json\n"
            "  ganstab analyze examples/specs/lemma3_rho_symbolic.toml --param rho=0.375\n"
            "  ganstab analyze examples/specs/psi_x2_toy.toml --backend torch --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", type=Path, help="TOML spec file (format: README, examples/specs/)")
    parser.add_argument("--at", default=None, help="analyse this point instead of searching, e.g. psi=0,theta=1")
    parser.add_argument("--param", default=None, help="values of symbolic constants, e.g. rho=0.5")
    parser.add_argument(
        "--box",
        default=None,
        help="search box: min,max for every parameter (e.g. --box=-2,2) or one min,max pair per parameter "
        "(numeric search, mass check; default -3,3)",
    )
    parser.add_argument(
        "--backend",
        choices=("symbolic", "torch"),
        default="symbolic",
        help="Jacobian from the sympy engine or from torch.func autodiff (default: symbolic)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stability.analysis.analyze import analyze, mass_warnings
    from stability.spec.specfile import load_spec
    from stability.symbolic.field import SymbolicField

    system = load_spec(args.spec).bind(parse_assignments(args.param, "--param"))
    field_ = SymbolicField(system)
    at = parse_assignments(args.at, "--at") or None
    box = parse_box(args.box, len(system.params))
    report = analyze(field_, at=at, box=box, backend=args.backend)
    if box is None:
        report.notes += mass_warnings(system, [(-3.0, 3.0)] * len(system.params))
    for note in report.notes:
        if note.startswith("warning"):
            print(f"ganstab analyze: {note}", file=sys.stderr)
    if args.json:
        print(dump_json(report.to_dict()))
    else:
        print(_format(report))
    return 0


def _residual_lines(point) -> list[str]:
    """The field at the point by each route that evaluated it, against the size of its terms (issue 27)."""
    lines = []
    if point.check is not None:
        verdict = "an equilibrium" if point.is_equilibrium else "NOT an equilibrium"
        lines.append(f"  residual: {point.check.describe()}: {verdict}")
    second = point.equilibrium.verification if point.equilibrium is not None else None
    if second is not None and second.route != (point.check.route if point.check else None):
        lines.append(f"  second route: {second.describe()}")
    return lines


def _format(report) -> str:
    lines = [report.system, "", "vector field (Definition 4):"]
    lines += [f"  {_shorten(eq)}" for eq in report.vector_field]
    lines.append("")
    if not report.points:
        lines.append("no equilibria found" + (f" ({report.search.describe()})" if report.search else ""))
    for p in report.points:
        linear = p.linear
        where = ", ".join(f"{k}={v:.6g}" for k, v in linear.point.items())
        kind = (
            f" [{p.equilibrium.kind}: {p.equilibrium.describe()}]"
            if p.equilibrium and p.equilibrium.kind == "continuum"
            else ""
        )
        class_says_it = linear.hyperbolic or linear.classification in ("center", "non-hyperbolic")
        lines.append(f"at ({where}){kind}: {linear.classification}{'' if class_says_it else ' (not hyperbolic)'}")
        lines += _residual_lines(p)
        lines.append(
            "  Jacobian: " + "; ".join("[" + " ".join(f"{v + 0.0:.6g}" for v in row) + "]" for row in linear.jacobian)
        )
        eigs = ", ".join(
            f"{v.real + 0.0:.6g}{v.imag:+.6g}i" if abs(v.imag) > 1e-12 else f"{v.real + 0.0:.6g}"
            for v in linear.eigenvalues
        )
        lines.append(f"  eigenvalues: {eigs}")
        step = linear.max_stable_step
        alt = linear.max_stable_step_alternating
        lines.append(
            "  largest stable GD step: simultaneous "
            + (f"h < {step:.6g}" if step is not None else "none")
            + ", alternating "
            + (f"h < {alt:.6g}" if alt is not None else "none")
        )
        if p.lyapunov is not None:
            lines.append(
                f"  Lyapunov: L = {p.lyapunov.function}, dL/dt = {p.lyapunov.derivative}; {p.lyapunov.verdict}"
            )
        lines += [f"  note: {n}" for n in linear.notes]
    if report.notes:
        lines.append("")
        lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _shorten(text: str, limit: int = 400) -> str:
    """Quadrature expectations make flows of thousands of terms: show their start, keep them in --json."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … ({len(text):,} characters; the whole expression is in --json)"
