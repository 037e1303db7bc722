"""``ganstab spectrum RUN_DIR [RUN_DIR ...]``: spectra of the real game at a run's checkpoints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stability.cli.common import dump_json
from stability.util.checks import MAX_SEED, output_folder_type, seed_type, size_type, tolerance_type

#: Points of the fixed sample set at most: the trainer's own bound on a batch (``gan_train.config.INT_LIMITS``).
MAX_SAMPLES = 2**20
#: Eigenvalues per rule at most; ARPACK needs k < n − 1, and past that a dense spectrum is only for small games.
MAX_K = 10_000
#: ARPACK basis size accepted on the command line; it is capped at n (the game's size) when it runs.
MAX_NCV = 2**31 - 1

EXAMPLES = """\
examples:
  ganstab spectrum runs/8g-mid
  ganstab spectrum runs/8g-p_g runs/8g-mid runs/8g-gp --checkpoints all --k 20 --which LR,LI --out spectra/
  ganstab spectrum runs/r-mid --checkpoints last --k 6 --samples 64 --dtype float32 --no-gd --json

writes DIR/spectrum.json (every number, per run and checkpoint), spectrum_vs_iteration.png,
eigenvalues_complex_plane.png and field_norm.png. Exit status 2 for bad input (nothing written).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "spectrum",
        help="spectra of the real game at a training run's checkpoints (top-k eigenvalues, ‖v‖, update radii)",
        description="For each checkpoint of each run, rebuild the critic and the generator, build the flow of "
        "Definition 4 of 003 from the run's own measure, form, ρ, link and data law over a fixed seeded sample set, "
        "and compute the top-k eigenvalues of its Jacobian (matrix-free, ARPACK warm-started from the previous "
        "checkpoint's Ritz vectors), ‖v(ψ, θ)‖, the spectral radii of simultaneous and alternating GD at the run's "
        "learning rates, the spectral radius of the run's own update (Adam, RMSprop or SGD with n_critic critic "
        "steps and both learning rates, linearised at the optimiser state stored in the checkpoint) and, near "
        "stationarity, the Theorem 1 check.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories of `ganstab train`")
    parser.add_argument(
        "--checkpoints", default="all", metavar="all|last|ITER,...", help="which checkpoints (default: all)"
    )
    parser.add_argument(
        "--k",
        type=size_type(MAX_K),
        default=20,
        help=f"eigenvalues per selection rule (default: 20; at most {MAX_K:,})",
    )
    parser.add_argument(
        "--which",
        default="LR",
        metavar="LR,LM,LI",
        help="largest real part, magnitude, |imaginary part| (in conjugate pairs) (default: LR)",
    )
    parser.add_argument(
        "--samples",
        type=size_type(MAX_SAMPLES),
        default=None,
        metavar="N",
        help=f"size of the fixed sample set (default: batch_size; at most {MAX_SAMPLES:,})",
    )
    parser.add_argument(
        "--seed",
        type=seed_type(),
        default=0,
        help=f"seed of the sample set and of ARPACK (0 to {MAX_SEED}; default: 0)",
    )
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64", help="precision of the field (default: float64)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start ARPACK (the update radius's search too) from a random vector at every checkpoint",
    )
    parser.add_argument(
        "--ncv",
        type=size_type(MAX_NCV, low=3),
        default=None,
        help="ARPACK basis size (default: max(8k, 120) for LR, max(2k+1, 20) for LM and LI; capped at n)",
    )
    parser.add_argument("--no-gd", action="store_true", help="skip the spectral radii of plain discrete GD")
    parser.add_argument(
        "--no-update",
        action="store_true",
        help="skip the spectral radius of the run's own update (its optimiser with the checkpoint's state, "
        "n_critic, lr_d and lr_g)",
    )
    parser.add_argument(
        "--stationary-tol",
        type=tolerance_type(),
        default=1e-3,
        metavar="TOL",
        help="run the Theorem 1 check where ‖v‖ <= TOL (default: 1e-3)",
    )
    parser.add_argument(
        "--out",
        type=output_folder_type(),
        default="ganstab-spectrum",
        metavar="DIR",
        help="output folder (default: ./ganstab-spectrum)",
    )
    parser.add_argument(
        "--stationary",
        action="store_true",
        help="instead: polish each checkpoint to the nearest stationary point of its game (matrix-free "
        "Levenberg-Marquardt), report how far it moved, ‖v‖ before/after and the products, and give the top-k "
        "eigenvalues and the Theorem 1 check there (writes DIR/stationary.json)",
    )
    parser.add_argument(
        "--stationary-iterations",
        type=_iterations,
        default=30,
        metavar="N",
        help="Levenberg-Marquardt steps of --stationary at most (default: 30)",
    )
    parser.add_argument("--json", action="store_true", help="print spectrum.json to stdout as well")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(func=run)


