"""Does a warm start from the previous checkpoint's invariant subspace save Jacobian products? (issue 13)

``ganstab spectrum`` starts ARPACK at each checkpoint from one vector in the span of the previous checkpoint's Ritz
vectors; ``bench_jacobian.py --parts checkpoints`` measured that this saves about nothing (1.006× at checkpoints
1–10 of the 1M-parameter run, 1.18× after 400 iterations). ARPACK takes one vector only. This benchmark tries the
strongest warm start there is, the previous checkpoint's whole kept Schur basis, with the block Krylov–Schur solver
of ``block_krylov.py``, and counts products in one run against three baselines written here:

* ``arpack cold``: ARPACK from a seeded random vector;
* ``arpack warm``: ARPACK from :func:`~stability.analysis.arpack.warm_start_vector` of the previous Ritz vectors;
* ``block cold``: the block solver from a random block;
* ``block warm``: the block solver from the previous solve's kept Schur basis (``k`` + guard columns).

Parts:

1. ``synthetic``: A = G/√n + diag(linspace(−3, 1)) (non-normal, complex pairs near the top), then A + εE with
   ‖E‖₂ ≈ 2 for ε from 1e-7 to 1e-1: top-k by largest real part to ``tol``. The previous solve is on A.
2. ``checkpoints``: consecutive checkpoints of the toy run ``toy-8gaussians-mu_gp`` (float32, tol 1e-5), each
   warm start from the previous checkpoint.

Why the subspace start loses (the figures below): at J' = J + E a basis U that is invariant for J leaves residuals
rᵢ ≈ (I − UUᵀ)E uᵢ, k independent vectors of size ‖E‖. Damping each to tol·|λ| takes a Krylov polynomial of some
degree d(‖E‖/(tol·|λ|)) *per residual*, i.e. about k·d products, while a cold single-vector Krylov space serves all k
Ritz pairs with one polynomial of degree d(1/tol), plus the basis. d grows like a logarithm, so the subspace start
wins only where ‖E‖ is already near tol·|λ|, that is, where the old eigenvalues are nearly the new ones to the
tolerance. ARPACK's one-vector start is bounded differently: its first factorisation alone is ncv products. Between
consecutive training checkpoints the Jacobian moves by 5–10% (``relative_change`` below) and the top eigenvalues by
up to 50% (``bench_jacobian.py --parts checkpoints``), far above tol = 1e-5.

Measured on this 2-core CPU (``PYTHONPATH=. python benchmarks/bench_warm_subspace.py``), 2026-12-03:

* synthetic, n = 600, k = 10, tol 1e-8, block 4, basis 80: the block warm start saves products only at ε ≤ 1e-7 (the
  printed table has every ε); from ε = 1e-5 on it needs more products than the block cold start.
* checkpoints 401–403 at width 48 (``--parts checkpoints --width 48 --after 400 --checkpoints 3``; n = 9,843, k = 6,
  basis 80): the Jacobian moved by 9.7% and 5.1% relative between consecutive checkpoints (``relative_change``).
  Products, ARPACK cold / ARPACK warm / block cold / block warm: 180 / 186 / 367 / 498 at 402 and
  237 / 231 / 475 / 466 at 403. No warm start saves products, and the block solver needs about twice ARPACK's.
* checkpoints at width 512 (n = 1,055,235, k = 20, block 10, basis 80; the probe that preceded this script):
  at checkpoint 1 ARPACK cold took 350 products in 40 s and the block solver 988 in 599 s (131 s of it in products:
  its dense work at n = 1M dominates); at checkpoint 2 ARPACK cold took 414, block cold 953 and block warm 855
  (1.11× fewer than block cold, 2.07× more than ARPACK cold).

Usage::

    PYTHONPATH=. python benchmarks/bench_warm_subspace.py                     # synthetic, a few seconds
    PYTHONPATH=. python benchmarks/bench_warm_subspace.py --parts checkpoints --width 48 --after 400 --checkpoints 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from block_krylov import block_eigs  # noqa: E402

from stability.analysis.arpack import arpack, warm_start_vector  # noqa: E402

PARTS = ("synthetic", "checkpoints")


def _four(apply_np, n: int, k: int, tol: float, dtype, previous: dict | None, block: int, basis: int, ncv) -> dict:
    """Products (and seconds) of the four starts on one operator; ``previous`` holds the last solve's starts."""
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64

    def apply_torch(u: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(apply_np(u.numpy()[:, None])[:, 0]))

    row: dict = {}
    out: dict = {}
    for name in ("arpack cold", "arpack warm", "block cold", "block warm"):
        warm = name.endswith("warm")
        if warm and previous is None:
            continue
        start = time.perf_counter()
        if name.startswith("arpack"):
            v0 = warm_start_vector(previous["vectors"]) if warm else None
            values, products, converged, _, vectors = arpack(
                apply_torch, n, k, "LR", torch_dtype, tol, ncv=ncv, v0=v0, return_vectors=True
            )
            if not warm:
                out["vectors"] = vectors
        else:
            found = block_eigs(
                apply_np, n, k, "LR", tol, dtype, block=block, max_basis=basis,
                start=previous["basis"] if warm else None,
            )  # fmt: skip
            values, products, converged = found.eigenvalues, found.products, found.converged
            if not warm:
                out["basis"] = found.basis
        row[name] = {
            "products": products,
            "seconds": round(time.perf_counter() - start, 2),
            "converged": bool(converged),
            "max_real_part": float(np.max(values.real)),
        }
    return {"row": row, "next": out}


