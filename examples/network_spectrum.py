"""Top eigenvalues of the Jacobian of a network GAN's gradient flow, matrix-free.

Builds an MLP GAN on the 8-Gaussians mixture (or a DCGAN pair on a fixed batch
of 32×32 inputs), computes the top-k eigenvalues by largest real part with
ARPACK over retained-graph VJPs, and tests simultaneous and alternating GD at a
step size.

    PYTHONPATH=. python examples/network_spectrum.py --model mlp --width 128 --k 6 --step 1e-3
    PYTHONPATH=. python examples/network_spectrum.py --model dcgan --width 16 --batch 8
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from models.mlp import MLP
from models.radford_dcgan import DCGANCritic, DCGANGenerator
from stability.analysis.spectrum import discrete_stability, top_eigenvalues
from stability.autodiff.field import TorchField
from stability.spec.laws import mixture, normal
from stability.spec.toys import make_penalty


def build(model: str, width: int, batch: int, measure: str, form: str, rho: float, dtype: torch.dtype) -> TorchField:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    penalty = make_penalty(measure, rho=rho, form=form)
    if model == "mlp":
        centres = [[2 * math.cos(2 * math.pi * i / 8), 2 * math.sin(2 * math.pi * i / 8)] for i in range(8)]
        data = mixture([normal(c, [0.05, 0.05]) for c in centres]).sample(batch, generator=gen)
        latent = torch.randn(batch, 2, generator=gen)
        critic, generator = MLP(2, 1, width, 3, "tanh"), MLP(2, 2, width, 3, "tanh")
    else:
        data = torch.rand(batch, 3, 32, 32, generator=gen) * 2 - 1  # a fixed batch standing in for images
        latent = torch.randn(batch, 128, generator=gen)
        critic, generator = (
            DCGANCritic(width, activation="softplus"),
            DCGANGenerator(width=width, activation="softplus"),
        )
    return TorchField.from_modules(critic, generator, data, latent, penalty, dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["mlp", "dcgan"], default="mlp", help="network pair (default mlp)")
    parser.add_argument("--width", type=int, default=128, help="hidden width / base channels (default 128)")
    parser.add_argument("--batch", type=int, default=256, help="fixed data/latent batch (default 256)")
    parser.add_argument("--measure", default="mu_gp", help="penalty measure (default mu_gp)")
    parser.add_argument("--form", default="gp", help="penalty form: simple, gp, lp (default gp)")
    parser.add_argument("--rho", type=float, default=10.0, help="penalty weight (default 10)")
    parser.add_argument("--k", type=int, default=6, help="eigenvalues to compute (default 6)")
    parser.add_argument("--step", type=float, default=1e-3, help="GD step size to test (default 1e-3)")
    parser.add_argument("--float64", action="store_true", help="float64 products (default float32)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    dtype = torch.float64 if args.float64 else torch.float32
    field = build(args.model, args.width, args.batch, args.measure, args.form, args.rho, dtype)
    spectrum = top_eigenvalues(field, k=args.k, which="LR", progress=not args.json)
    steps = {
        m: discrete_stability(field, step=args.step, method=m, k=args.k, progress=not args.json)
        for m in ("simultaneous", "alternating")
    }
    if args.json:
        print(
            json.dumps(
                {"n": field.size, "spectrum": spectrum.to_dict(), **{m: s.to_dict() for m, s in steps.items()}},
                indent=2,
            )
        )
        return
    print(
        f"{args.model} GAN: {field.n_psi} critic + {field.size - field.n_psi} generator parameters; "
        f"{field.expectation_note}"
    )
    print(
        f"top-{args.k} eigenvalues by largest real part "
        f"({spectrum.operator}; {spectrum.products} products, {spectrum.seconds:.1f} s):"
    )
    for value in spectrum.eigenvalues:
        print(f"   {value.real:+.6e} {value.imag:+.6e}i")
    for method, result in steps.items():
        verdict = "stable" if result.stable else "unstable"
        bound = f", max stable step <= {result.max_stable_step:.3e}" if result.max_stable_step is not None else ""
        print(f"{method} GD, h = {args.step:g}: {verdict} (max |1 + hμ| = {result.spectral_radius:.6f}{bound})")


if __name__ == "__main__":
    main()
