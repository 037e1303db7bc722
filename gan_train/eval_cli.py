"""``ganstab eval``: the image metrics of a run, a checkpoint, an array of images or a folder of PNGs.

Importing this module is cheap (no torch): :func:`run_eval` imports the evaluation when it runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stability.util.checks import output_file_type, seed_type
from stability.util.errors import int_type

#: Images one ``ganstab eval`` generates or reads at most (the trainer's bound on ``eval_samples``).
MAX_EVAL_IMAGES = 10**7

EVAL_EXAMPLES = """\
examples:
  ganstab eval runs/resnet-mu_mid                                # IS and FID, 50,000 images, train reference
  ganstab eval runs/resnet-mu_mid --metrics is,fid,kid,prc --ref test --checkpoint 100000
  ganstab eval runs/resnet-mu_mid/best.pt --inception-weights weights/pt_inception-2015-12-05-6726825d.pth
  ganstab eval samples.npz --data-dir data --metrics fid,kid --out scores.json    # images made by another tool
  ganstab eval pngs/ --data-dir data --download --metrics fid

Inception weights: --inception-weights PATH (offline), else the run's inception_weights, else
torch-fidelity's cached copy (~/.cache/torch/hub/checkpoints), downloaded once when missing.
Reference statistics are cached in ~/.cache/ganstab (or $GANSTAB_CACHE), keyed by data and weights.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ganstab eval`` to the ``ganstab`` parser."""
    evaluate = subparsers.add_parser(
        "eval",
        help="IS, FID, KID and precision/recall of a run, a checkpoint, an .npy/.npz of images or a PNG folder",
        description="Score images with torch-fidelity's InceptionV3: a run's generator (RUN_DIR, or a checkpoint "
        "file), or images made elsewhere (an .npy/.npz array: uint8 N×H×W×3 or N×3×H×W, or float in [-1, 1]; or "
        "a folder of RGB PNGs), all by the same code. FID, KID and precision/recall compare with a split of "
        "CIFAR-10 (train: 50,000 images; test: 10,000); every result records its sample count and reference.",
        epilog=EVAL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("source", metavar="SOURCE", help="RUN_DIR, a checkpoint (.pt), an .npy/.npz or a PNG folder")
    evaluate.add_argument(
        "--metrics", help="comma-separated: is, fid, kid, prc (default: the run's eval_metrics, else is,fid)"
    )
    evaluate.add_argument(
        "--ref",
        choices=("train", "test"),
        help="reference split of fid/kid/prc (default: the run's eval_ref, else train)",
    )
    evaluate.add_argument(
        "--n",
        type=int_type(2, MAX_EVAL_IMAGES),
        default=None,
        help="images: generated (default: 50000) or the first N of SOURCE (default: all)",
    )
    evaluate.add_argument(
        "--checkpoint",
        type=int_type(0, 10**12),
        metavar="ITER",
        help="iteration of a run's checkpoint (default: newest)",
    )
    evaluate.add_argument("--seed", type=seed_type(), default=0, help="seed of the latent noise (default: 0)")
    evaluate.add_argument("--inception-weights", metavar="PATH", help="pt_inception-2015-12-05 weights (see below)")
    evaluate.add_argument("--data-dir", metavar="DIR", help="the CIFAR-10 folder (default: the run's data_dir)")
    evaluate.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --data-dir when missing")
    evaluate.add_argument("--device", default="auto", help="torch device (default: auto = cuda when available)")
    evaluate.add_argument(
        "--batch-size", type=int_type(1, 10_000), default=100, help="images per network pass (default: 100)"
    )
    evaluate.add_argument("--is-splits", type=int_type(1, 10_000), help="IS splits (default: the run's, else 10)")
    evaluate.add_argument("--key", help="the array of an .npz holding several (default: 'images')")
    evaluate.add_argument("--layout", choices=("nchw", "nhwc"), help="an array's layout when its shape is ambiguous")
    evaluate.add_argument("--scale", choices=("tanh", "unit"), help="float images' range: [-1, 1] or [0, 1]")
    evaluate.add_argument(
        "--out",
        type=output_file_type(".json"),
        metavar="FILE.json",
        help="write the record here (default for runs: eval_ITER.json)",
    )
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bars")
    evaluate.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from gan_train.evaluate import evaluate_source
    from stability.util.atomic import atomic_write, check_writable

    out = args.out  # suffix and place checked by its argparse type, before the work
    if out is None:
        from gan_train.config import CONFIG_FILE
        from gan_train.evaluate import _run_of

        source = Path(args.source)
        if source.is_dir() and (source / CONFIG_FILE).is_file():
            check_writable(source, folder=True)  # eval_ITER.json goes there
        elif source.suffix.lower() == ".pt" and source.is_file():
            check_writable(_run_of(source), folder=True)
    record, default = evaluate_source(
        args.source,
        checkpoint=args.checkpoint,
        metrics=args.metrics,
        ref=args.ref,
        n=args.n,
        seed=args.seed,
        weights=args.inception_weights,
        data_dir=args.data_dir,
        download=args.download,
        device=args.device,
        batch_size=args.batch_size,
        is_splits=args.is_splits,
        key=args.key,
        layout=args.layout,
        scale=args.scale,
        progress=not args.no_progress,
    )
    text = json.dumps(record, indent=2) + "\n"
    target = out or default
    if target is not None:
        atomic_write(target, text)
    print(text, end="")
    return 0
