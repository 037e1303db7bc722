"""Benchmark of the autodiff engine: Jacobians, products and matrix-free spectra.

Measures, in one run (each part in its own subprocess, so its peak memory is its own):

1. ``jacobian``: the full Jacobian of an MLP GAN with ~10k parameters, batched
   torch.func VJPs (vmap over chunks of basis vectors) against a loop of
   ``torch.autograd.grad`` rows on a retained graph, at three batch sizes of the
   fixed data/latent sets (the loop's per-row Python cost matters less as the
   batch grows). Goal: ≥ 10× faster.
2. ``spectrum``: top-20 eigenvalues by largest real part of a ~1M-parameter MLP
   GAN with a WGAN-GP penalty (μ_GP, batch 512), ARPACK over retained-graph VJPs:
   wall time, products, peak memory, with ARPACK's own default basis size
   (ncv = 2k + 1), ncv = 50 and ganstab's default (``default_ncv``: 160). Goal: ≤ 60 s, < 4 GB.
3. ``product_vs_field`` (same subprocess as 2): one Jacobian product against one
   field evaluation. Goal: ≤ 2.2×.
4. ``dense``: the full dense spectrum of a ~5k-parameter game. Goal: < 10 s.
5. ``dcgan``: top-6 eigenvalues of a DCGAN-size pair on 32×32 inputs (smoke test).
6. ``checkpoints``: ``ganstab spectrum``'s engine (:func:`gan_train.spectra.spectra.spectra_along_training`) on 10
   consecutive checkpoints (one generator iteration apart) of a ~1M-parameter toy run (``toy-8gaussians-mu_gp``,
   the 512×3 MLPs, trained here first): top-20 eigenvalues by largest real part in float32 (ARPACK tolerance
   1e-5, the default basis of :func:`~stability.analysis.arpack.default_ncv`, 160), ARPACK warm-started from the
   previous checkpoint's Ritz vectors against cold starts.
   Goal: ≥ 2× fewer products warm, and the 10 checkpoints in < 5 min. ``--after N`` trains N iterations first, so
   that the checkpoints are N+1 … N+10 (later in training) instead of 1 … 10.
7. ``basis``: ARPACK's default basis (max(2k+1, 20)) against ganstab's default for LR
   (:func:`~stability.analysis.arpack.default_ncv`, max(8k, 120)) on one checkpoint of ``toy-8gaussians-mu_gp``
   at width 48 after 400 iterations (float32, tol 1e-5): products and seconds of the top-6 and top-20 LR, and of the
   simultaneous and alternating GD radii (float64), with ncv = 80 and 120 in between. Reports the ratios.

Usage::

    PYTHONPATH=. python benchmarks/bench_jacobian.py --json          # full run, a few minutes
    PYTHONPATH=. python benchmarks/bench_jacobian.py --quick         # small sizes, ~1 minute
    PYTHONPATH=. python benchmarks/bench_jacobian.py --parts dense   # one part

Timings on a shared 2-core machine are noisy: the load average and the torch
thread count are recorded with every part.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

PARTS = ("jacobian", "spectrum", "dense", "dcgan", "checkpoints", "basis")

#: Sizes per part: (full, quick).
SIZES = {
    "jacobian": (
        {"width": 68, "batches": (16, 64, 256), "loop_rows": 1000},
        {"width": 16, "batches": (16, 64), "loop_rows": None},
    ),
    "spectrum": (
        {"width": 512, "batch": 512, "k": 20, "ncvs": (41, 50, None)},
        {"width": 48, "batch": 64, "k": 6, "ncvs": (None,)},
    ),
    "dense": ({"width": 48, "batch": 128}, {"width": 20, "batch": 64}),
    "dcgan": ({"width": 64, "batch": 32, "k": 6}, {"width": 8, "batch": 4, "k": 4}),
    "checkpoints": (
        {"width": 512, "checkpoints": 10, "k": 20, "ncv": None},
        {"width": 48, "checkpoints": 4, "k": 6, "ncv": None},
    ),
    "basis": ({"width": 48, "iterations": 400, "ks": (6, 20)}, {"width": 16, "iterations": 50, "ks": (6,)}),
}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _mlp_gan(width: int, depth: int, batch: int, dtype, penalty_form: str = "simple", rho: float = 10.0):
    """An MLP GAN on the 8-Gaussians mixture, with a fixed seeded batch of data and latents."""
    import math

    import torch

    from models.mlp import MLP
    from stability.autodiff.field import TorchField
    from stability.spec.laws import mixture, normal
    from stability.spec.toys import make_penalty

    torch.manual_seed(0)
    critic = MLP(2, 1, width=width, depth=depth, activation="tanh")
    generator = MLP(2, 2, width=width, depth=depth, activation="tanh")
    centres = [[2 * math.cos(2 * math.pi * i / 8), 2 * math.sin(2 * math.pi * i / 8)] for i in range(8)]
    data_law = mixture([normal(c, [0.05, 0.05]) for c in centres])
    gen = torch.Generator().manual_seed(0)
    data = data_law.sample(batch, generator=gen, dtype=torch.float64)
    latent = torch.randn(batch, 2, generator=gen, dtype=torch.float64)
    penalty = make_penalty("mu_gp", rho=rho, form=penalty_form)
    return TorchField.from_modules(critic, generator, data, latent, penalty, dtype=dtype)


# ---- parts (each runs in a child process) -------------------------------------------------


def part_jacobian(width: int, batches: tuple[int, ...], loop_rows: int | None) -> dict:
    import numpy as np
    import torch

    runs = []
    for batch in batches:
        field = _mlp_gan(width, 2, batch, torch.float64)
        n = field.size
        field.jacobian()  # warm-up (first-call dispatch costs)
        start = time.perf_counter()
        J = field.jacobian()
        t_func = time.perf_counter() - start

        # rows evenly spread over ψ̇ and θ̇ (θ̇ rows are cheaper for the loop too: their backward never reaches
        # the penalty), so the extrapolation to n rows is neither flattering nor harsh
        rows = n if loop_rows is None else min(n, loop_rows)
        indices = np.linspace(0, n - 1, rows).round().astype(int)
        w = field.vector().clone().requires_grad_(True)
        start = time.perf_counter()
        F = field.field_fn(w)  # the graph every row reuses
        loop = []
        for i in indices:
            (row,) = torch.autograd.grad(F[int(i)], w, retain_graph=True)
            loop.append(row)
        t_rows = time.perf_counter() - start
        t_loop = t_rows * n / rows
        error = float(np.max(np.abs(torch.stack(loop).detach().numpy() - J[indices])))
        runs.append(
            {
                "n": n,
                "batch": batch,
                "torch_func_seconds": t_func,
                "autograd_loop_seconds": t_loop,
                "autograd_loop_rows_timed": rows,
                "autograd_loop_extrapolated": rows < n,
                "speedup": t_loop / t_func,
                "max_abs_difference": error,
                "meets_goal": t_loop / t_func >= 10,
            }
        )
    return {
        "goal": "speedup >= 10",
        "runs": runs,
        "meets_goal_at_batches": [r["batch"] for r in runs if r["meets_goal"]],
    }


def part_spectrum(width: int, batch: int, k: int, ncvs: tuple, dtype_name: str, progress: bool) -> dict:
    import numpy as np
    import torch

    from stability.analysis.spectrum import top_eigenvalues

    dtype = getattr(torch, dtype_name)
    field = _mlp_gan(width, 3, batch, dtype, penalty_form="gp")
    n = field.size
    field.field_tensor()  # warm-up
    t_field = _median_time(field.field_tensor, 5)
    vjp = field.vjp_operator()
    u = torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(1))
    vjp(u)
    t_vjp = _median_time(lambda: vjp(u), 5)
    jvp = field.jvp_operator()
    t_jvp = _median_time(lambda: jvp(u), 3)
    vjp = jvp = None  # free the retained graph before ARPACK builds its own
    runs = []
    for ncv in ncvs:
        load_before = _load()
        spectrum = top_eigenvalues(field, k=k, which="LR", operator="vjp", ncv=ncv, progress=progress)
        values = spectrum.eigenvalues
        runs.append(
            {
                "ncv": spectrum.ncv if ncv is None else ncv,
                "operator": spectrum.operator,
                "seconds": spectrum.seconds,
                "products": spectrum.products,
                "seconds_per_product": spectrum.seconds / max(spectrum.products, 1),
                "seconds_in_products": spectrum.product_seconds,
                "seconds_in_arpack_itself": spectrum.seconds - spectrum.product_seconds,
                "arpack_tol": spectrum.tol,
                "converged": spectrum.converged,
                "top_eigenvalues": [[float(v.real), float(v.imag)] for v in values[: min(5, len(values))]],
                "kth_eigenvalue": [float(values[-1].real), float(values[-1].imag)] if len(values) else None,
                "load_average_at_start": load_before,
                "meets_goal": spectrum.seconds <= 60,
                "notes": spectrum.notes,
            }
        )
    return {
        "spectrum": {
            "n": n,
            "batch": batch,
            "penalty": "mu_gp, gp form, rho=10",
            "dtype": dtype_name,
            "k": k,
            "which": "LR",
            "runs": runs,
            "peak_rss_gb": _peak_rss_gb(),
            "goal": "<= 60 s and < 4 GB",
            "meets_goal_with_ncv": [r["ncv"] for r in runs if r["meets_goal"] and _peak_rss_gb() < 4],
        },
        "product_vs_field": {
            "n": n,
            "dtype": dtype_name,
            "field_seconds": t_field,
            "vjp_seconds": t_vjp,
            "jvp_seconds": t_jvp,
            "vjp_over_field": t_vjp / t_field,
            "jvp_over_field": t_jvp / t_field,
            "goal": "product / field <= 2.2 (the VJP is the product ARPACK uses)",
            "meets_goal": bool(np.isfinite(t_vjp) and t_vjp / t_field <= 2.2),
        },
    }


def part_dense(width: int, batch: int) -> dict:
    import numpy as np
    import torch

    field = _mlp_gan(width, 2, batch, torch.float64)
    field.jacobian()  # warm-up
    start = time.perf_counter()
    J = field.jacobian()
    t_jac = time.perf_counter() - start
    start = time.perf_counter()
    values = np.linalg.eigvals(J)
    t_eig = time.perf_counter() - start
    # for reference only: single precision halves LAPACK's work but not its O(n³) shape
    start = time.perf_counter()
    np.linalg.eigvals(J.astype(np.float32))
    t_eig32 = time.perf_counter() - start
    return {
        "n": field.size,
        "jacobian_seconds": t_jac,
        "eigvals_seconds": t_eig,
        "eigvals_float32_seconds_for_reference": t_eig32,
        "total_seconds": t_jac + t_eig,
        "max_real_part": float(np.max(values.real)),
        "goal": "total < 10 s",
        "meets_goal": t_jac + t_eig < 10,
    }


def part_dcgan(width: int, batch: int, k: int, progress: bool) -> dict:
    import torch

    from models.radford_dcgan import DCGANCritic, DCGANGenerator
    from stability.analysis.spectrum import top_eigenvalues
    from stability.autodiff.field import TorchField
    from stability.spec.toys import make_penalty

    torch.manual_seed(0)
    critic, generator = (
        DCGANCritic(width=width, activation="softplus"),
        DCGANGenerator(width=width, activation="softplus"),
    )
    gen = torch.Generator().manual_seed(0)
    data = torch.rand(batch, 3, 32, 32, generator=gen) * 2 - 1  # a fixed batch standing in for images
    latent = torch.randn(batch, 128, generator=gen)
    field = TorchField.from_modules(
        critic, generator, data, latent, make_penalty("mu_gp", rho=10, form="gp"), dtype=torch.float32
    )
    spectrum = top_eigenvalues(field, k=k, which="LR", tol=1e-4, progress=progress)
    return {
        "n": field.size,
        "batch": batch,
        "k": k,
        "seconds": spectrum.seconds,
        "products": spectrum.products,
        "converged": spectrum.converged,
        "arpack_tol": spectrum.tol,
        "peak_rss_gb": _peak_rss_gb(),
        "top_eigenvalues": [[float(v.real), float(v.imag)] for v in spectrum.eigenvalues],
    }


def part_checkpoints(
    width: int, checkpoints: int, k: int, ncv: int | None, dtype_name: str, progress: bool, after: int = 0
) -> dict:
    import tempfile

    import numpy as np
    import torch

    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.spectra.spectra import spectra_along_training
    from gan_train.trainer import Trainer

    preset = "toy-8gaussians-mu_gp"
    quiet = ["tensorboard=false", "progress=false", "w1_every=0", "plot_every=0", "log_every=1", "keep_checkpoints=0"]
    first = max(after, 1)  # the iterations trained before the consecutive checkpoints (checkpoint written there)
    settings = [f"width={width}", f"iterations={first}", f"checkpoint_every={first}", *quiet]
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as folder:
        config = apply_overrides(get_preset(preset).config(), settings)
        start = time.perf_counter()
        Trainer.create(config, f"{folder}/run").run()
        Trainer.resume(f"{folder}/run", [f"iterations={after + checkpoints}", "checkpoint_every=1"]).run()
        t_train = time.perf_counter() - start
        selection = ",".join(str(after + i) for i in range(1, checkpoints + 1))
        dtype = getattr(torch, dtype_name)
        results, seconds = {}, {}
        for mode in ("warm", "cold"):
            start = time.perf_counter()
            results[mode] = spectra_along_training(
                f"{folder}/run", checkpoints=selection, k=k, which="LR", dtype=dtype, warm_start=mode == "warm",
                gd=False, ncv=ncv, progress=progress,
            )  # fmt: skip
            seconds[mode] = time.perf_counter() - start
    warm, cold = results["warm"], results["cold"]
    rows = []
    for w, c in zip(warm.checkpoints, cold.checkpoints):
        a, b = w.spectra["LR"], c.spectra["LR"]
        scale = max(float(np.max(np.abs(b.eigenvalues))), 1e-30)
        difference = float(np.max(np.abs(np.sort_complex(a.eigenvalues) - np.sort_complex(b.eigenvalues)))) / scale
        rows.append(
            {
                "iteration": w.iteration,
                "warm_products": a.products,
                "cold_products": b.products,
                "warm_seconds": a.seconds,
                "cold_seconds": b.seconds,
                "warm_started": a.warm_start,
                "converged": a.converged and b.converged,
                "max_real_part": float(np.max(a.eigenvalues.real)),
                "relative_eigenvalue_difference": difference,
            }
        )
    later = rows[1:]  # the first checkpoint has no previous Ritz vectors: both start cold there
    warm_products, cold_products = sum(r["warm_products"] for r in rows), sum(r["cold_products"] for r in rows)
    ratio_later = sum(r["cold_products"] for r in later) / max(sum(r["warm_products"] for r in later), 1)
    return {
        "run": f"{preset} at width {width} (depth 3), {checkpoints} consecutive checkpoints (1 iteration apart) "
        f"after {after} iterations",
        "n": warm.n,
        "samples": warm.samples["size"],
        "dtype": dtype_name,
        "k": k,
        "which": "LR",
        "ncv": ncv or f"default_ncv: {warm.checkpoints[0].spectra['LR'].ncv}",
        "train_seconds": t_train,
        "checkpoints": rows,
        "warm_products": warm_products,
        "cold_products": cold_products,
        "products_ratio_cold_over_warm": cold_products / max(warm_products, 1),
        "products_ratio_after_the_first": ratio_later,
        "warm_seconds": seconds["warm"],
        "cold_seconds": seconds["cold"],
        "max_relative_eigenvalue_difference": max(r["relative_eigenvalue_difference"] for r in rows),
        "peak_rss_gb": _peak_rss_gb(),
        "goal": "cold/warm products >= 2 and the warm checkpoints in < 300 s",
        "meets_products_goal": ratio_later >= 2,
        "meets_time_goal": seconds["warm"] < 300,
    }


def part_basis(width: int, iterations: int, ks: tuple[int, ...], progress: bool) -> dict:
    import tempfile

    import torch

    import stability.analysis.spectrum as spectrum_module
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints
    from gan_train.spectra.field import run_field, sample_set
    from gan_train.trainer import Trainer

    quiet = ["tensorboard=false", "progress=false", "w1_every=0", "plot_every=0", "log_every=1", "keep_checkpoints=0"]
    settings = [f"width={width}", f"iterations={iterations}", f"checkpoint_every={iterations}", *quiet]
    with tempfile.TemporaryDirectory(prefix="bench-basis-") as folder:
        config = apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), settings)
        Trainer.create(config, f"{folder}/run").run()
        config, found = run_checkpoints(f"{folder}/run")
        checkpoint = load_checkpoint(f"{folder}/run", config, *found[-1])
    samples = sample_set(config, config.batch_size, 0)
    fields = {dtype: run_field(checkpoint, samples, dtype) for dtype in (torch.float32, torch.float64)}
    n = fields[torch.float32].size
    rows = []
    for k in ks:
        arpack_own = max(2 * k + 1, 20)
        for ncv in dict.fromkeys((arpack_own, 80, 120, spectrum_module.default_ncv(n, k, "LR", 4))):
            found_ = spectrum_module.top_eigenvalues(fields[torch.float32], k=k, which="LR", ncv=ncv, progress=progress)
            rows.append(
                {"what": f"top-{k} LR", "ncv": ncv, "products": found_.products, "seconds": round(found_.seconds, 2),
                 "converged": found_.converged, "max_real_part": float(found_.eigenvalues.real.max())}
            )  # fmt: skip
    for label, ncv in (("ARPACK's default", max(2 * 6 + 1, 20)), ("default_ncv", None)):  # discrete_stability: k = 6
        for method in ("simultaneous", "alternating"):
            start = time.perf_counter()
            gd = spectrum_module.discrete_stability(fields[torch.float64], step=checkpoint.lr_d, method=method, ncv=ncv)
            rows.append(
                {"what": f"{method} GD radius", "ncv": label, "products": gd.products,
                 "seconds": round(time.perf_counter() - start, 2), "spectral_radius": gd.spectral_radius}
            )  # fmt: skip
    ratios = {}
    for what in dict.fromkeys(r["what"] for r in rows):
        group = [r for r in rows if r["what"] == what]
        ratios[what] = round(group[0]["products"] / max(group[-1]["products"], 1), 2)
    return {
        "run": f"toy-8gaussians-mu_gp at width {width} after {iterations} iterations",
        "n": n,
        "rows": rows,
        "products_ratio_arpack_default_over_default_ncv": ratios,
    }


# ---- driver ------------------------------------------------------------------------------------


def run_part(name: str, quick: bool, threads: int, dtype: str, progress: bool, after: int = 0) -> dict:
    import torch

    torch.set_num_threads(threads)
    size = SIZES[name][1 if quick else 0]
    load = _load()
    if name == "jacobian":
        out = {"jacobian": part_jacobian(**size)}
    elif name == "spectrum":
        out = part_spectrum(**size, dtype_name=dtype, progress=progress)
    elif name == "dense":
        out = {"dense": part_dense(**size)}
    elif name == "checkpoints":
        out = {"checkpoints": part_checkpoints(**size, dtype_name=dtype, progress=progress, after=after)}
    elif name == "basis":
        out = {"basis": part_basis(**size, progress=progress)}
    else:
        out = {"dcgan": part_dcgan(**size, progress=progress)}
    for value in out.values():
        value["threads"] = threads
        value["load_average_before"] = load
        value["load_average_after"] = _load()
    return out


def busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes over ``seconds`` (from /proc/stat; 0 where unavailable)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return 0.0
    if total1 == total0:
        return 0.0
    return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def resolve_threads(option: str) -> int:
    """``auto``: all cores when the machine is idle, one when other processes keep a core busy
    (oversubscribed OpenMP threads spin and slow each other down by up to 10× here)."""
    if option != "auto":
        return max(1, int(option))
    cores = os.cpu_count() or 1
    return cores if busy_cores() < 0.5 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="Parts: " + ", ".join(PARTS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run (default: all)")
    parser.add_argument("--threads", default="auto", help="torch threads per part, or 'auto' (default)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="dtype of the 1M spectrum")
    parser.add_argument("--after", type=int, default=0, help="checkpoints part: iterations trained first")
    parser.add_argument("--no-progress", action="store_true", help="no ARPACK product counter on stderr")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_part(args.child, args.quick, int(args.threads), args.dtype, not args.no_progress, args.after)
        print(json.dumps(result))
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; valid: {', '.join(PARTS)}")
    results: dict = {"quick": args.quick, "cpu_count": os.cpu_count()}
    for part in parts:
        threads = resolve_threads(args.threads)
        results.setdefault("busy_cores_before_parts", {})[part] = round(busy_cores(0.5), 2)
        command = [sys.executable, __file__, "--child", part, "--threads", str(threads), "--dtype", args.dtype]
        command += ["--after", str(args.after)]
        command += ["--quick"] if args.quick else []
        command += ["--no-progress"] if args.no_progress else []
        print(f"[bench_jacobian] {part} (threads={threads}, load {_load()}) ...", file=sys.stderr, flush=True)
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)}
        )
        if done.returncode != 0:
            results[part] = {"error": f"exit status {done.returncode}"}
            continue
        results.update(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, value in results.items():
            print(f"{name}: {json.dumps(value, indent=2) if isinstance(value, dict) else value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
