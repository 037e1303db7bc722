"""Reproduce Figure 3 of Kim et al. (``003_…``): the Lemma 3 phase portrait at ρ = 3/8.

The system (D₂ = ψx², p_d = δ₀, p_θ = δ_θ, μ_GP) has the flow
ψ̇ = −θ² − (4/3)ρψθ², θ̇ = 2ψθ (Appendix B): nullclines ψ = 0 and
ψ = −3/(4ρ) = −2, the whole ψ-axis is equilibria, and no solution curve
converges to (0, 0). The script prints where the nullclines were found and
saves the figure.

Usage: python examples/figure3_lemma3.py [--out figure3_lemma3.png] [--lr H]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stability.plots import FIGURE3_RHO, figure3, figure3_nullcline_positions, save_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("figure3_lemma3.png"), help="output file (.png, .pdf, .svg)")
    parser.add_argument("--lr", type=float, default=None, help="also draw simultaneous/alternating GD at this step")
    args = parser.parse_args()

    positions = figure3_nullcline_positions(FIGURE3_RHO)
    print(
        f"rho = {FIGURE3_RHO}: psi_dot = 0 at psi = {positions['psi_dot']} (paper: -3/(4 rho) = "
        f"{-3 / (4 * float(FIGURE3_RHO)):g}); theta_dot = 0 at psi = {positions['theta_dot']} (paper: 0)"
    )
    fig, _ = figure3(FIGURE3_RHO, lr=args.lr)
    print(f"saved {save_figure(fig, args.out, dpi=150)}")


if __name__ == "__main__":
    main()
