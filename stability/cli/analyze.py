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
            "  ganstab analyze examples/specs/psi_x2_toy.toml --backend torch --json\n"
            "  ganstab analyze examples/specs/psi_x2_toy.toml --update alt:lr=0.1,momentum=-0.3 --update eg:lr=0.1"
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
    parser.add_argument(
        "--update",
        action="append",
        default=None,
        metavar="RULE",
        help="also the discrete-time stability of an update rule at each point (repeatable), e.g. "
        "alt:n_critic=5,lr=1e-3,momentum=-0.5 or adam:lr=1e-4,beta1=0.5,beta2=0.9,v=1e-8: radius, rate per "
        "gradient, largest stable step, fastest step (docs/update-rules.md)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stability.analysis.analyze import analyze, mass_warnings
    from stability.spec.specfile import load_spec
    from stability.symbolic.field import SymbolicField

    rules = _rules(args.update)  # one-line errors before any symbolic work
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
    updates = _update_results(report, system, rules) if rules else None
    if args.json:
        data = report.to_dict()
        for entry, results in zip(data["equilibria"], updates or []):
            entry["update"] = [r.to_dict() for r in results]
        print(dump_json(data))
    else:
        print(_format(report, updates))
    return 0


def _rules(texts: list[str] | None) -> list:
    """The ``--update`` rules, parsed and their assumptions checked (Adam and RMSprop need ``v``)."""
    if not texts:
        return []
    import numpy as np

    from stability.analysis.update_rules import assumed_state, parse_rule

    rules = [parse_rule(t) for t in texts]
    for rule in rules:
        assumed_state(rule, np.zeros(2), 1)
    return rules


def _update_results(report, system, rules) -> list[list]:
    """Each rule at each point (:func:`~stability.analysis.discrete.analyze_rule`), transverse on continua."""
    from stability.analysis.discrete import analyze_rule
    from stability.autodiff.field import torch_field_for

    torch_field = torch_field_for(system)
    names = [p.name for p in system.params]
    out = []
    for p in report.points:
        e = p.equilibrium
        null = (e.dimension or len(e.free)) if e is not None and e.kind == "continuum" else 0
        vector = [p.linear.point[n] for n in names]
        out.append([analyze_rule(rule, torch_field, vector, null_dim=null) for rule in rules])
    return out


def _residual_lines(point) -> list[str]:
    """The field at the point by each route that evaluated it, against the size of its terms (issue 27)."""
    lines = []
    if point.check is not None:
        verdict = "an equilibrium" if point.is_equilibrium else "NOT an equilibrium"
        lines.append(f"  residual: {point.check.describe()}: {verdict}")
    second = point.equilibrium.verification if point.equilibrium is not None else None
    if second is not None and second.route != (point.check.route if point.check else None):
        lines.append(f"  second route: {second.describe()}")
    finer = second.describe_higher() if second is not None else None
    if finer is not None:  # a quadrature flow: both routes above share its nodes, so its error shows only here
        lines.append(f"  finer quadrature: {finer}")
    return lines


def _format(report, updates: list[list] | None = None) -> str:
    lines = [report.system, "", "vector field (Definition 4):"]
    lines += [f"  {_shorten(eq)}" for eq in report.vector_field]
    lines.append("")
    if not report.points:
        lines.append("no equilibria found" + (f" ({report.search.describe()})" if report.search else ""))
    for index, p in enumerate(report.points):
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
        for result in updates[index] if updates else []:
            lines.append(f"  update {result.summary()}")
            lines += [f"    note: {n}" for n in result.notes]
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