def _iterations(text: str) -> int:
    from stability.cli.common import int_type

    return int_type(1, 100_000)(text)


def run(args: argparse.Namespace) -> int:
    if args.stationary:  # issue 27: the nearest stationary point of each checkpoint's game, analysed there
        from gan_train.spectra.stationary import run_stationary

        return run_stationary(args)
    import torch
    from tqdm.auto import tqdm

    from gan_train.spectra.checkpoints import run_checkpoints, select_checkpoints, verify_checkpoints
    from gan_train.spectra.figures import spectrum_figures
    from gan_train.spectra.spectra import check_which, spectra_along_training
    from stability.spec.serialize import jsonable
    from stability.util.atomic import atomic_write, ensure_directory
    from stability.util.errors import UserError

    rules = check_which(args.which)
    if args.ncv is not None and args.ncv <= args.k + 1:
        raise UserError(f"--ncv must exceed k + 1 = {args.k + 1}, got {args.ncv}")
    total = 0
    for run_dir in args.run_dirs:  # every run is checked before any work: its config against each checkpoint
        config, found = run_checkpoints(run_dir)
        chosen = select_checkpoints(found, args.checkpoints, run_dir)
        older = verify_checkpoints(run_dir, config, chosen)
        if older:  # checkpoints of a trainer that stored no config: the architecture was all there was to compare
            print(
                f"ganstab spectrum: note: checkpoint(s) {', '.join(map(str, older))} of {run_dir} store no config "
                "(an older trainer): only their architecture was compared with config.json",
                file=sys.stderr,
            )
        total += len(chosen)
    progress = not args.no_progress
    runs = []
    with tqdm(
        total=total, desc="checkpoints", unit=" ckpt", disable=None if progress else True, dynamic_ncols=True
    ) as bar:
        for run_dir in args.run_dirs:
            result = spectra_along_training(
                run_dir,
                args.checkpoints,
                args.k,
                rules,
                args.samples,
                args.seed,
                getattr(torch, args.dtype),
                warm_start=not args.cold,
                gd=not args.no_gd,
                update=not args.no_update,
                stationary_tol=args.stationary_tol,
                ncv=args.ncv,
                progress=progress,
                bar=bar,
            )
            runs.append(result.to_dict())
    ensure_directory(args.out)
    figures = spectrum_figures(runs, args.out)
    report = {"runs": runs, "figures": [str(p) for p in figures]}
    text = dump_json(jsonable(report))
    atomic_write(args.out / "spectrum.json", text + "\n")
    if args.json:
        print(text)
    else:
        print(_format(runs, args.out))
    return 0


def _format(runs: list[dict], out: Path) -> str:
    lines = []
    for run in runs:
        lines.append(f"{run['label']}: n = {run['n']} ({run['n_psi']} ψ + {run['n_theta']} θ), {run['dtype']}")
        lines.append(f"  samples: {run['samples']['size']} points, seed {run['samples']['seed']}")
        lines.append(
            "  iteration  ‖v‖         max Re λ     max |Im λ|   products  GD radius sim / alt      run's update radius"
        )
        for c in run["checkpoints"]:
            gd = c["gd"]
            radii = (
                f"{gd['simultaneous']['spectral_radius']:.8f} / {gd['alternating']['spectral_radius']:.8f}"
                if gd
                else "-"
            )
            own = c["update"]
            own_radius = f"{own['radius']:.8f}" if own and own["radius"] is not None else "-"
            lines.append(
                f"  {c['iteration']:>9}  {c['field_norm']:<10.4e}  {_num(c['max_real_part'])}  "
                f"{_num(c['max_abs_imag_part'])}  {c['products']:>8}  {radii:<23}  {own_radius}"
            )
            if c["theorem1"]:
                lines += [f"    Theorem 1: {line}" for line in c["theorem1"]["summary"]]
            lines += [f"    note: {n}" for n in c["notes"]]
            if own:
                cost = "dense Jacobian" if own["method"] == "dense" else f"{own['products']} field products"
                lines.append(f"    update: {own['description']}; {cost}, {own['seconds']:.1f} s")
                lines += [f"    note (update): {n}" for n in own["notes"]]
            for which, spectrum in c["spectra"].items():
                lines += [f"    note ({which}): {n}" for n in spectrum["notes"]]
        lines += [f"  note: {n}" for n in run["notes"]]
    lines.append(f"wrote {out / 'spectrum.json'} and figures in {out}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return f"{value:<+11.4e}" if value is not None else f"{'-':<11}"
