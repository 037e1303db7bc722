"""``ganstab train``, ``ganstab sample`` and ``ganstab presets``.

Importing this module is cheap (no torch): the command functions import the
trainer when they run, so ``ganstab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stability.util.checks import output_file_type, output_folder_type, seed_type
from stability.util.errors import UserError, int_type

#: Samples one ``ganstab sample`` draws at most (10⁷ 2-D points are 160 MB; more is a typo, not a plot).
MAX_SAMPLES = 10**7

TRAIN_EXAMPLES = """\
examples:
  ganstab presets
  ganstab train --preset toy-8gaussians-mu_mid --out runs/8g-mid
  ganstab train --preset toy-swissroll-wgan-gp --set gp_lambda=0.1 --set iterations=20000 --out runs/sr-gp
  ganstab train --preset toy-8gaussians-mu_anchor --set anchor=2,-1 --set width=128 --dry-run --out runs/x
  ganstab train --out runs/8g-mid --resume                 # continue from the newest checkpoint
  ganstab train --out runs/8g-mid --resume --set iterations=60000

exit status: 0 done, 2 bad input (nothing written), 3 stopped (divergence or a failed
checkpoint write; the last good checkpoint is kept).
"""

SAMPLE_EXAMPLES = """\
examples:
  ganstab sample runs/8g-mid --n 5000 --out samples.npy
  ganstab sample runs/8g-mid --n 2000 --out samples.png --checkpoint 10000
  ganstab sample runs/8g-mid-ema --n 2000 --out ema.npy --ema     # the moving average (trained with ema > 0)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the trainer's commands to the ``ganstab`` parser."""
    formatter = argparse.RawDescriptionHelpFormatter

    train = subparsers.add_parser(
        "train",
        help="train a GAN on 2-D toy data or images (CIFAR-10, MNIST) with a penalty from the shared definitions",
        description="Train a GAN (critic + generator MLPs) on 2-D toy data. Settings come from a preset, "
        "changed with --set key=value; the resolved config is saved in RUN_DIR/config.json.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=formatter,
    )
    train.add_argument("--preset", metavar="NAME", help="a preset name (see `ganstab presets`)")
    _add_set_option(train, "override a config key (repeatable), e.g. --set n_critic=10 --set anchor=2,-1")
    train.add_argument(
        "--out", type=output_folder_type(), metavar="RUN_DIR", help="run directory (must not exist unless --resume)"
    )
    train.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its newest checkpoint")
    train.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and the parameter counts, and exit"
    )
    train.add_argument("--json", action="store_true", help="print the result as JSON")
    train.add_argument(
        "--download", action="store_true", help="image data: fetch the data set into data_dir when missing"
    )
    train.set_defaults(func=run_train)

    sample = subparsers.add_parser(
        "sample",
        help="draw samples from a trained generator",
        description="Draw N samples from the generator of a run and save them as .npy (N×2) or .png.",
        epilog=SAMPLE_EXAMPLES,
        formatter_class=formatter,
    )
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("--n", type=int_type(1, MAX_SAMPLES), default=1000, help="number of samples (default: 1000)")
    sample.add_argument(
        "--out",
        type=output_file_type(".npy", ".png"),
        required=True,
        metavar="FILE",
        help="FILE.npy (array) or FILE.png (scatter over data); an existing file is replaced",
    )
    sample.add_argument(
        "--checkpoint", type=int_type(0, 10**12), metavar="ITER", help="iteration of the checkpoint (default: newest)"
    )
    sample.add_argument("--seed", type=seed_type(), default=0, help="seed of the latent noise (default: 0)")
    sample.add_argument(
        "--ema", action="store_true", help="sample the moving average of the generator (runs trained with ema > 0)"
    )
    sample.set_defaults(func=run_sample)

    sweep = subparsers.add_parser(
        "table2",
        help="the Table 2 sweep of 003: CIFAR-10 methods one after another (resumable), paper-vs-ours table",
        description="Train the Table 2 methods on CIFAR-10 one after another in OUT/METHOD/ (finished runs are "
        "skipped, interrupted ones resumed), then write OUT/table2.md, table2.csv and fid.png beside the values "
        "reported in Table 2 of Kim et al.",
        epilog="examples:\n  ganstab table2 --arch resnet --data-dir data --inception-weights "
        "weights/pt_inception-2015-12-05-6726825d.pth --out runs/table2-resnet\n"
        "  ganstab table2 --arch dcgan --data-dir data --out runs/t2 --print-commands\n",
        formatter_class=formatter,
    )
    sweep.add_argument("--arch", required=True, choices=("resnet", "dcgan"))
    sweep.add_argument("--methods", default=None, help="comma-separated methods (default: the seven of Table 2)")
    sweep.add_argument(
        "--iters", type=int_type(1, 10**9), default=None, help="generator iterations per run (default: 200000)"
    )
    sweep.add_argument("--data-dir", required=True, metavar="DIR", help="the folder with CIFAR-10")
    sweep.add_argument(
        "--inception-weights",
        metavar="PATH",
        help="InceptionV3 weights for IS/FID (default: torch-fidelity's cached copy, downloaded once)",
    )
    sweep.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --data-dir when missing")
    _add_set_option(sweep, "override a config key for every run (repeatable), e.g. --set device=cuda")
    sweep.add_argument("--out", type=output_folder_type(), required=True, metavar="DIR", help="sweep directory")
    sweep.add_argument("--print-commands", action="store_true", help="print one ganstab train line per method")
    sweep.add_argument(
        "--nproc",
        type=int_type(1, 1024),
        default=1,
        metavar="N",
        help="with --print-commands: processes (GPUs) per node; N > 1 prints torchrun lines",
    )
    sweep.add_argument(
        "--nnodes",
        type=int_type(1, 10**5),
        default=1,
        metavar="M",
        help="with --print-commands: nodes (multi-node torchrun lines with rendezvous placeholders)",
    )
    sweep.set_defaults(func=run_table2)

    presets = subparsers.add_parser("presets", help="list the training presets", description="List training presets.")
    presets.add_argument("--json", action="store_true", help="print the presets and their settings as JSON")
    presets.set_defaults(func=run_presets)


