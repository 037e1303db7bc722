"""Symbolic-engine speed, measured in one run.

Prints:
  1. the wall time of `ganstab lemmas --no-report` (every lemma check) relative to a bare
     `python -c "import sympy, torch"` — goal: within 5x — and relative to a bare import of the libraries the
     lemma checks load (`import sympy, numpy, scipy.optimize`: torch is not among them), the stricter ratio;
  2. the speed-up of the lambdified flow (SymbolicField.numpy_function, one vectorised call) over
     sympy substitution (`expr.subs(...)` point by point) on a 200x200 grid — goal: >= 100x (minutes: the
     substitution is slow; `--lemmas-only` skips it).

Each time is the median of --repeats runs, baselines and lemmas interleaved so that a change of the machine's load
hits both alike.

Usage: python benchmarks/bench_symbolic.py [--json] [--repeats N] [--lemmas-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np


def walls(commands: list[list[str]], repeats: int) -> list[float]:
    """The median wall time of each command over ``repeats`` rounds, one run of each command per round."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeats):
        for command, spent in zip(commands, times):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            spent.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lemmas-only", action="store_true", help="skip the (minutes long) substitution timing")
    args = parser.parse_args()

    bare, libraries, lemmas = walls(
        [
            [sys.executable, "-c", "import sympy, torch"],
            [sys.executable, "-c", "import sympy, numpy, scipy.optimize"],
            [sys.executable, "-m", "stability.cli", "lemmas", "--no-report"],
        ],
        args.repeats,
    )
    result = {
        "bare_import_s": bare,
        "libraries_import_s": libraries,
        "ganstab_lemmas_s": lemmas,
        "lemmas_over_import": lemmas / bare,
        "lemmas_over_libraries": lemmas / libraries,
        "lemmas_goal": "<= 5x",
    }
    if args.lemmas_only:
        _show(result, args.json)
        return

    from stability import SymbolicField
    from stability.spec.toys import psi_x2_toy

    field = SymbolicField(psi_x2_toy("mu_gp", rho=1))
    psi, theta = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-2, 2, 200))
    F = field.numpy_function()
    start = time.perf_counter()
    vectorised = F(psi, theta)
    lambdify_time = time.perf_counter() - start
    start = time.perf_counter()
    substituted = np.empty((2,) + psi.shape)
    for index in np.ndindex(psi.shape):
        values = {field.params[0]: psi[index], field.params[1]: theta[index]}
        for k, expr in enumerate(field.exprs):
            substituted[(k,) + index] = float(expr.subs(values))
    subs_time = time.perf_counter() - start
    assert np.allclose(np.array(vectorised), substituted)

    result |= {
        "grid": "200x200",
        "lambdify_s": lambdify_time,
        "subs_s": subs_time,
        "lambdify_speedup": subs_time / lambdify_time,
        "lambdify_goal": ">= 100x",
    }
    _show(result, args.json)


def _show(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    lemmas = result["ganstab_lemmas_s"]
    print(f"bare `import sympy, torch`                   {result['bare_import_s']:8.3f} s")
    print(f"bare `import sympy, numpy, scipy.optimize`   {result['libraries_import_s']:8.3f} s")
    print(
        f"`ganstab lemmas --no-report`                 {lemmas:8.3f} s   = {result['lemmas_over_import']:5.2f}x "
        f"`import sympy, torch` (goal <= 5x), {result['lemmas_over_libraries']:5.2f}x its libraries' import"
    )
    if "lambdify_s" in result:
        print(
            f"flow on a 200x200 grid: lambdified {result['lambdify_s'] * 1e3:8.2f} ms, sympy subs "
            f"{result['subs_s']:8.2f} s   speed-up {result['lambdify_speedup']:,.0f}x (goal >= 100x)"
        )


if __name__ == "__main__":
    main()