def _ratios(row: dict) -> dict:
    out = {}
    for method in ("arpack", "block"):
        if f"{method} warm" in row:
            out[f"{method} cold/warm"] = round(row[f"{method} cold"]["products"] / row[f"{method} warm"]["products"], 3)
    if "block warm" in row:
        out["arpack cold/block warm"] = round(row["arpack cold"]["products"] / row["block warm"]["products"], 3)
    return out


def relative_change(before, after, n: int, dtype, probes: int = 4, seed: int = 0) -> float:
    """‖(A' − A)V‖_F / ‖AV‖_F for ``probes`` seeded normal columns V: how far the operator moved, relative."""
    V = np.random.default_rng(seed).standard_normal((n, probes)).astype(dtype)
    old = before(V)
    return float(np.linalg.norm(after(V) - old) / np.linalg.norm(old))


def part_synthetic(n: int, k: int, tol: float, block: int, basis: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) / np.sqrt(n) + np.diag(np.linspace(-3.0, 1.0, n))
    E = rng.standard_normal((n, n)) / np.sqrt(n)  # ‖E‖₂ ≈ 2
    base = _four(lambda X: A @ X, n, k, tol, np.float64, None, block, basis, basis)["next"]
    rows = []
    for eps in (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1):
        B = A + eps * E
        got = _four(lambda X, B=B: B @ X, n, k, tol, np.float64, base, block, basis, basis)["row"]
        change = relative_change(lambda X: A @ X, lambda X, B=B: B @ X, n, np.float64)
        rows.append(
            {
                "eps": eps,
                "relative_change": round(change, 9),
                **{m: r["products"] for m, r in got.items()},
                **_ratios(got),
            }
        )
    return {"n": n, "k": k, "tol": tol, "block": block, "max_basis": basis, "rows": rows}


def part_checkpoints(width: int, after: int, checkpoints: int, k: int, block: int, basis: int) -> dict:
    from gan_train.config import apply_overrides
    from gan_train.presets import get_preset
    from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints, select_checkpoints
    from gan_train.spectra.field import run_field, sample_set
    from gan_train.trainer import Trainer

    quiet = ["tensorboard=false", "progress=false", "w1_every=0", "plot_every=0", "log_every=1", "keep_checkpoints=0"]
    first = max(after, 1)
    rows, previous, previous_apply = [], None, None
    with tempfile.TemporaryDirectory(prefix="bench-warm-subspace-") as folder:
        run = f"{folder}/run"
        config = apply_overrides(
            get_preset("toy-8gaussians-mu_gp").config(),
            [f"width={width}", f"iterations={first}", f"checkpoint_every={first}", *quiet],
        )
        Trainer.create(config, run).run()
        Trainer.resume(run, [f"iterations={after + checkpoints}", "checkpoint_every=1"]).run()
        config, found = run_checkpoints(run)
        chosen = select_checkpoints(found, ",".join(str(after + i) for i in range(1, checkpoints + 1)), run)
        samples = sample_set(config, config.batch_size, 0)
        for iteration, path in chosen:
            field_ = run_field(load_checkpoint(run, config, iteration, path), samples, torch.float32)
            product = field_.vjp_operator()  # Jᵀu on the retained graph, as ganstab spectrum does

            def apply_np(X: np.ndarray, product=product) -> np.ndarray:
                columns = [product(torch.from_numpy(np.ascontiguousarray(x))).numpy() for x in X.T]
                return np.stack(columns, axis=1)

            got = _four(apply_np, field_.size, k, 1e-5, np.float32, previous, block, basis, basis)
            change = (
                relative_change(previous_apply, apply_np, field_.size, np.float32) if previous_apply else None
            )  # of Jᵀ, whose change has J's norm
            previous, previous_apply = got["next"], apply_np
            rows.append(
                {
                    "iteration": iteration,
                    "n": field_.size,
                    "relative_change": change,
                    **got["row"],
                    **_ratios(got["row"]),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"run": f"toy-8gaussians-mu_gp, width {width}, checkpoints {after + 1}..{after + checkpoints}", "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="synthetic", help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--n", type=int, default=600, help="synthetic: matrix size")
    parser.add_argument("--k", type=int, default=None, help="eigenvalues (default: 10 synthetic, 6 checkpoints)")
    parser.add_argument("--tol", type=float, default=1e-8, help="synthetic: relative residual tolerance")
    parser.add_argument("--block", type=int, default=4, help="block solver: columns per expansion")
    parser.add_argument("--basis", type=int, default=80, help="largest basis of both solvers (ARPACK's ncv)")
    parser.add_argument("--width", type=int, default=48, help="checkpoints: MLP width of the toy run")
    parser.add_argument("--after", type=int, default=400, help="checkpoints: iterations trained first")
    parser.add_argument("--checkpoints", type=int, default=3, help="checkpoints: how many consecutive ones")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    results = {}
    if "synthetic" in parts:
        results["synthetic"] = part_synthetic(args.n, args.k or 10, args.tol, args.block, args.basis)
    if "checkpoints" in parts:
        results["checkpoints"] = part_checkpoints(
            args.width, args.after, args.checkpoints, args.k or 6, args.block, args.basis
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, result in results.items():
        print(f"{name}: " + json.dumps({key: v for key, v in result.items() if key != "rows"}))
        for row in result["rows"]:
            print("  " + json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
