"""``ganstab train / sample / presets`` end to end, including a run killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gan_train import checkpoint as ckpt
from stability.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--set",
    "width=16",
    "--set",
    "depth=2",
    "--set",
    "batch_size=32",
    "--set",
    "n_critic=2",
    "--set",
    "threads=1",
    "--set",
    "w1_samples=64",
    "--set",
    "progress=false",
    "--set",
    "tensorboard=false",
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_train_sample_presets(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--preset",
        "toy-8gaussians-mu_anchor",
        *TINY,
        "--set",
        "iterations=6",
        "--set",
        "checkpoint_every=3",
        "--set",
        "w1_every=3",
        "--set",
        "plot_every=6",
        "--out",
        str(run),
    ]
    assert main(args) == 0
    assert "trained to iteration 6" in capsys.readouterr().out
    assert (run / "config.json").is_file() and (run / "plots" / "iter_00000006.png").is_file()
    assert main(args) == 2  # exists, no --resume
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--set", "iterations=8"]) == 0
    assert main(["sample", str(run), "--n", "50", "--out", str(tmp_path / "s.npy"), "--checkpoint", "3"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (50, 2)
    assert main(["sample", str(run), "--n", "50", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(SystemExit) as refused:  # the suffix is checked by --out's argparse type, before any work
        main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.txt")])
    assert refused.value.code == 2
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "t.npy"), "--checkpoint", "5"]) == 2
    assert "no checkpoint of iteration 5" in capsys.readouterr().err
    assert main(["presets"]) == 0
    assert "toy-25gaussians-mu_anchor" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "toy-8gaussians-nope"], "unknown preset 'toy-8gaussians-nope'; valid: cifar10-dcgan-lp"),
        (["--preset", "toy-8gaussians-mu_gp", "--set", "n_critic=0"], "n_critic must be >= 1"),
        (["--preset", "toy-8gaussians-wgan-gp", "--set", "rho=1"], "set gp_lambda, not rho"),
        (["--set", "n_critic=2"], "--preset NAME is required"),
        (["--resume"], "has no config.json"),
    ],
)
def test_train_bad_input_exits_2(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "new")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_divergence_exits_3_with_a_clear_message(tmp_path, capsys):
    args = [
        "train",
        "--preset",
        "toy-8gaussians-mu_mid",
        *TINY,
        "--set",
        "lr_d=1e30",
        "--set",
        "iterations=20",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "ganstab train: stopped: diverged at iteration" in err
    assert "is nan" in err or "is inf" in err


def test_killed_run_leaves_loadable_checkpoints_and_resumes(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "stability.cli",
        "train",
        "--preset",
        "toy-8gaussians-mu_mid",
        *TINY,
        "--set",
        "iterations=100000",
        "--set",
        "checkpoint_every=1",
        "--set",
        "keep_checkpoints=3",
        "--set",
        "w1_every=0",
        "--out",
        str(run),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while len(ckpt.list_checkpoints(run)) < 3 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    found = ckpt.list_checkpoints(run)
    assert len(found) >= 1
    for _, path in found:
        ckpt.read_checkpoint(path)  # every checkpoint left behind is complete
    last = found[-1][0]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stability.cli",
            "train",
            "--out",
            str(run),
            "--resume",
            "--set",
            f"iterations={last + 2}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert ckpt.list_checkpoints(run)[-1][0] == last + 2
