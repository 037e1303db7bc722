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
2. ``map``: ms per product of the run's own update map (Adam, n_critic = 5: six field evaluations per map product,
   linearised at the checkpoint's optimiser state) through ``field_fn`` (eager JVP; retained-graph VJP, today's
   matrix-free radius in :mod:`stability.analysis.discrete`) and through ``TorchField.first_order_fn``.
3. ``checkpoint``: issue 24's checkpoint: the top-6 by largest real part and the radius of the run's own update, by
   three paths alternated ``--repeats`` times (medians): seconds, products, eigenvalue and radius agreement.

   * baseline (written here): eager products, the radius from ARPACK's top-6 of T − I by largest real part and by
     largest magnitude over map VJPs (the first method);
   * ``traced``: the traced field products, the same two searches (written here: the path before the one search);
   * new: what ``ganstab spectrum`` runs, ``gan_train.spectra.run_update.run_update_radius`` (ARPACK's top-6 of T
     by magnitude, :func:`stability.analysis.discrete.radius_basis`) on the traced field.

   The traced paths take the trace of the run's earlier checkpoint (the check included in their time); the first
   checkpoint of a run pays the trace instead (part 1's one-time costs). The simultaneous and alternating GD radii
   ``ganstab spectrum`` also reports are timed beside.
4. ``warm``: the run's update radius along consecutive checkpoints (a run of the same settings trained on to
   iteration 204 with a checkpoint every iteration; checkpoints 200-204), ``spectra_along_training`` with each
   checkpoint's search started from the one before's Ritz vectors (the default) against ``warm_start=False`` (the
   baseline, ``--cold``), alternated ``--repeats`` times: map products and seconds per checkpoint, radii compared.
