"""Benchmark of Jacobian products of the flow at a trainer checkpoint: today's eager path against the traced graphs.

One run, one process, on one checkpoint of a short ``toy-8gaussians-mu_gp`` run (width 32, depth 2: n = 2,403; the
trainer's batch, N = 256; float64), trained here first unless ``--run`` names one:

1. ``products``: ms per product, timed in interleaved rounds (each round times every method once, so load on this
   shared machine hits all methods alike; medians over rounds, and the median of the per-round ratios):

   * baseline (written here, what ``TorchField`` did before the traced graphs): J v by eager ``torch.func.jvp`` of
     ``field_fn`` (the product H4's update maps take, and six of them per ``n_critic = 5`` map product), and Jᵀu by
     ``torch.func.vjp`` on a retained graph (what ``ganstab spectrum``'s ARPACK used);
   * new: ``TorchField.jvp_operator`` / ``vjp_operator`` (:mod:`stability.autodiff.linearize`);
   * one field evaluation, for scale; the one-time costs: the trace, the transposed trace, taking the trace over for
     a second checkpoint (``TorchField.reuse_trace``), and the point graph per point.

   The products are compared: J v bitwise-equal expected, Jᵀu to rounding.
2. ``checkpoint``: what ``ganstab spectrum`` computes per checkpoint (top-6 by largest real part, and the
   simultaneous and alternating GD radii at the run's step, each from the top-6 LR and LM of ARPACK), with the
   baseline operators and with the new ones: seconds, products, and the largest eigenvalue difference. The new path
   is timed twice on the last checkpoint: as the first checkpoint of a run (the trace included) and as a later one
   (the trace of the run's first checkpoint taken over, check included).

Goal (issue 24): ≤ 5 ms per field product at this size and the whole checkpoint in ≤ 5 s, against today's path in the
same run. The machine is shared (2 cores, other agents): absolute times move with the load (recorded before and
after); ratios within one run are the claim.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_products.py            # trains the toy run (~10 s) first
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_products.py --run /tmp/h7run --rounds 30 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

PRESET = "toy-8gaussians-mu_gp"
RUN_SETTINGS = ["width=32", "depth=2", "iterations=200", "checkpoint_every=100", "keep_checkpoints=0"]
QUIET = ["tensorboard=false", "progress=false", "w1_every=0", "plot_every=0", "log_every=100"]


def train_run(folder: str) -> str:
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.trainer import Trainer

    config = apply_overrides(get_preset(PRESET).config(), RUN_SETTINGS + QUIET)
    Trainer.create(config, f"{folder}/run").run()
    return f"{folder}/run"


def checkpoint_field(run_dir: str, iteration: str):
    from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints, select_checkpoints
    from gan_train.spectra.field import run_field, sample_set

    config, found = run_checkpoints(run_dir)
    if iteration == "first":
        iteration = str(min(it for it, _ in found))
    ((it, path),) = select_checkpoints(found, iteration, run_dir)
    checkpoint = load_checkpoint(run_dir, config, it, path)
    return run_field(checkpoint, sample_set(config, config.batch_size, 0)), checkpoint


class EagerField:
    """Today's products (before the traced graphs), written here as the baseline: the field with eager operators."""

    def __init__(self, field):
        self.field = field

    def __getattr__(self, name):
        return getattr(self.field, name)

    def jvp_operator(self, point=None) -> Callable[[torch.Tensor], torch.Tensor]:
        vector = self.field.vector(point)

        def apply(v: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return torch.func.jvp(self.field.field_fn, (vector,), (v.to(self.field.dtype),))[1]

        return apply

    def vjp_operator(self, point=None) -> Callable[[torch.Tensor], torch.Tensor]:
        vector = self.field.vector(point)
        _, vjp_fn = torch.func.vjp(self.field.field_fn, vector)

        def apply(u: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return vjp_fn(u.to(self.field.dtype))[0]

        return apply


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def part_products(field, second, rounds: int, batch: int) -> dict:
    """ms per product by method in interleaved rounds, the one-time costs, and the agreement of the products."""
    seeded = torch.Generator().manual_seed(0)
    v = torch.randn(field.size, generator=seeded, dtype=torch.float64)
    u = torch.randn(field.size, generator=seeded, dtype=torch.float64)
    eager = EagerField(field)
    w = field.vector()
    start = time.perf_counter()
    linear = field.linearization()
    first_use = time.perf_counter() - start
    traced = field._traced[1]
    start = time.perf_counter()
    linear.vjp(u)
    transpose_first_use = time.perf_counter() - start
    start = time.perf_counter()
    taken = second.reuse_trace(field)
    reuse_seconds = time.perf_counter() - start
    methods = {
        "eager_jvp": eager.jvp_operator(),
        "retained_vjp": eager.vjp_operator(),
        "traced_jvp": field.jvp_operator(),
        "traced_vjp": field.vjp_operator(),
    }
    agreement = {
        "traced_jvp_vs_eager_jvp": _relative(methods["traced_jvp"](v), methods["eager_jvp"](v)),
        "traced_vjp_vs_retained_vjp": _relative(methods["traced_vjp"](u), methods["retained_vjp"](u)),
    }

    def field_value(_: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return field.field_fn(w)

    methods["field_evaluation"] = field_value
    methods["point_graph"] = lambda _: traced.at(w)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, apply in methods.items():
            x = u if "vjp" in name else v
            begin = time.perf_counter()
            for _ in range(batch):
                apply(x)
            times[name].append(1e3 * (time.perf_counter() - begin) / batch)
    ms = {name: statistics.median(t) for name, t in times.items()}
    ratio = {
        "eager_jvp / traced_jvp": statistics.median(a / b for a, b in zip(times["eager_jvp"], times["traced_jvp"])),
        "retained_vjp / traced_vjp": statistics.median(
            a / b for a, b in zip(times["retained_vjp"], times["traced_vjp"])
        ),
        "eager_jvp / traced_vjp": statistics.median(a / b for a, b in zip(times["eager_jvp"], times["traced_vjp"])),
    }
    return {
        "ms_per_product_median": ms,
        "ms_quartiles": {name: [float(np.percentile(t, 25)), float(np.percentile(t, 75))] for name, t in times.items()},
        "ratios_median_of_rounds": ratio,
        "rounds": rounds,
        "products_per_timing": batch,
        "one_time_seconds": {
            "trace (field.linearization, first use)": first_use,
            "of which make_fx trace + split": traced.trace_seconds,
            "transposed trace (first vjp)": transpose_first_use,
            "reuse_trace for a second checkpoint": reuse_seconds,
        },
        "second_checkpoint_took_the_trace": taken,
        "graph_sizes": {
            "point": len(traced.point.graph.graph.nodes),
            "product": len(traced.product.graph.graph.nodes),
            "transposed": len(traced.transposed().graph.graph.nodes),
            "residuals": traced.residual_count,
        },
        "agreement_relative_max": agreement,
        "goal_ms_per_field_product": 5.0,
        "meets_goal_jvp": ms["traced_jvp"] <= 5.0,
        "meets_goal_vjp": ms["traced_vjp"] <= 5.0,
    }


def spectrum_checkpoint(field, step: float) -> dict:
    """What ``ganstab spectrum`` computes at one checkpoint: top-6 LR, and both GD radii (top-6 LR and LM each)."""
    from stability.analysis.spectrum import discrete_stability, top_eigenvalues

    start = time.perf_counter()
    top = top_eigenvalues(field, k=6, which="LR")
    gd = {m: discrete_stability(field, step=step, method=m) for m in ("simultaneous", "alternating")}
    return {
        "seconds": time.perf_counter() - start,
        "top6_seconds": top.seconds,
        "top6_products": top.products,
        "gd_seconds": {m: d.seconds for m, d in gd.items()},
        "gd_products": {m: d.products for m, d in gd.items()},
        "top6": top.eigenvalues,
        "radii": {m: d.spectral_radius for m, d in gd.items()},
    }


def part_checkpoint(run_dir: str) -> dict:
    """Today's operators against the traced ones on one checkpoint: cold (trace included) and with the trace reused."""
    base_field, checkpoint = checkpoint_field(run_dir, "last")
    baseline = spectrum_checkpoint(EagerField(base_field), checkpoint.lr_d)
    cold_field, _ = checkpoint_field(run_dir, "last")
    cold = spectrum_checkpoint(cold_field, checkpoint.lr_d)
    earlier, _ = checkpoint_field(run_dir, "first")  # a run's earlier checkpoint, traced outside the timing
    earlier.linearization().vjp(torch.zeros(earlier.size, dtype=torch.float64))
    warm_field, _ = checkpoint_field(run_dir, "last")
    start = time.perf_counter()
    taken = warm_field.reuse_trace(earlier)
    reuse = time.perf_counter() - start
    warm = spectrum_checkpoint(warm_field, checkpoint.lr_d)
    warm["seconds"] += reuse
    scale = float(np.max(np.abs(baseline["top6"])))
    out = {"n": base_field.size, "step": checkpoint.lr_d, "trace_taken_over": taken, "reuse_seconds": reuse}
    for name, result in (("baseline", baseline), ("traced_first_checkpoint", cold), ("traced_later_checkpoint", warm)):
        out[name] = {key: value for key, value in result.items() if key not in ("top6", "radii")}
        if name != "baseline":
            out[name]["top6_max_difference_relative"] = (
                float(np.max(np.abs(np.sort_complex(result["top6"]) - np.sort_complex(baseline["top6"])))) / scale
            )
            radii = result["radii"]
            out[name]["radius_differences"] = {m: abs(radii[m] - baseline["radii"][m]) for m in radii}
    out["top6_eigenvalues"] = [[float(z.real), float(z.imag)] for z in baseline["top6"]]
    out["ratios"] = {
        "checkpoint: baseline / traced (first)": baseline["seconds"] / cold["seconds"],
        "checkpoint: baseline / traced (later)": baseline["seconds"] / warm["seconds"],
        "top-6: baseline / traced (later)": baseline["top6_seconds"] / warm["top6_seconds"],
    }
    out["goal_seconds"] = 5.0
    out["meets_goal_later_checkpoint"] = warm["seconds"] <= 5.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None, help="a trained run directory (default: train the toy run here)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds (default 30)")
    parser.add_argument("--batch", type=int, default=5, help="products per timing (default 5)")
    parser.add_argument("--parts", default="products,checkpoint", help="products, checkpoint (default: both)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict = {"threads": args.threads, "load_average_before": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-products-") as folder:
        run_dir = args.run
        if run_dir is None:
            start = time.perf_counter()
            run_dir = train_run(folder)
            results["train_seconds"] = time.perf_counter() - start
        results["run"] = f"{PRESET} with {', '.join(RUN_SETTINGS)}" if args.run is None else str(Path(run_dir))
        field, _ = checkpoint_field(run_dir, "last")
        start = time.perf_counter()
        field.value()  # the first torch.func call of a process imports torch._dynamo (seconds): not a product cost
        results["process_warm_up_seconds"] = time.perf_counter() - start
        results["n"], results["n_psi"], results["samples"] = field.size, field.n_psi, 256
        if "products" in parts:
            second, _ = checkpoint_field(run_dir, "first")
            results["products"] = part_products(field, second, args.rounds, args.batch)
        if "checkpoint" in parts:
            results["checkpoint"] = part_checkpoint(run_dir)
    results["load_average_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(results, indent=2, default=float))
    else:
        for name, value in results.items():
            print(f"{name}: {json.dumps(value, indent=2, default=float) if isinstance(value, dict) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
