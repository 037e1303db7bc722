"""Check Theorem 1 of ``003_…`` on a realizable neural GAN at its equilibrium.

p_d = N(m, diag(s²)), an affine generator G(z) = Az + b and an MLP critic whose
output layer is zero at ψ* (``models/realizable.py``). Prints the blocks'
residual ‖J − [[−ρQ, −R], [Rᵀ, 0]]‖, Q ⪰ 0, rank R, N(Q) ⊂ N(Rᵀ) and the
Hurwitz test of the projected system, for each penalty measure.

    PYTHONPATH=. python examples/theorem1_check.py [--rho 1.5] [--width 8] [--json]
"""

from __future__ import annotations

import argparse
import json

from models.realizable import realizable_game
from stability.analysis.theorem1 import theorem1_check
from stability.autodiff.field import TorchField
from stability.spec.toys import make_penalty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rho", type=float, default=1.5, help="penalty weight ρ (default 1.5)")
    parser.add_argument("--width", type=int, default=8, help="critic hidden units (default 8)")
    parser.add_argument("--nodes", type=int, default=5, help="Gauss–Hermite nodes per base variable (default 5)")
    parser.add_argument("--measures", default="p_d,p_g,mu_gp,mu_mid", help="penalty measures to check")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    results = {}
    for measure in args.measures.split(","):
        game = realizable_game(width=args.width)
        penalty = make_penalty(measure, rho=args.rho)
        field = TorchField.from_modules(game.critic, game.generator, game.data, game.latent, penalty, nodes=args.nodes)
        check = theorem1_check(field)
        results[measure] = check.to_dict()
        if not args.json:
            print(
                f"== μ = {measure}, ρ = {args.rho}: {field.n_psi} critic + "
                f"{field.size - field.n_psi} generator parameters"
            )
            print(f"   expectations: {field.expectation_note}")
            for line in check.summary():
                print("   " + line)
            print(f"   Theorem 1 conclusions hold: {check.holds}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
