"""``ganstab experiment list`` and ``ganstab experiment NAME [--seeds N] [--iters N] [--quick]
[--cells PATTERN ...] [--threads N] --out DIR [--json]``.

Importing this module is cheap (the registry only); the experiment is imported when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from stability.util.checks import output_folder_type
from stability.util.errors import UserError, int_type

EXAMPLES = """\
examples:
  ganstab experiment list
  ganstab experiment zhou-two-points --quick --out results/two-points-quick
  ganstab experiment kim-2d --out results/kim-2d                   # the papers' 30k/200k/100k iterations, 5 seeds
  ganstab experiment petzka-toys --seeds 10 --out results/petzka
  ganstab experiment kim-2d --cells '8gaussians-*' --seeds 1 --threads 1 --out results/kim-8g   # one data set
  ganstab experiment zhou-images --data-dir data --device cuda --out results/images

A rerun of the same command skips finished seeds and resumes interrupted runs.
exit status: 0 done, 2 bad input, 3 a run could not write its checkpoint, 128+N stopped by signal N
(the interrupted run resumes on the next invocation).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``experiment`` to the ``ganstab`` parser."""
    parser = subparsers.add_parser(
        "experiment",
        help="run an experiment of the seed papers (figures, results.md, results.json; resumable)",
        description="Run one registered experiment of the seed papers with the trainer: figures as PNG and PDF, "
        "results.md and results.json in OUT. `ganstab experiment list` lists them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="an experiment name, or `list`")
    parser.add_argument("--seeds", type=int_type(1, 1000), metavar="N", help="seeds per cell (default: the paper's)")
    parser.add_argument(
        "--iters", type=int_type(1, 10**9), metavar="N", help="iterations per run (default: the paper's counts)"
    )
    parser.add_argument("--quick", action="store_true", help="the short version (tiny networks, tens of iterations)")
    parser.add_argument("--out", type=output_folder_type(), metavar="DIR", help="results folder (required to run)")
    parser.add_argument("--data-dir", default="data", metavar="DIR", help="folder with CIFAR-10 (default: data)")
    parser.add_argument("--device", default="cpu", help="torch device of every run (default: cpu)")
    parser.add_argument(
        "--cells",
        nargs="+",
        metavar="PATTERN",
        help="run only the cells matching these shell patterns, e.g. '8gaussians-*' (the rest are reported as not run)",
    )
    parser.add_argument(
        "--threads", type=int_type(1, 1024), metavar="N", help="torch CPU threads of every run (default: torch's)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print the outcome (or the list) as JSON")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from gan_train.experiments import EXPERIMENTS, get_experiment

    if args.name == "list":
        if args.json:
            listed = {
                e.name: {"source": e.source, "summary": e.summary, "default_seeds": e.default_seeds}
                for e in EXPERIMENTS.values()
            }
            print(json.dumps(listed, indent=2))
            return 0
        width = max(len(name) for name in EXPERIMENTS)
        for entry in EXPERIMENTS.values():
            print(f"{entry.name:<{width}}  {entry.source}: {entry.summary}")
        return 0
    get_experiment(args.name)  # an unknown name is one line before anything else
    if not args.out:
        raise UserError("--out DIR is required to run an experiment")
    from gan_train.errors import Preempted, TrainingStopped
    from gan_train.experiments.base import Options, run_experiment

    options = Options(
        out=args.out,
        seeds=args.seeds,
        iters=args.iters,
        quick=args.quick,
        data_dir=args.data_dir,
        device=args.device,
        progress=not args.no_progress,
        cells=tuple(args.cells or ()),
        threads=args.threads or 0,
    )
    try:
        head = run_experiment(args.name, options)
    except Preempted as exc:
        print(f"ganstab experiment: stopped by {exc}; rerun the same command to continue", file=sys.stderr)
        return exc.exit_status
    except TrainingStopped as exc:
        print(f"ganstab experiment: stopped: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(head, indent=2))
    else:
        figures = ", ".join(f["name"] for f in head["figures"])
        print(
            f"{args.name}: {head['runs']} runs ({head['skipped']} finished earlier, {len(head['diverged'])} diverged); "
            f"wrote {head['out']}/results.md, results.json and figures {figures}"
        )
    return 0