5. ``basis``: where the update radius's products go, on the last checkpoint's map (traced products): ARPACK's
   top-6 of T by magnitude with bases of 20 (ARPACK's own), 60, 120 (``discrete.radius_basis``), 160 and 200, and
   the two searches of T − I it replaced (largest real part, basis 120; largest magnitude, basis 20): map products,
   seconds and the radius each.

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
from functools import partial
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

    def first_order_fn(self, point=None) -> Callable[[torch.Tensor], torch.Tensor]:
        return self.field.field_fn  # maps built on the field (alternating GD) differentiate it eagerly

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


def own_update(field, run_dir: str):
    """The run's own update at its last checkpoint and the optimiser state it holds, as ``ganstab spectrum`` reads
    them (:func:`gan_train.spectra.run_update.run_rule` and :func:`~gan_train.spectra.run_update.run_state`)."""
    from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints
    from gan_train.spectra.run_update import run_rule, run_state

    config, found = run_checkpoints(run_dir)
    checkpoint = load_checkpoint(run_dir, config, *found[-1])
    rule = run_rule(checkpoint)
    return rule, run_state(checkpoint, rule, field.vector(), field.n_psi)


def update_radius_two_searches(rule, state, field_fn) -> dict:
    """The baseline radius of the map: ARPACK's top-6 of T − I by largest real part and by largest magnitude, over
    VJPs of the map, the radius over their union (what :mod:`stability.analysis.discrete` computed for networks
    before its one search of T by magnitude)."""
    from stability.analysis.arpack import arpack
    from stability.analysis.discrete import increment_operator

    start = time.perf_counter()
    apply, size = increment_operator(rule, state, field_fn, "vjp")
    found, products = [], 0
    for which in ("LR", "LM"):
        values, count, _, _ = arpack(apply, size, 6, which, torch.float64, 1e-10)
        found.append(values)
        products += count
    kappa = np.unique(np.concatenate(found))
    return {
        "seconds": time.perf_counter() - start,
        "map_products": products,
        "field_products": products * rule.field_evaluations,
        "radius": float(np.max(np.abs(1 + kappa))),
    }


def update_radius_library(checkpoint, field) -> dict:
    """The radius as ``ganstab spectrum`` computes it (:func:`gan_train.spectra.run_update.run_update_radius`)."""
    from gan_train.spectra.run_update import run_update_radius

    start = time.perf_counter()
    analysis, _ = run_update_radius(checkpoint, field)
    return {
        "seconds": time.perf_counter() - start,
        "map_products": analysis.products // analysis_evaluations(analysis),
        "field_products": analysis.products,
        "radius": analysis.radius,
    }


def analysis_evaluations(analysis) -> int:
    from stability.analysis.update_rules import as_rule

    return as_rule(analysis.rule).field_evaluations


def checkpoint_work(field, update: Callable[[], dict]) -> dict:
    """One checkpoint of issue 24's goal: the top-6 by largest real part and the run's own update radius."""
    from stability.analysis.spectrum import top_eigenvalues

    start = time.perf_counter()
    top = top_eigenvalues(field, k=6, which="LR")
    update = update()
    return {
        "seconds": time.perf_counter() - start,
        "top6_seconds": top.seconds,
        "top6_products": top.products,
        "update": update,
        "top6": top.eigenvalues,
    }


def gd_radii(field, step: float) -> dict:
    """The simultaneous and alternating GD radii ``ganstab spectrum`` reports beside (top-6 LR and LM each)."""
    from stability.analysis.spectrum import discrete_stability

    out = {}
    for method in ("simultaneous", "alternating"):
        d = discrete_stability(field, step=step, method=method)
        out[method] = {"seconds": d.seconds, "products": d.products, "radius": d.spectral_radius}
    return out


def part_checkpoint(run_dir: str, repeats: int) -> dict:
    """The baseline, the traced products with the two searches, and the new path on the last checkpoint, alternated
    ``repeats`` times (medians); see the module docstring.

    The traced paths take over the trace of the run's earlier checkpoint (the check included in their time), as
    ``ganstab spectrum`` does at every checkpoint after its first.
    """
    earlier, _ = checkpoint_field(run_dir, "first")  # traced outside the timing, as at a run's first checkpoint
    earlier.linearization().vjp(torch.zeros(earlier.size, dtype=torch.float64))
    names = ("baseline", "traced", "new")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            field, checkpoint = checkpoint_field(run_dir, "last")
            rule, state = own_update(field, run_dir)
            if name == "baseline":
                update = partial(update_radius_two_searches, rule, state, field.field_fn)
                runs[name].append(checkpoint_work(EagerField(field), update))
                base_field = field
                continue
            start = time.perf_counter()
            taken = field.reuse_trace(earlier)
            reuse = time.perf_counter() - start
            if name == "traced":
                update = partial(update_radius_two_searches, rule, state, field.first_order_fn())
                result = checkpoint_work(field, update)
            else:
                result = checkpoint_work(field, partial(update_radius_library, checkpoint, field))
            result["seconds"] += reuse
            result["reuse_seconds"], result["trace_taken_over"] = reuse, taken
            runs[name].append(result)
    last = {name: rs[-1] for name, rs in runs.items()}
    base = last["baseline"]
    scale = float(np.max(np.abs(base["top6"])))
    seconds = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    out = {
        "n": base_field.size,
        "rule": rule.describe(),
        "steps_taken": list(state.steps),
        "repeats": repeats,
        "seconds_median": seconds,
        "seconds_all": {name: [r["seconds"] for r in rs] for name, rs in runs.items()},
        "ratio_median_of_pairs": {
            f"baseline/{name}": statistics.median(b["seconds"] / r["seconds"] for b, r in zip(runs["baseline"], rs))
            for name, rs in runs.items()
            if name != "baseline"
        },
        "top6_seconds_median": {name: statistics.median(r["top6_seconds"] for r in rs) for name, rs in runs.items()},
        "update_seconds_median": {
            name: statistics.median(r["update"]["seconds"] for r in rs) for name, rs in runs.items()
        },
        "products": {
            name: {"top6": r["top6_products"], "update_map": r["update"]["map_products"]} for name, r in last.items()
        },
        "ms_per_map_product_median": {
            name: statistics.median(1e3 * r["update"]["seconds"] / r["update"]["map_products"] for r in rs)
            for name, rs in runs.items()
        },
        "update_radius": {name: r["update"]["radius"] for name, r in last.items()},
        "top6_max_difference_relative": {
            name: float(np.max(np.abs(np.sort_complex(r["top6"]) - np.sort_complex(base["top6"])))) / scale
            for name, r in last.items()
            if name != "baseline"
        },
        "top6_eigenvalues": [[float(z.real), float(z.imag)] for z in base["top6"]],
        "reuse_seconds": [r["reuse_seconds"] for name in ("traced", "new") for r in runs[name]],
        "trace_taken_over": all(r["trace_taken_over"] for name in ("traced", "new") for r in runs[name]),
        "goal_seconds": 5.0,
        "meets_goal": seconds["new"] <= 5.0,
    }
    gd_base, gd_new = gd_radii(EagerField(base_field), checkpoint.lr_d), gd_radii(field, checkpoint.lr_d)
    out["gd_radii_beside"] = {"baseline": gd_base, "new": gd_new}
    return out


def part_basis(run_dir: str) -> dict:
    """Map products of the update radius's search by basis size, and of the two searches of T − I before."""
    from stability.analysis.arpack import arpack
    from stability.analysis.discrete import increment_operator

    field, _ = checkpoint_field(run_dir, "last")
    rule, state = own_update(field, run_dir)
    increment, size = increment_operator(rule, state, field.first_order_fn(), "vjp")
    searches = [(f"T LM basis {ncv}", lambda u: increment(u) + u, "LM", ncv, 0.0) for ncv in (20, 60, 120, 160, 200)]
    searches += [("T - I LR basis 120", increment, "LR", 120, 1.0), ("T - I LM basis 20", increment, "LM", 20, 1.0)]
    out = {"dynamic_entries": size}
    for name, product, which, ncv, shift in searches:
        start = time.perf_counter()
        values, count, converged, _ = arpack(product, size, 6, which, torch.float64, 1e-10, ncv=ncv)
        out[name] = {
            "map_products": count,
            "seconds": time.perf_counter() - start,
            "converged": converged,
            "largest_abs_of_T": float(np.max(np.abs(values + shift))),
        }
    return out


WARM_SETTINGS = ["width=32", "depth=2", "iterations=204", "checkpoint_every=1", "keep_checkpoints=0"]


def part_warm(folder: str, repeats: int) -> dict:
    """The update radius's warm start along checkpoints 200-204 against cold starts (see the module docstring)."""
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.spectra.spectra import spectra_along_training
    from gan_train.trainer import Trainer

    config = apply_overrides(get_preset(PRESET).config(), WARM_SETTINGS + QUIET)
    run_dir = f"{folder}/warm-run"
    Trainer.create(config, run_dir).run()
    chosen = "200,201,202,203,204"
    runs: dict[str, list] = {"cold": [], "warm": []}
    for _ in range(repeats):
        for name in ("cold", "warm"):
            found = spectra_along_training(run_dir, chosen, k=6, which="LR", gd=False, warm_start=name == "warm")
            runs[name].append([entry.update for entry in found.checkpoints])
    evaluations = 6  # n_critic = 5: six field products per map product

    def per_checkpoint(name: str, key: str) -> list:
        return [statistics.median(r[i][key] for r in runs[name]) for i in range(5)]

    products = {name: [p // evaluations for p in per_checkpoint(name, "products")] for name in runs}
    seconds = {name: per_checkpoint(name, "seconds") for name in runs}
    radii = {name: [u["radius"] for u in runs[name][-1]] for name in runs}
    return {
        "run": f"{PRESET} with {', '.join(WARM_SETTINGS)}",
        "checkpoints": chosen,
        "repeats": repeats,
        "map_products_per_checkpoint_median": products,
        "update_seconds_per_checkpoint_median": seconds,
        "warm_started": [u["warm_start"] for u in runs["warm"][-1]],
        "radii": radii,
        "radius_max_difference_relative": max(abs(a - b) / abs(b) for a, b in zip(radii["warm"], radii["cold"])),
        "ratio_products_cold_over_warm_after_the_first": sum(products["cold"][1:]) / sum(products["warm"][1:]),
        "ratio_seconds_cold_over_warm_after_the_first": sum(seconds["cold"][1:]) / sum(seconds["warm"][1:]),
    }


def part_map_products(field, run_dir: str, rounds: int) -> dict:
    """ms per product of the run's own update map (six field evaluations) through field_fn and first_order_fn."""
    from stability.analysis.discrete import increment_operator

    rule, state = own_update(field, run_dir)
    fast = field.first_order_fn()
    methods = {}
    for name, fn, product in (
        ("eager_map_jvp", field.field_fn, "jvp"),
        ("retained_map_vjp", field.field_fn, "vjp"),
        ("first_order_map_jvp", fast, "jvp"),
        ("first_order_map_vjp", fast, "vjp"),
    ):
        methods[name], size = increment_operator(rule, state, fn, product)
    u = torch.randn(size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    agreement = {
        "jvp": _relative(methods["first_order_map_jvp"](u), methods["eager_map_jvp"](u)),
        "vjp": _relative(methods["first_order_map_vjp"](u), methods["retained_map_vjp"](u)),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, apply in methods.items():
            begin = time.perf_counter()
            apply(u)
            times[name].append(1e3 * (time.perf_counter() - begin))
    ms = {name: statistics.median(t) for name, t in times.items()}
    return {
        "rule": rule.describe(),
        "field_evaluations_per_map_product": rule.field_evaluations,
        "ms_per_map_product_median": ms,
        "ms_per_field_product_median": {name: value / rule.field_evaluations for name, value in ms.items()},
        "ratios_median_of_rounds": {
            "eager_map_jvp / first_order_map_jvp": statistics.median(
                a / b for a, b in zip(times["eager_map_jvp"], times["first_order_map_jvp"])
            ),
            "retained_map_vjp / first_order_map_vjp": statistics.median(
                a / b for a, b in zip(times["retained_map_vjp"], times["first_order_map_vjp"])
            ),
            "eager_map_jvp / first_order_map_vjp": statistics.median(
                a / b for a, b in zip(times["eager_map_jvp"], times["first_order_map_vjp"])
            ),
        },
        "agreement_relative_max": agreement,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None, help="a trained run directory (default: train the toy run here)")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved timing rounds (default 30)")
    parser.add_argument("--batch", type=int, default=5, help="products per timing (default 5)")
    parser.add_argument(
        "--parts",
        default="products,map,checkpoint",
        help="products, map, checkpoint, warm, basis (default: the first three)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="checkpoint part: alternated repeats (default 2)")
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
        if "map" in parts:
            results["map"] = part_map_products(field, run_dir, max(args.rounds // 3, 5))
        if "checkpoint" in parts:
            results["checkpoint"] = part_checkpoint(run_dir, args.repeats)
        if "warm" in parts:
            results["warm"] = part_warm(folder, args.repeats)
        if "basis" in parts:
            results["basis"] = part_basis(run_dir)
    results["load_average_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(results, indent=2, default=float))
    else:
        for name, value in results.items():
            print(f"{name}: {json.dumps(value, indent=2, default=float) if isinstance(value, dict) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
