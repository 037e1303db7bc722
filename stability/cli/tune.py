"""``ganstab tune``: which update rule, step and momentum converge fastest, per penalty measure (a stability map)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stability.cli.common import dump_json, finite_float, int_type, positive_float
from stability.util.checks import output_folder_type

EXAMPLES = """\
rules (--rule, repeatable; NAME or NAME:key=value,...):
  sim, alt (n_critic, lr_d/lr_g, momentum), eg, ogd, rmsprop and adam (v=... assumed second moment, required)

examples:
  ganstab tune --toy psi_x2
  ganstab tune --toy dirac --measures p_d,mu_mid --rule sim --rule alt --rule alt:momentum=0 --out tune/
  ganstab tune --toy psi_x2 --map alt:n_critic=5 --y rho --json
  ganstab tune --toy psi_x2 --measures mu_mid --map alt:lr=0.1 --y n_critic --y-range 1,8
  ganstab tune examples/specs/psi_x2_toy.toml --at psi=0,theta=1 --rule adam:beta1=0.5,beta2=0.9,v=1e-6

writes DIR/stability_map.png (one panel per measure: the radius of the --map rule over step x --y, the radius-1
contour, the fastest point), DIR/tune.md (the table) and DIR/tune.json (every number). Exit status 2 for bad input.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="stability maps of update rules and the fastest step/momentum per penalty measure",
        description=(
            "At a stable equilibrium of the flow (Definition 4 of 003), linearise each update rule's map (its "
            "torch.optim step on parameters and optimiser memory) and find the step (and momentum) with the least "
            "spectral radius, its rate per gradient evaluation and the largest stable step, per penalty measure; "
            "draw the radius of one rule over step x momentum (or rho, n_critic, beta1) with the radius-1 contour."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", nargs="?", type=Path, help="a TOML spec file (or use --toy)")
    parser.add_argument("--toy", help="a toy system of 003: dirac, psi_x2 or lemma3")
    parser.add_argument(
        "--measures",
        default=None,
        help="penalty measures for --toy, comma-separated (default: p_d,p_g,mu_gp,mu_mid,mu_anchor)",
    )
    parser.add_argument("--form", default="simple", help="penalty form for --toy: simple, gp, lp (default: simple)")
    parser.add_argument("--rho", type=positive_float, default=None, help="penalty weight (default: 1 for --toy)")
    parser.add_argument("--anchor", type=finite_float, default=2.0, help="anchor A of mu_anchor (default: 2)")
    parser.add_argument("--at", default=None, help="tune at this point, e.g. psi=0,theta=1 (default: a stable one)")
    parser.add_argument(
        "--rule",
        action="append",
        default=None,
        metavar="RULE",
        help="an update rule to tune (repeatable; default: sim, alt, alt:momentum=0, eg, ogd)",
    )
    parser.add_argument("--map", default=None, metavar="RULE", help="the rule whose stability map is drawn")
    parser.add_argument(
        "--y", default=None, choices=("momentum", "rho", "n_critic", "beta1"), help="the map's second axis"
    )
    parser.add_argument("--x-range", default=None, metavar="LO,HI", help="steps lr_d of the map (default: automatic)")
    parser.add_argument("--y-range", default=None, metavar="LO,HI", help="range of the second axis")
    parser.add_argument(
        "--resolution",
        default="121,81",
        metavar="NX,NY",
        help="grid points along the step and the second axis (default: 121,81)",
    )
    parser.add_argument(
        "--out", type=output_folder_type(), default="ganstab-tune", help="output folder (default: ganstab-tune)"
    )
    parser.add_argument("--dpi", type=int_type(10, 2400), default=130, help="resolution of the PNG (default: 130)")
    parser.add_argument("--json", action="store_true", help="print tune.json to stdout as well")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(func=run)


def _pair(text: str | None, what: str) -> tuple[float, float] | None:
    from stability.util.errors import UserError, checked_float

    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise UserError(f"{what}: give two numbers LO,HI, got {text!r}")
    low, high = (checked_float(p, what) for p in parts)
    if not low < high:
        raise UserError(f"{what}: LO must be below HI, got {text!r}")
    return low, high


def _resolution(text: str) -> tuple[int, int]:
    from stability.util.errors import UserError, checked_int

    parts = text.split(",")
    if len(parts) != 2:
        raise UserError(f"--resolution: give NX,NY, got {text!r}")
    return checked_int(parts[0], "--resolution NX", 2, 2000), checked_int(parts[1], "--resolution NY", 2, 2000)


def _targets(args: argparse.Namespace):
    """(targets, field_at): the systems per measure and how to rebuild each at another ρ."""
    from stability.analysis.tuning import tune_target
    from stability.autodiff.field import torch_field_for
    from stability.cli.common import parse_assignments
    from stability.spec.measures import MEASURES
    from stability.util.errors import UserError

    at = parse_assignments(args.at, "--at") or None
    if (args.spec is None) == (args.toy is None):
        raise UserError("give a spec file or --toy NAME (dirac, psi_x2, lemma3), not both")
    if args.spec is not None:
        if args.measures is not None:
            raise UserError("--measures applies to --toy only; the spec file names its own measure")
        from stability.spec.specfile import load_spec

        system = load_spec(args.spec)
        if args.rho is not None:
            system = system.bind(rho=args.rho)
        if system.constants:
            raise UserError(f"the spec leaves {', '.join(s.name for s in system.constants)} symbolic; give --rho")
        label = system.penalty.measure.name if system.penalty is not None else "no penalty"
        targets = [tune_target(system, label, at)]
        return targets, lambda _label, rho: torch_field_for(system.bind(rho=rho))
    from stability.spec.toys import get_toy

    names = [m.strip() for m in (args.measures or ",".join(MEASURES)).split(",") if m.strip()]
    if not names:
        raise UserError("--measures: give at least one measure")
    systems = {}
    for name in dict.fromkeys(names):
        measure = None if name.lower() in ("none", "wgan") else name
        systems[name] = get_toy(args.toy, measure=measure, rho=args.rho or 1, form=args.form, anchor=args.anchor)
    targets = [tune_target(system, name, at) for name, system in systems.items()]

    def field_at(label: str, rho: float):
        return torch_field_for(systems[label].bind(rho=rho))

    return targets, field_at


def run(args: argparse.Namespace) -> int:
    from stability.analysis.tuning import DEFAULT_RULES, TABLE_HEADER, tune
    from stability.analysis.update_rules import parse_rule
    from stability.util.atomic import atomic_write, ensure_directory
    from stability.util.errors import UserError

    rules = [parse_rule(r) for r in (args.rule or DEFAULT_RULES)]  # one-line errors before any work
    map_of = parse_rule(args.map) if args.map else None
    x_range, y_range = _pair(args.x_range, "--x-range"), _pair(args.y_range, "--y-range")
    if x_range is not None and x_range[0] <= 0:
        raise UserError(f"--x-range: steps must be > 0, got {args.x_range!r}")
    resolution = _resolution(args.resolution)
    targets, field_at = _targets(args)
    report = tune(
        targets,
        rules,
        map_of,
        args.y,
        x_range,
        y_range,
        resolution,
        field_at=field_at,
        progress=not (args.no_progress or args.json),
    )
    from stability.plots.fields import MEASURE_TITLES
    from stability.plots.stability_map import stability_map_figure
    from stability.plots.style import save_figure
    from stability.util.tables import markdown_table

    ensure_directory(args.out)
    first = next(iter(report.maps.values()))
    figure, _ = stability_map_figure(
        [(MEASURE_TITLES.get(t.label, t.label), report.maps[t.label]) for t in report.targets],
        f"{first.rule}: spectral radius over step × {first.y_name}",
    )
    figure_path = save_figure(figure, args.out / "stability_map.png", dpi=args.dpi)
    table = markdown_table(TABLE_HEADER, report.rows(), _cell)
    atomic_write(args.out / "tune.md", _markdown(report, table))
    data = report.to_dict() | {"figure": str(figure_path)}
    text = dump_json(data)
    atomic_write(args.out / "tune.json", text + "\n")
    if args.json:
        print(text)
    else:
        print(_text(report, table))
        print(f"\nwritten to {args.out}/: stability_map.png, tune.md, tune.json")
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _text(report, table: str) -> str:
    lines = []
    for target in report.targets:
        where = ", ".join(f"{k}={v:.4g}" for k, v in target.point.items())
        lines.append(f"{target.label}: at ({where}), {target.classification}")
        lines += [f"  note: {n}" for n in target.notes]
        smap = report.maps.get(target.label)
        if smap is not None and smap.best is not None:
            best = smap.best
            lines.append(
                f"  map {smap.rule} over step x {smap.y_name}: stable on {smap.stable_fraction:.0%} of the grid; "
                f"fastest at step {best['x']:.4g}, {smap.y_name} {best['y']:.4g}: radius {best['radius']:.4g}"
            )
    notes = {n for results in report.results.values() for r in results for n in r.notes}
    lines += ["", table]
    lines += [f"note: {n}" for n in sorted(notes)]
    return "\n".join(lines)


def _markdown(report, table: str) -> str:
    lines = ["# ganstab tune", ""]
    lines.append("Fastest step (and momentum) per penalty measure and update rule: the least spectral radius of the")
    lines.append("rule's linearised map at the equilibrium, and its rate per gradient evaluation.")
    lines += ["", table, ""]
    for target in report.targets:
        lines.append(f"- {target.label}: point {target.point}, {target.classification}")
        lines += [f"  - {n}" for n in target.notes]
    return "\n".join(lines) + "\n"