def _add_set_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--set", dest="assignments", metavar="KEY=VALUE", action="append", default=[], help=text)


def run_table2(args: argparse.Namespace) -> int:
    from gan_train.sweep import print_commands, run_sweep, sweep_configs, sweep_settings

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods is not None else None
    if methods == []:  # '' would otherwise mean "all seven", at 200k iterations each
        raise UserError("--methods is empty; name methods (e.g. wgan-gp,mu_mid) or leave it out for all of Table 2")
    extra = list(args.assignments)
    if not any(s.startswith("eval_every=") for s in extra):  # the table needs IS/FID (weights: path or cache)
        extra.append("eval_every=10000")
    if args.download:
        extra.append("download=true")
    settings = sweep_settings(args.arch, methods, args.iters, args.data_dir, args.inception_weights, extra)
    out = Path(args.out)
    if (args.nproc != 1 or args.nnodes != 1) and not args.print_commands:
        raise UserError("--nproc/--nnodes print torchrun lines: add --print-commands (a sweep runs one process)")
    if args.print_commands:
        print(print_commands(args.arch, settings, out, nproc=args.nproc, nnodes=args.nnodes))
        return 0
    from gan_train.errors import Preempted, TrainingStopped

    _check_evaluation(sweep_configs(args.arch, settings)[0])  # the weights every method's evaluation will load
    try:
        result = run_sweep(args.arch, settings, out)
    except Preempted as exc:
        print(f"ganstab table2: stopped by {exc}; rerun the same command to continue", file=sys.stderr)
        return exc.exit_status
    except TrainingStopped as exc:
        print(f"ganstab table2: stopped: {exc}", file=sys.stderr)
        return 3
    for method, what in result["runs"].items():
        print(f"{method}: {what}")
    print(f"wrote {out / 'table2.md'}, {out / 'table2.csv'}, {out / 'fid.png'}")
    return 0


