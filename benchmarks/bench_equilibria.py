"""Issue 27: `ganstab analyze` on specs sympy cannot integrate, before and after, time to a complete answer, one run.

The baseline is the code as it was before the change (commit BASELINE, the parent of the first commit of issue 27),
extracted with ``git archive`` into a temporary folder and put first on ``PYTHONPATH``: the exact code path users had,
not a re-creation of it. The new path is this working tree. Each case runs the ``analyze`` command in a fresh process
(imports, sympy's derivation, the search, the classification, all of it), one after the other, with
``OMP_NUM_THREADS=1``; wall seconds and the child's CPU seconds (user + system) are recorded with what each answered.

Cases: the tanh critic of the issue (search, and ``--at a=0,c=1,t=0,s=1``), a sigmoid critic against a Gaussian
generator (μ_GP), and a softplus/tanh critic in a 2-D data space. The ratios printed are baseline / new.

Usage: PYTHONPATH=. python benchmarks/bench_equilibria.py [--json] [--baseline COMMIT] [--skip-baseline-at]
(about 6 minutes: the baseline's ``--at`` alone holds for over 2 minutes on a Lyapunov check that times out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The parent of the first commit of issue 27 (0a22ac0): the code before the change.
BASELINE = "adeb469070223409952ed312ccbd140ba7aeac51"

SIGMOID = """[system]
name = "sigmoid critic, Gaussian generator"
x = ["x"]
psi = ["a", "c"]
theta = ["t", "s"]
discriminator = "c/(1 + exp(-a*x))"
rho = 1
data = "normal(0, 1)"
generator = { latent = "normal(0, 1)", map = "t + s*z" }
[system.penalty]
measure = "mu_gp"
"""

SOFTPLUS_2D = """[system]
name = "softplus and tanh critic, 2-D Gaussians"
x = ["x1", "x2"]
psi = ["a", "b"]
theta = ["m1", "m2"]
discriminator = "a*log(1 + exp(x1)) + b*tanh(x2)"
rho = 1
data = "normal([0, 0], [1, 1])"
generator = { latent = "normal([0, 0], [1, 1])", map = ["m1 + z1", "m2 + z2"] }
[system.penalty]
measure = "p_d"
"""

#: The analyze command alone, through its own register/run (the same driver for both trees: the baseline's
#: ``ganstab`` would try to import every command the current package metadata lists).
DRIVER = (
    "import argparse, sys\n"
    "from stability.cli import analyze as command\n"
    "parser = argparse.ArgumentParser()\n"
    "command.register(parser.add_subparsers())\n"
    "sys.exit(command.run(parser.parse_args(['analyze', *sys.argv[1:]])))\n"
)


def run_case(tree: Path, args: list[str], timeout: float) -> dict:
    """Wall and CPU seconds of one analyze run with ``tree`` first on the path, and a summary of its answer."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(  # cwd = the tree: `python -c` puts the working folder first on sys.path
            [sys.executable, "-c", DRIVER, *args, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=tree,
        )
        status, out = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired:
        status, out = "timeout", ""
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "status": status, "answer": summarise(out)}


def summarise(out: str) -> str:
    """What the run answered, in a few words (equilibria by kind and class; 'none found')."""
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return "no JSON"
    points = report.get("equilibria", [])
    if not points:
        return "none found"
    parts = []
    for p in points:
        if p.get("kind") == "continuum":
            dim = p.get("dimension")
            cls = (p.get("transverse") or {}).get("classification", p.get("classification"))
            parts.append(f"{dim}-d continuum ({cls})" if dim else f"continuum ({p.get('classification')})")
        else:
            tail = "" if p.get("is_equilibrium", True) else ", not an equilibrium"
            lyap = p.get("lyapunov")
            extra = f", Lyapunov: {lyap['verdict'][:40]}" if lyap else ""
            parts.append(f"{p.get('kind', 'point')} ({p.get('classification')}{tail}{extra})")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to measure against")
    parser.add_argument("--skip-baseline-at", action="store_true", help="skip the baseline's 2-minute --at case")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_equilibria_") as tmp:
        old = Path(tmp) / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        specs = Path(tmp) / "specs"
        specs.mkdir()
        (specs / "sigmoid.toml").write_text(SIGMOID)
        (specs / "softplus_2d.toml").write_text(SOFTPLUS_2D)
        tanh = str(ROOT / "examples" / "specs" / "tanh_gaussian.toml")
        cases = [
            ("tanh critic (issue 27): search", [tanh]),
            ("tanh critic: --at a=0,c=1,t=0,s=1", [tanh, "--at", "a=0,c=1,t=0,s=1"]),
            ("sigmoid critic, mu_GP: search", [str(specs / "sigmoid.toml")]),
            ("softplus/tanh critic, 2-D: search", [str(specs / "softplus_2d.toml")]),
        ]
        rows = []
        load = os.getloadavg()[0]
        for name, case in cases:
            new = run_case(ROOT, case, args.timeout)
            skip = args.skip_baseline_at and "--at" in case
            base = None if skip else run_case(old, case, args.timeout)
            rows.append({"case": name, "new": new, "baseline": base})
            if not args.json:
                line = f"{name:38s} new {new['wall_s']:6.1f} s wall {new['cpu_s']:6.1f} s CPU"
                if base is not None:
                    line += (
                        f" | baseline {base['wall_s']:6.1f} s wall {base['cpu_s']:6.1f} s CPU"
                        f" | ratio {base['wall_s'] / new['wall_s']:5.1f}x wall {base['cpu_s'] / new['cpu_s']:5.1f}x CPU"
                    )
                print(line, flush=True)
                print(f"    new:      {new['answer']}")
                if base is not None:
                    print(f"    baseline: {base['answer']} (exit {base['status']})")
    result = {"baseline_commit": args.baseline, "load_average_at_start": load, "cpus": os.cpu_count(), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"load average at start {load:.2f} on {os.cpu_count()} CPUs; baseline = {args.baseline[:10]}")


if __name__ == "__main__":
    main()
