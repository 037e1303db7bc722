"""The Table 2 sweep: resumable (nothing done twice), and its table beside the paper's values."""

from __future__ import annotations

import csv

import pytest
from test_image_data import _write_cifar_folder
from test_train_loop import run_lock_held

from gan_train import checkpoint as ckpt
from gan_train.config import apply_overrides
from gan_train.presets import get_preset
from gan_train.sweep import TABLE2, print_commands, run_sweep, sweep_settings
from gan_train.trainer import Trainer
from stability.cli import main
from stability.util.errors import UserError

TINY = ["width=8", "batch_size=4", "gen_batch_size=4", "n_critic=1", "checkpoint_every=1", "tensorboard=false",
        "progress=false", "log_every=1", "threads=1"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    _write_cifar_folder(root)
    return root


def test_sweep_skips_finished_runs_and_resumes_interrupted_ones(data, tmp_path):
    out = tmp_path / "sweep"
    two = sweep_settings("dcgan", ["wgan-gp", "p_g"], 2, str(data), None, TINY)
    first = run_sweep("dcgan", two, out)
    assert first["runs"] == {"wgan-gp": "trained", "p_g": "trained"}
    stamp = {m: ckpt.list_checkpoints(out / m)[-1][1].stat().st_mtime_ns for m in ("wgan-gp", "p_g")}
    # A third run killed after its first iteration:
    config = apply_overrides(get_preset("cifar10-dcgan-mu_mid").config(), [f"data_dir={data}", "iterations=2", *TINY])
    with Trainer.create(config, out / "mu_mid") as trainer:
        trainer.run(stop_at=1)
    three = sweep_settings("dcgan", ["wgan-gp", "p_g", "mu_mid"], 2, str(data), None, TINY)
    again = run_sweep("dcgan", three, out)
    assert again["runs"] == {"wgan-gp": "skipped (finished)", "p_g": "skipped (finished)", "mu_mid": "resumed"}
    for method, ns in stamp.items():
        assert ckpt.list_checkpoints(out / method)[-1][1].stat().st_mtime_ns == ns  # not retrained
    assert ckpt.list_checkpoints(out / "mu_mid")[-1][0] == 2
    rows = list(csv.DictReader((out / "table2.csv").open()))
    assert [r["method"] for r in rows] == ["wgan-gp", "p_g", "mu_mid"]
    assert float(rows[0]["paper_fid"]) == TABLE2["wgan-gp"]["dcgan"][2] == 35.0
    assert "| mu_mid |" in (out / "table2.md").read_text() and (out / "fid.png").is_file()


def test_the_sweep_releases_the_lock_of_every_run_it_trains_or_resumes(data, tmp_path):
    out = tmp_path / "sweep"
    first = run_sweep("dcgan", sweep_settings("dcgan", ["wgan-gp"], 1, str(data), None, TINY), out)
    assert first["runs"] == {"wgan-gp": "trained"} and (out / "wgan-gp" / ".lock").is_file()
    assert not run_lock_held(out / "wgan-gp")  # another process may resume it now, not only after this one exits
    again = run_sweep("dcgan", sweep_settings("dcgan", ["wgan-gp"], 2, str(data), None, TINY), out)
    assert again["runs"] == {"wgan-gp": "resumed"}
    assert not run_lock_held(out / "wgan-gp")


def test_the_sweep_refuses_to_resume_a_run_as_another_method(data, tmp_path):
    out = tmp_path / "sweep"
    run_sweep("dcgan", sweep_settings("dcgan", ["wgan-gp"], 2, str(data), None, TINY), out)
    (out / "wgan-gp" / "checkpoints" / "ckpt_00000002.pt").unlink()  # unfinished again
    changed = sweep_settings("dcgan", ["wgan-gp"], 2, str(data), None, [*TINY, "lr_d=0.001"])
    with pytest.raises(UserError, match=r"started with lr_d=0\.0001, not 0\.001") as caught:
        run_sweep("dcgan", changed, out)
    assert "\n" not in str(caught.value)


def test_print_commands_and_bad_methods(tmp_path, capsys):
    settings = sweep_settings("resnet", ["mu_anchor"], 1000, "data", None)
    assert print_commands("resnet", settings, tmp_path) == (
        f"ganstab train --preset cifar10-resnet-mu_anchor --out {tmp_path}/mu_anchor --set data_dir=data "
        "--set iterations=1000"
    )
    with pytest.raises(UserError, match="unknown method 'mu_foo'"):
        sweep_settings("resnet", ["mu_foo"], None, "data", None)
    argv = ["table2", "--arch", "dcgan", "--data-dir", "d", "--out", str(tmp_path), "--print-commands"]
    assert main(argv) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == len(TABLE2)


def test_print_commands_for_torchrun(tmp_path, capsys):
    settings = sweep_settings("resnet", ["p_g"], 1000, "data", None, ["device=cuda"])
    line = print_commands("resnet", settings, tmp_path, nproc=8)
    assert line == (
        "torchrun --nproc_per_node=8 --standalone -m stability.cli train --preset cifar10-resnet-p_g "
        f"--out {tmp_path}/p_g --set data_dir=data --set iterations=1000 --set device=cuda"
    )
    multi = print_commands("resnet", settings, tmp_path, nproc=4, nnodes=2)
    assert multi.startswith("torchrun --nproc_per_node=4 --nnodes=2 --node_rank=$NODE_RANK --rdzv_backend=c10d ")
    argv = ["table2", "--arch", "resnet", "--data-dir", "d", "--out", str(tmp_path), "--nproc", "2"]
    assert main(argv) == 2  # --nproc without --print-commands: a sweep here runs one process
    assert "add --print-commands" in capsys.readouterr().err
    with pytest.raises(UserError, match="at least 1"):
        print_commands("resnet", settings, tmp_path, nproc=0)