def run_presets(args: argparse.Namespace) -> int:
    from gan_train.presets import PRESETS

    if args.json:
        print(
            json.dumps({name: {"description": p.description, **p.overrides} for name, p in PRESETS.items()}, indent=2)
        )
        return 0
    width = max(len(name) for name in PRESETS)
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.description}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from gan_train.config import apply_overrides, read_run_config
    from gan_train.presets import get_preset
    from gan_train.run_dir import check_same_run, plan_run

    if args.out is None and not args.dry_run:
        raise UserError("--out RUN_DIR is required (except with --dry-run)")
    if args.download:  # the config key, so that a resume (and every torchrun rank) reads the same
        args.assignments = [*args.assignments, "download=true"]
    run_dir = Path(args.out) if args.out is not None else None
    if args.resume and run_dir is None:
        raise UserError("--resume needs --out RUN_DIR")
    if not args.resume and not args.preset:
        raise UserError("--preset NAME is required for a new run (see `ganstab presets`)")
    wanted = apply_overrides(get_preset(args.preset).config(), args.assignments) if args.preset else None
    if args.resume and wanted is not None:  # --preset on resume only checks that the run is that preset's
        check_same_run(run_dir, read_run_config(run_dir, "resume"), wanted)
    plan = None
    if run_dir is not None:  # the one decision of start or resume (gan_train/run_dir.py)
        plan = plan_run(run_dir, None if args.resume else wanted, args.assignments if args.resume else (),
                        resume=args.resume)  # fmt: skip
    config = plan.config if plan is not None else wanted
    if args.dry_run:
        print(config.to_json(), end="")
        print(_parameter_summary(config))
        return 0
    _check_evaluation(config)

    from gan_train import distributed as dist
    from gan_train.errors import Preempted, TrainingStopped
    from gan_train.trainer import Trainer

    try:
        # On exit the trainer releases the run directory and, under torchrun, leaves the process group, DDP's
        # wrappers first; otherwise gloo's worker thread may free an all-reduce's tensors while Python shuts down,
        # a SIGABRT (Trainer.close).
        with Trainer.open(plan) as trainer:
            result = trainer.run()
    except Preempted as exc:
        print(
            f"ganstab train: stopped by {exc}; continue with: ganstab train --out {run_dir} --resume", file=sys.stderr
        )
        return exc.exit_status
    except TrainingStopped as exc:
        print(f"ganstab train: stopped: {exc}", file=sys.stderr)
        return 3
    finally:
        dist.leave()  # (a trainer that failed to start may have joined already)
    if not trainer.world.is_main:
        return 0  # under torchrun rank 0 reports for all
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        w1 = result.last_record.get("w1")
        extra = f", W1 {w1:.4f}" if w1 is not None else ""
        print(
            f"trained to iteration {result.iteration} in {result.seconds:.1f} s{extra}; checkpoint {result.checkpoint}"
        )
    return 0


def run_sample(args: argparse.Namespace) -> int:
    out = args.out  # checked by its argparse type: suffix, and a place that can be written
    from gan_train.sampling import sample_run
    from stability.util.atomic import ensure_directory

    samples, config, iteration = sample_run(args.run_dir, args.n, args.checkpoint, args.seed, ema=args.ema)
    if out.suffix.lower() == ".png" and config.image_data:
        raise UserError("--out FILE.png draws 2-D samples over the data; save images as FILE.npy")
    ensure_directory(out.parent)
    if out.suffix.lower() == ".npy":
        import numpy as np

        from stability.util.atomic import atomic_save

        atomic_save(out, lambda handle: np.save(handle, samples))
    else:
        import torch

        from gan_train.data.toy import data_law, get_dataset
        from gan_train.plots import plot_snapshot

        data = data_law(config.dataset).sample(len(samples), generator=torch.Generator().manual_seed(args.seed))
        title = f"{config.dataset}, {config.describe_regulariser()}, iteration {iteration}"
        plot_snapshot(out, None, data.numpy(), samples, get_dataset(config.dataset).extent, title)
    print(f"wrote {len(samples)} samples of iteration {iteration} to {out}")
    return 0


def _check_evaluation(config) -> None:
    """A run that evaluates IS/FID (``eval_every``) checks its Inception weights and reference split now, before
    training toward its first evaluation (:func:`gan_train.evaluate.check_evaluation_ready`), not ``eval_every``
    iterations in."""
    if config.eval_every:
        from gan_train.evaluate import check_evaluation_ready

        check_evaluation_ready(config, progress=config.progress)


def _parameter_summary(config) -> str:
    """Trainable parameters of the run's generator and critic, built on the CPU (no data is read)."""
    import torch

    from gan_train.nets import build_critic, build_generator
    from models.counting import trainable_parameter_count

    with torch.random.fork_rng(devices=[]):
        g, d = trainable_parameter_count(build_generator(config)), trainable_parameter_count(build_critic(config))
    return f"parameters: generator {g:,}, critic {d:,}, total {g + d:,} ({config.arch}, width {config.width})"
