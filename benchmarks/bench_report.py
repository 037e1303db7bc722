"""Report speed, measured in one run.

Prints the wall time of the full `ganstab lemmas --out DIR` (lemma checks, every figure as PNG and
PDF, report.md, report.html, results.json) relative to a bare
`python -c "import sympy, torch, matplotlib"` — goal: within 10x — and the time of each figure
(from the report's results.json).

Usage: python benchmarks/bench_report.py [--json] [--repeats N]   (N: runs of the bare import; median)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(command: list[str], repeats: int = 1) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the bare import (median); default 3")
    args = parser.parse_args()

    bare = wall([sys.executable, "-c", "import sympy, torch, matplotlib"], args.repeats)
    with tempfile.TemporaryDirectory() as out:
        report = wall([sys.executable, "-m", "stability.cli", "lemmas", "--out", out])
        results_file = Path(out) / "results.json"
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    figures = {f["name"]: f["seconds"] for f in results.get("figures", [])}
    result = {
        "bare_import_s": bare,
        "ganstab_lemmas_out_s": report,
        "report_over_import": report / bare,
        "goal": "<= 10x",
        "figures_s": figures,
        "report_written": bool(results),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"bare `import sympy, torch, matplotlib`   {bare:8.3f} s")
    print(
        f"`ganstab lemmas --out DIR`               {report:8.3f} s   = {report / bare:5.2f}x the import (goal <= 10x)"
    )
    if not results:
        print("warning: no results.json was written (is `ganstab lemmas` available?)")
    for name, seconds in figures.items():
        print(f"  figure {name:<22} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
