"""``ganstab lemmas``: the lemma checks of ``003_…`` and the stability report (the main job)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stability.cli.common import dump_json, finite_float, positive_float

DEFAULT_OUT = Path("ganstab-report")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lemmas",
        help="check Lemmas 1-3 of 003 (and Mescheder's R1 result) across penalty measures; write the report",
        description=(
            "For the Dirac GAN (Lemma 1), the psi*x^2 toy (Lemma 2) and the Lemma 3 system, across the penalty "
            "measures p_d, p_g, mu_GP, mu_mid and mu_g,anc, derive the gradient flow from its spec, find the "
            "equilibria, and compare the Jacobian and eigenvalues with the paper's closed forms. Exit status 1 "
            "if any check disagrees."
        ),
        epilog=(
            "examples:\n  ganstab lemmas\n  ganstab lemmas --rho 0.375 --anchor 2 --out report/\n"
            "  ganstab lemmas --json --no-report"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rho", type=positive_float, default=1.0, help="penalty weight rho > 0 (default: 1)")
    parser.add_argument("--anchor", type=finite_float, default=2.0, help="anchor A of mu_g,anc (default: 2)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--out", type=Path, default=None, help=f"report directory (default: ./{DEFAULT_OUT}/)")
    parser.add_argument("--no-report", action="store_true", help="only print the table; write no files")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stability.analysis.lemmas import lemma_checks
    from stability.util.checks import output_folder

    if not args.no_report:
        output_folder(args.out or DEFAULT_OUT)  # before minutes of work, not after
    report = lemma_checks(rho=args.rho, anchor=args.anchor)
    if args.json:
        print(dump_json(report.to_dict()))
    else:
        print(report.format_table())
    if not args.no_report:
        out = args.out or DEFAULT_OUT
        try:
            from stability.plots.report import write_report
        except ModuleNotFoundError as exc:  # the plotting extra is part of the install; be explicit if not
            print(f"ganstab lemmas: report not written ({exc})", file=sys.stderr)
        else:
            from stability.util.atomic import ensure_directory

            ensure_directory(out)  # a file where the folder should be is one line (exit 4), as every write failure
            paths = write_report(out, report, progress=not args.json)
            if not args.json:
                print(f"\nreport written to {out}/ ({len(paths)} files): {out / 'report.html'}")
    return 0 if report.all_agree else 1  # 1 means a check disagrees, and nothing else
