"""Benchmark of update-rule radii (issue 24): the run's own Adam n_critic = 5 update against plain GD, at a checkpoint.

Trains the toy preset ``toy-8gaussians-mu_gp`` (MLP critic and generator of ``--width`` × 3, Adam β = (0.5, 0.9),
n_critic = 5, the seeds' settings) for ``--iters`` generator iterations on this CPU, then at its last checkpoint, on
the fixed sample set ``ganstab spectrum`` uses (``--samples`` points), in float64, measures in one run:

* the plain simultaneous-GD radius at h = lr_d (``discrete_stability``, ARPACK's top-6 by LR and by LM over VJPs of
  J: the baseline, what ``ganstab spectrum`` reported alone before), and
* the radius of the run's own update (``gan_train.spectra.run_update.run_update_radius``: Adam with n_critic = 5,
  both learning rates, linearised at the optimiser state the checkpoint holds; ARPACK's top-6 of T by magnitude
  over VJPs of the map, six field evaluations deep, through the traced field products),

and prints products, seconds and the ratios (update / plain GD). The issue's goal is the 512 × 3 run (n ≈ 1.06M)
in under 5 minutes on a 2-core CPU; ``--quick`` runs width 16 in seconds.

Usage::

    PYTHONPATH=. python benchmarks/bench_update_rules.py --quick
    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/bench_update_rules.py --width 512 --json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _train(root: Path, width: int, iters: int, batch: int) -> Path:
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.trainer import Trainer

    settings = [f"width={width}", f"iterations={iters}", f"batch_size={batch}", f"checkpoint_every={iters}"]
    settings += ["tensorboard=false", "progress=false", "w1_every=0", "plot_every=0", f"log_every={iters}"]
    config = apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), settings)
    run_dir = root / f"toy-{width}"
    Trainer.create(config, run_dir).run()
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--iters", type=int, default=10, help="generator iterations trained before the checkpoint")
    parser.add_argument("--batch", type=int, default=256, help="the run's batch size")
    parser.add_argument("--samples", type=int, default=256, help="points of the analysis sample set")
    parser.add_argument("--quick", action="store_true", help="width 16, 64 samples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.width, args.samples = 16, 64

    from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints
    from gan_train.spectra.field import run_field, sample_set
    from gan_train.spectra.run_update import run_update_radius
    from stability.analysis.spectrum import discrete_stability

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        run_dir = _train(Path(root), args.width, args.iters, args.batch)
        trained = time.perf_counter() - start
        config, found = run_checkpoints(run_dir)
        iteration, path = found[-1]
        checkpoint = load_checkpoint(run_dir, config, iteration, path)
        field_ = run_field(checkpoint, sample_set(config, args.samples))
        result = {
            "n": field_.size,
            "width": args.width,
            "samples": args.samples,
            "iteration": iteration,
            "train_seconds": trained,
            "threads": os.environ.get("OMP_NUM_THREADS"),
            "load_before": os.getloadavg()[0],
        }
        start = time.perf_counter()
        gd = discrete_stability(field_, step=checkpoint.lr_d, method="simultaneous", k=6, dense_limit=0)
        result["gd"] = {"radius": gd.spectral_radius, "products": gd.products, "seconds": time.perf_counter() - start}
        start = time.perf_counter()
        own, why = run_update_radius(checkpoint, field_, k=6, dense_limit=0, progress=not args.json)
        if own is None:
            raise SystemExit(why)
        result["update"] = {
            "rule": own.rule,
            "radius": own.radius,
            "products": own.products,
            "seconds": time.perf_counter() - start,
            "state": own.notes[0],
        }
        result["load_after"] = os.getloadavg()[0]
    result["ratio_seconds"] = result["update"]["seconds"] / result["gd"]["seconds"]
    result["ratio_products"] = result["update"]["products"] / max(result["gd"]["products"], 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"n = {result['n']:,} (width {args.width} x 3, {args.samples} samples), checkpoint {iteration}")
    print(f"  load {result['load_before']:.1f} before, {result['load_after']:.1f} after; trained in {trained:.1f} s")
    for name in ("gd", "update"):
        r = result[name]
        print(f"  {name:7s} radius {r['radius']:.10f}  {r['products']:6d} field products  {r['seconds']:8.2f} s")
    print(f"  update: {result['update']['rule']}")
    ratios = f"{result['ratio_seconds']:.2f}x seconds, {result['ratio_products']:.2f}x products"
    print(f"  the run's update / plain GD: {ratios}")


if __name__ == "__main__":
    main()
