"""``ganstab portrait``: one phase portrait of a spec file or a toy system, saved to a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from stability.cli.common import dump_json, finite_float, int_type, number_type, parse_box, positive_float
from stability.util.checks import output_file_type
from stability.util.errors import UserError, checked_float

FORMATS = (".png", ".pdf", ".svg")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "portrait",
        help="draw the phase portrait of a spec file or toy system (streamlines, nullclines, equilibria, GD paths)",
        description=(
            "Draw the (psi, theta) phase portrait of a GAN gradient flow (Definition 4 of 003): streamlines, the "
            "nullclines psi_dot = 0 and theta_dot = 0, equilibria marked by class (filled = stable, hollow = "
            "unstable/saddle, lines = continua), trajectories of the continuous flow and, with --lr, of "
            "simultaneous and alternating gradient descent. The system needs one psi and one theta."
        ),
        epilog=(
            "examples:\n"
            "  ganstab portrait --toy lemma3 --measure mu_gp --rho 0.375 --box=-4,2,-3,3 --out fig3.png\n"
            "  ganstab portrait --toy dirac --measure none --lr 0.1 --out wgan.pdf\n"
            "  ganstab portrait examples/specs/dirac_mu_gp.toml --out dirac.png --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", nargs="?", type=Path, help="a TOML spec file (or use --toy)")
    parser.add_argument("--toy", help="a toy system of 003: dirac, psi_x2 or lemma3")
    parser.add_argument(
        "--measure",
        default=None,
        help="penalty measure for --toy: none or a name of stability.spec.measures.MEASURES (default: p_d)",
    )
    parser.add_argument("--form", default=None, help="penalty form for --toy: simple, gp, lp (default: simple)")
    parser.add_argument("--mass", default=None, help="penalty mass M(psi, theta) for --toy, e.g. 'exp(-psi**2)'")
    parser.add_argument(
        "--anchor", type=finite_float, default=None, help="anchor A of mu_anchor for --toy (default: 2)"
    )
    parser.add_argument(
        "--rho",
        type=positive_float,
        default=None,
        help="penalty weight rho > 0 (default: 1 for --toy; overrides the spec file's rho)",
    )
    parser.add_argument(
        "--box",
        default=None,
        metavar="PSIMIN,PSIMAX,THETAMIN,THETAMAX",
        help="drawing box (default: -3,3,-3,3)",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate h: also draw simultaneous and alternating GD (default: none)",
    )
    parser.add_argument(
        "--steps", type=int_type(1, 10**6), default=100, help="number of GD steps with --lr (default: 100)"
    )
    parser.add_argument(
        "--update",
        action="append",
        default=None,
        metavar="RULE",
        help="also draw the iterates of an update rule (repeatable; its own step), e.g. alt:lr=0.1,momentum=-0.5 "
        "or adam:lr=0.05,beta1=0.5,beta2=0.9 (docs/update-rules.md)",
    )
    parser.add_argument(
        "--starts",
        default=None,
        metavar="PSI,THETA;PSI,THETA",
        help="starts of the trajectories, e.g. '1,0.5;-1,1' (default: 4 spread over the box; '' = none)",
    )
    parser.add_argument(
        "--t-max", type=number_type(positive=True, high=1e6), default=20.0, help="flow trajectory horizon (default: 20)"
    )
    # a 6-inch figure at 10,000 dpi is a 3.6-gigapixel image: the bound keeps a typo from exhausting memory
    parser.add_argument("--dpi", type=int_type(10, 2400), default=150, help="resolution of PNG output (default: 150)")
    parser.add_argument(
        "--out", type=output_file_type(*FORMATS), required=True, help="output file: .png, .pdf or .svg (replaced)"
    )
    parser.add_argument("--json", action="store_true", help="print what was drawn (equilibria, classes) as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _system(args: argparse.Namespace):
    """The GanSystem to draw, from a spec file or a toy; every misuse is a UserError."""
    if args.spec is None and args.toy is None:
        raise UserError("give a spec file or --toy NAME (dirac, psi_x2, lemma3)")
    if args.spec is not None and args.toy is not None:
        raise UserError("give a spec file or --toy NAME, not both")
    if args.spec is not None:
        toy_only = [
            flag
            for flag, value in (
                ("--measure", args.measure),
                ("--form", args.form),
                ("--mass", args.mass),
                ("--anchor", args.anchor),
            )
            if value is not None
        ]
        if toy_only:
            verb = "applies" if len(toy_only) == 1 else "apply"
            raise UserError(
                f"{', '.join(toy_only)} {verb} to --toy only; edit the spec file's [system.penalty] instead"
            )
        try:
            from stability.spec.specfile import load_spec
        except ModuleNotFoundError as exc:
            raise UserError(f"spec files need stability.spec.specfile, which is not available ({exc})") from None
        system = load_spec(args.spec)
        if args.rho is not None:
            system = system.bind(rho=args.rho)
        if system.constants:
            names = ", ".join(s.name for s in system.constants)
            raise UserError(f"the spec leaves {names} symbolic; give a value with --rho")
        return system
    from stability.spec.toys import get_toy

    measure = args.measure or "p_d"
    return get_toy(
        args.toy,
        measure=None if measure.lower() in ("none", "wgan") else measure,
        rho=args.rho if args.rho is not None else 1,
        form=args.form or "simple",
        mass=args.mass,
        anchor=args.anchor if args.anchor is not None else 2,
    )


def _starts(text: str | None) -> list[tuple[float, float]] | None:
    if text is None:
        return None
    starts = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        values = part.split(",")
        if len(values) != 2:
            raise UserError(f"--starts: each start needs 2 numbers (psi,theta), got {part!r}")
        values = [checked_float(v, "--starts") for v in values]
        starts.append((values[0], values[1]))
    return starts


def run(args: argparse.Namespace) -> int:
    box_pairs = parse_box(args.box, 2) or [(-3.0, 3.0), (-3.0, 3.0)]
    box = (box_pairs[0][0], box_pairs[0][1], box_pairs[1][0], box_pairs[1][1])
    starts = _starts(args.starts)

    from tqdm.auto import tqdm

    from stability.plots import find_marks, phase_portrait, save_figure
    from stability.plots.fields import require_plane
    from stability.symbolic.field import SymbolicField
    from stability.util.atomic import ensure_directory

    rules = _rules(args.update)
    system = _system(args)
    bar = tqdm(total=4, desc="portrait", disable=True if args.no_progress or args.json else None, leave=False)
    try:  # the bar is cleared on an error too, so the error stays the one line on stderr
        bar.set_postfix_str("deriving the flow")
        field_ = SymbolicField(system)
        require_plane(field_)
        field_.require_numeric()
        bar.update()
        bar.set_postfix_str("equilibria")
        marks = find_marks(field_, box)
        bar.update()
        bar.set_postfix_str("drawing")
        fig, _ = phase_portrait(
            field_,
            box,
            starts=starts,
            t_max=args.t_max,
            lr=args.lr,
            gd_steps=args.steps,
            rules=rules,
            marks=marks,
            title=_title(system),
        )
        bar.update()
        bar.set_postfix_str("saving")
        ensure_directory(args.out.parent)
        path = save_figure(fig, args.out, dpi=args.dpi)
        bar.update()
    finally:
        bar.close()
    if args.json:
        print(
            dump_json(
                {
                    "out": str(path),
                    "system": system.describe(),
                    "vector_field": field_.describe(),
                    "box": list(box),
                    "equilibria": [m.to_dict() for m in marks],
                    "lr": args.lr,
                    "update": [r.spec() for r in rules],
                }
            )
        )
    else:
        print(f"portrait written to {path}")
    return 0


def _rules(texts: list[str] | None) -> list:
    """The ``--update`` rules, each with its own step (a trajectory needs one)."""
    from stability.analysis.update_rules import parse_rule

    rules = [parse_rule(t) for t in texts or []]
    for rule in rules:
        if rule.lr_d is None:
            raise UserError(f"--update {rule.spec()}: give the rule's step, e.g. {rule.name}:lr=0.1")
    return rules


def _title(system) -> str:
    if system.penalty is None:
        return f"{system.name}, no penalty"
    penalty = system.penalty
    form = "" if penalty.form.name == "simple" else f", {penalty.form.name} form"
    return f"{system.name}, {penalty.measure.describe()}{form}, ρ = {penalty.rho}"
