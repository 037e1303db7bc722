"""Symbolic-engine speed, measured in one run.

Prints:
  1. the wall time of `ganstab lemmas --no-report` (every lemma check) relative to a bare
     `python -c "import sympy, torch"` — goal: within 5x;
  2. the speed-up of the lambdified flow (SymbolicField.numpy_function, one vectorised call) over
     sympy substitution (`expr.subs(...)` point by point) on a 200x200 grid — goal: >= 100x.

Usage: python benchmarks/bench_symbolic.py [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    bare = wall([sys.executable, "-c", "import sympy, torch"], args.repeats)
    lemmas = wall([sys.executable, "-m", "stability.cli", "lemmas", "--no-report"], args.repeats)

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

    result = {
        "bare_import_s": bare,
        "ganstab_lemmas_s": lemmas,
        "lemmas_over_import": lemmas / bare,
        "lemmas_goal": "<= 5x",
        "grid": "200x200",
        "lambdify_s": lambdify_time,
        "subs_s": subs_time,
        "lambdify_speedup": subs_time / lambdify_time,
        "lambdify_goal": ">= 100x",
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"bare `import sympy, torch`      {bare:8.3f} s")
        print(f"`ganstab lemmas --no-report`    {lemmas:8.3f} s   = {lemmas / bare:5.2f}x the import (goal <= 5x)")
        print(
            f"flow on a 200x200 grid: lambdified {lambdify_time * 1e3:8.2f} ms, sympy subs {subs_time:8.2f} s"
            f"   speed-up {subs_time / lambdify_time:,.0f}x (goal >= 100x)"
        )


if __name__ == "__main__":
    main()
