"""The measures grid: the toys of ``003_…`` under every penalty measure of its Table 1.

Rows: Dirac GAN, ψx² toy (Lemma 2), Lemma 3 system. Columns: no penalty
(WGAN), p_d, p_g, μ_GP, μ_mid, μ_g,anc and the WGAN-GP form (‖∇ₓD‖ − 1)² on
μ_GP. Prints the equilibria and their classes per panel and saves the figure.

Usage: python examples/measures_grid.py [--rho 1] [--anchor 2] [--out measures_grid.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stability.plots import measures_grid, save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rho", type=float, default=1.0, help="penalty weight (default 1)")
    parser.add_argument("--anchor", type=float, default=2.0, help="anchor A of mu_g,anc (default 2)")
    parser.add_argument("--out", type=Path, default=Path("measures_grid.png"), help="output file (.png, .pdf, .svg)")
    args = parser.parse_args()

    summary: dict = {}
    fig, _ = measures_grid(rho=args.rho, anchor=args.anchor, summary=summary)
    for panel, marks in summary.items():
        described = "; ".join(
            f"{m['kind']} ({m['point'][0]:.3g}, {m['point'][1]:.3g}) {m['classification']}"
            + (f" [{', '.join(m['continuum_behaviour'])}]" if m["continuum_behaviour"] else "")
            for m in marks
        )
        print(f"{panel:<18} {described or 'no equilibrium in the box'}")
    print(f"saved {save_figure(fig, args.out, dpi=130)}")


if __name__ == "__main__":
    main()
