"""Benchmark of update-rule radii (issue 24): the run's own update against plain GD, matrix-free, in one run.

On an MLP GAN (critic and generator of ``--width`` × 3, 2-D data, μ_GP penalty, ``--batch`` fixed points) at its
initial parameters, in float64:

* the plain simultaneous-GD radius (``discrete_stability``, ARPACK over VJPs of J: today's path), and
* the radius of the n_critic = 5 Adam map (β = (0.5, 0.9), the seeds' settings) at a second-moment state
  v = g² + 1e-8 (the squared gradient at the point, as a running average would hold it), ARPACK over VJPs of the
  map (six field evaluations deep), both with the top-6 by largest real part and by largest magnitude.

Prints products, seconds and the ratios (Adam map / plain GD) measured in this run. The issue's goal is for the
512×3 toy checkpoint (n ≈ 1M), which is the lead's to run; ``--quick`` runs width 16 (n ≈ 700) in seconds.

Usage::

    PYTHONPATH=. python benchmarks/bench_update_rules.py --quick
    PYTHONPATH=. python benchmarks/bench_update_rules.py --width 512 --batch 512 --json
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _game(width: int, batch: int):
    import torch

    from models.mlp import MLP
    from stability.autodiff.field import TorchField
    from stability.spec.laws import normal
    from stability.spec.toys import make_penalty

    torch.manual_seed(0)
    critic = MLP(2, 1, width=width, depth=3, activation="relu").double()
    generator = MLP(2, 2, width=width, depth=3, activation="relu").double()
    gen = torch.Generator().manual_seed(1)
    data = normal([0.0, 0.0], [1.0, 1.0]).sample(batch, generator=gen).double()
    latent = torch.randn(batch, 2, generator=gen, dtype=torch.float64)
    return TorchField.from_modules(critic, generator, data, latent, make_penalty("mu_gp", rho=10.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--quick", action="store_true", help="width 16, batch 64")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.width, args.batch = 16, 64
    import torch

    from stability.analysis.discrete import analyze_rule
    from stability.analysis.spectrum import discrete_stability
    from stability.analysis.update_rules import RuleState, parse_rule

    field_ = _game(args.width, args.batch)
    w = field_.vector(None)
    with torch.no_grad():
        g = -field_.field_fn(w)
    result = {"n": field_.size, "width": args.width, "batch": args.batch, "load": os.getloadavg()[0]}

    start = time.perf_counter()
    gd = discrete_stability(field_, step=args.lr, method="simultaneous", k=6, dense_limit=0)
    result["gd"] = {"radius": gd.spectral_radius, "products": gd.products, "seconds": time.perf_counter() - start}

    rule = parse_rule(f"adam:lr={args.lr},beta1=0.5,beta2=0.9,n_critic=5")
    state = RuleState(torch.cat([w, torch.zeros_like(w), g * g + 1e-8]), field_.n_psi, (5000.0, 1000.0))
    start = time.perf_counter()
    adam = analyze_rule(rule, field_, w, state=state, optimise=False, dense_limit=0, k=6)
    result["adam_n_critic_5"] = {
        "radius": adam.radius,
        "products": adam.products,
        "seconds": time.perf_counter() - start,
    }
    result["ratio_seconds"] = result["adam_n_critic_5"]["seconds"] / result["gd"]["seconds"]
    result["ratio_products"] = result["adam_n_critic_5"]["products"] / max(result["gd"]["products"], 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"n = {result['n']} (width {args.width} x 3, batch {args.batch}), load {result['load']:.1f}")
    for name in ("gd", "adam_n_critic_5"):
        r = result[name]
        print(f"  {name:16s} radius {r['radius']:.10f}  {r['products']:6d} field products  {r['seconds']:8.2f} s")
    ratios = f"{result['ratio_seconds']:.2f}x seconds, {result['ratio_products']:.2f}x products"
    print(f"  Adam n_critic=5 / plain GD: {ratios}")


if __name__ == "__main__":
    main()
