"""Train a small SGP μ_mid-WGAN on 8 Gaussians and watch W1 fall (about a minute on one CPU core).

The penalty is the one of ``003_…`` Table 1 (x̂ = (x_d + x_g)/2, simple form
(ρ/2)·E_μ[‖∇ₓD‖²]) taken from the shared ``stability`` definitions; the preset
is shrunk (64-unit nets, 600 generator iterations, lr 1e-3) so it runs quickly.

    PYTHONPATH=. python examples/train_toy.py [RUN_DIR]

The same from the command line:

    ganstab train --preset toy-8gaussians-mu_mid --set width=64 --set depth=2 --set iterations=600 \\
        --set lr_d=1e-3 --set lr_g=1e-3 --out runs/8g-mid-small
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from gan_train import Trainer, apply_overrides, get_preset
from gan_train.metrics.log import read_metrics


def main() -> None:
    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "8g-mid"
    config = apply_overrides(
        get_preset("toy-8gaussians-mu_mid").config(),
        [
            "width=64",
            "depth=2",
            "iterations=600",
            "lr_d=1e-3",
            "lr_g=1e-3",
            "batch_size=128",
            "w1_every=100",
            "plot_every=300",
            "checkpoint_every=300",
            "threads=1",
        ],
    )
    trainer = Trainer.create(config, run_dir)
    print(f"W1 at initialisation: {trainer.w1():.3f}")
    result = trainer.run()
    for record in read_metrics(run_dir):
        if "w1" in record:
            print(f"iteration {record['iteration']:>4}: W1 {record['w1']:.3f}, critic gap {record['gap']:.4f}")
    print(f"done in {result.seconds:.0f} s; run directory {run_dir} (config.json, metrics.jsonl, plots/, checkpoints/)")


if __name__ == "__main__":
    main()
