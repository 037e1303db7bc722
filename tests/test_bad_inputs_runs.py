"""Bad input to the commands that read runs (spectrum, sample, train --resume, table2, experiment): issue 26's cases.

The table runs each case as ``tests/test_bad_inputs.py`` does (in-process, in an empty working directory): the exit
status (2 bad input, 4 an output that cannot be written), one line on stderr, no traceback, nothing written in the
working directory and the fixtures unchanged. The runs are tiny toy and image runs made once for the module. The
cases that must succeed (replacing an existing output, an lr_decay run at its end, the optimiser notes) and those
that need a signal or an environment variable are the functions after the table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import QUIET, TINY, _snapshot, assert_refused_in_one_line
from test_image_data import _write_cifar_folder, fake_cifar_prelude

from stability.cli import main

ROOT = Path(__file__).resolve().parents[1]
TOY = ["train", "--preset", "toy-8gaussians-mu_gp", *TINY, *QUIET, "--set", "checkpoint_every=4"]
#: The image runs' settings: a 4-wide DCGAN, 4-image batches, one critic step.
IMAGE = ["width=4", "batch_size=4", "gen_batch_size=4", "n_critic=1", "checkpoint_every=1", "tensorboard=false",
         "progress=false", "threads=1", "device=cpu", "eval_every=0"]  # fmt: skip
IMAGE_SETS = [word for s in IMAGE for word in ("--set", s)]
SPECTRUM = ["spectrum", "--k", "2", "--which", "LM", "--no-progress", "--no-gd", "--no-update"]
TABLE2_BASE = ["table2", "--arch", "dcgan", "--data-dir", "{cifar}", "--methods", "wgan-gp", *IMAGE_SETS]
TABLE2 = [*TABLE2_BASE, "--iters", "1"]
EXPERIMENT = ["experiment", "zhou-two-points", "--quick", "--seeds", "1", "--no-progress"]

# (id, argv, exit status). Placeholders: {adam} a finished toy run; {norho} its copy whose config.json lost "rho";
# {misnamed} a copy whose ckpt_00000008.pt holds iteration 4; {file} a plain file; {folder_npy} a folder named *.npy;
# {cifar} fake CIFAR-10 (trusted), {cifar_other} other fake images of the same size; {image} a finished image run;
# {sweep} a finished Table 2 folder; {seeds:NAME} an experiment folder with a broken seed file.
CASES: list[tuple[str, list[str], int]] = []


def case(name: str, argv: list[str], status: int = 2) -> None:
    CASES.append((name, argv, status))


# spectrum: the run's config.json against its checkpoints; numbers and the output folder before any work
case("spectrum-config-json-lost-a-key", [*SPECTRUM, "{norho}"])
case("spectrum-checkpoint-name-not-its-iteration", [*SPECTRUM, "{misnamed}"])
for value in ("nan", "inf", "-1", "abc"):
    case(f"spectrum-stationary-tol-{value}", [*SPECTRUM, "{adam}", "--stationary-tol", value])
for value in ("-1", str(2**63), str(2**64), "1e30", "abc", "2.5"):
    case(f"spectrum-seed-{value}", [*SPECTRUM, "{adam}", "--seed", value])
for value in ("0", "100000000", "-5", "nan"):
    case(f"spectrum-samples-{value}", [*SPECTRUM, "{adam}", "--samples", value])
for value in ("0", "1000000000", "abc"):
    case(f"spectrum-k-{value}", [*SPECTRUM, "{adam}", "--k", value])
case("spectrum-k-basis-beyond-memory", [*SPECTRUM, "{image}", "--k", "9999"])
for value in ("3", "2", "1e30"):
    case(f"spectrum-ncv-{value}", [*SPECTRUM, "{adam}", "--ncv", value])
case("spectrum-out-is-a-file", [*SPECTRUM, "{adam}", "--out", "{file}"], 4)
case("spectrum-out-under-a-file", [*SPECTRUM, "{adam}", "--out", "{file}/spectra"], 4)
case("spectrum-out-under-proc-before-the-run", [*SPECTRUM, "missing-run", "--out", "/proc/ganstab-spectra"], 4)
case("spectrum-out-under-sys-before-the-run", [*SPECTRUM, "missing-run", "--out", "/sys/ganstab-spectra"], 4)
# sample and portrait: a folder or an unwritable place is exit 4 (an existing file is replaced: see below)
case("sample-out-under-proc-before-the-run", ["sample", "missing-run", "--out", "/proc/s.npy"], 4)
case("sample-out-folder-named-npy", ["sample", "{adam}", "--out", "{folder_npy}"], 4)
case("sample-seed-2**63", ["sample", "{adam}", "--seed", str(2**63), "--out", "s.npy"])
case("sample-checkpoint-name-not-its-iteration", ["sample", "{misnamed}", "--out", "s.npy"])
case("portrait-out-under-proc", ["portrait", "--toy", "dirac", "--no-progress", "--out", "/proc/fig.png"], 4)
case("lemmas-out-under-proc", ["lemmas", "--out", "/proc/report"], 4)
# train: checkpoints, outputs, weights and data identity before any work
case("train-resume-checkpoint-name-not-its-iteration", ["train", "--resume", "--out", "{misnamed}"])
case("train-seed-negative", [*TOY, "--set", "seed=-1", "--out", "run"])
case("table2-seed-negative", [*TABLE2, "--set", "seed=-1", "--out", "sweep"])
case("train-out-is-a-file", [*TOY, "--out", "{file}"], 4)
case("train-out-under-proc", [*TOY, "--out", "/proc/run"], 4)
WEIGHTS = ["--set", "eval_every=1", "--set", "eval_samples=10"]
IMAGE_TRAIN = ["train", "--preset", "cifar10-dcgan-wgan-gp", "--set", "data_dir={cifar}", *IMAGE_SETS, *WEIGHTS]
case("train-inception-weights-missing", [*IMAGE_TRAIN, "--set", "inception_weights=missing.pth", "--out", "run"])
case("train-inception-weights-garbage", [*IMAGE_TRAIN, "--set", "inception_weights={file}", "--out", "run"])
case("train-resume-other-data-same-size", ["train", "--resume", "--out", "{image}", "--set", "data_dir={cifar_other}"])
# eval: sizes and seeds by argparse, before the run is read
case("eval-n-negative", ["eval", "{image}", "--n", "-10"])
case("eval-seed-2**63", ["eval", "{image}", "--seed", str(2**63)])
case("eval-out-under-proc", ["eval", "missing-run", "--out", "/proc/scores.json"], 4)
# table2
case("table2-methods-empty", [*TABLE2, "--methods", "", "--out", "sweep"])
case("table2-methods-only-commas", [*TABLE2, "--methods", " , ", "--out", "sweep"])
case("table2-iters-0", [*TABLE2, "--iters", "0", "--out", "sweep"])
case("table2-nproc-0", [*TABLE2, "--nproc", "0", "--print-commands", "--out", "sweep"])
case("table2-out-is-a-file", [*TABLE2, "--out", "{file}"], 4)
case("table2-out-under-proc-before-the-data", [*TABLE2, "--data-dir", "missing", "--out", "/proc/sweep"], 4)
case("table2-inception-weights-missing", [*TABLE2, *WEIGHTS, "--inception-weights", "missing.pth", "--out", "sweep"])
case("table2-inception-weights-garbage", [*TABLE2, *WEIGHTS, "--inception-weights", "{file}", "--out", "sweep"])
case("table2-rerun-finished-with-other-lr", [*TABLE2, "--set", "lr_d=0.001", "--out", "{sweep}"])
case("table2-rerun-finished-with-other-width", [*TABLE2, "--set", "width=8", "--out", "{sweep}"])
# experiment
case("experiment-cells-one-pattern-matches-nothing", [*EXPERIMENT, "--cells", "gp", "nonsense", "--out", "res"])
case("experiment-out-is-a-file", [*EXPERIMENT, "--out", "{file}"], 4)
case("experiment-out-under-proc-before-the-name", ["experiment", "no-such", "--out", "/proc/res"], 4)
case("experiment-refused-start-leaves-no-folder", ["experiment", "zhou-images", "--quick", "--data-dir", "nowhere",
                                                   "--no-progress", "--out", "res"])  # fmt: skip
DELETE = object()  # a field the broken seed file lacks
#: Seed files of the first task (cell gp, seed 0) that are not a finished seed's record: changes to a good one.
BAD_SEED_FILES = {
    "empty-object": {},
    "no-at": {"at": DELETE},
    "no-seconds": {"seconds": DELETE},
    "at-a-number": {"at": 5},
    "at-key-not-an-iteration": {"at": {"last": {}}},
    "at-value-not-an-object": {"at": {"40": 3}},
    "diverged-a-number": {"diverged": 7},
    "seconds-text": {"seconds": "fast"},
    "config-a-list": {"config": [1, 2]},
}
for name in BAD_SEED_FILES:
    case(f"experiment-seed-file-{name}", [*EXPERIMENT, "--out", f"{{seeds:{name}}}"])


def test_every_case_has_its_own_name():
    assert len({name for name, _, _ in CASES}) == len(CASES) >= 60, len(CASES)


def _train(argv: list[str]) -> None:
    assert main(argv) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    _write_cifar_folder(base / "cifar_other", seed=1)
    _write_cifar_folder(base / "cifar")  # written last: its MD5s are the ones torchvision trusts in this process
    (base / "plain-file").write_text("not a folder\n")
    (base / "folder.npy").mkdir()
    adam = base / "adam"
    _train([*TOY, "--set", "iterations=8", "--out", str(adam)])
    norho = base / "norho"
    shutil.copytree(adam, norho)
    config = json.loads((norho / "config.json").read_text())
    del config["rho"]  # read back as the default ρ = 20 where the run trained with 0.2
    (norho / "config.json").write_text(json.dumps(config))
    misnamed = base / "misnamed"
    shutil.copytree(adam, misnamed)
    (misnamed / "checkpoints" / "ckpt_00000008.pt").unlink()
    (misnamed / "checkpoints" / "ckpt_00000004.pt").rename(misnamed / "checkpoints" / "ckpt_00000008.pt")
    image = base / "image"
    _train(["train", "--preset", "cifar10-dcgan-wgan-gp", "--set", f"data_dir={base / 'cifar'}", *IMAGE_SETS,
            "--set", "iterations=1", "--out", str(image)])  # fmt: skip
    sweep = base / "sweep"
    _train([_fill(a, {"cifar": base / "cifar"}) for a in TABLE2] + ["--out", str(sweep)])
    good = {"config": _first_task_config(base), "at": {"40": {}}, "diverged": None, "seconds": 1.0}
    for name, record in BAD_SEED_FILES.items():
        folder = base / "seeds" / name / "seeds" / "gp"
        folder.mkdir(parents=True)
        broken = {key: value for key, value in {**good, **record}.items() if value is not DELETE} if record else {}
        (folder / "seed_0.json").write_text(json.dumps(broken))
    return {"base": base, "adam": adam, "norho": norho, "misnamed": misnamed, "image": image, "sweep": sweep,
            "file": base / "plain-file", "folder_npy": base / "folder.npy", "cifar": base / "cifar",
            "cifar_other": base / "cifar_other"}  # fmt: skip


def _first_task_config(base: Path) -> dict:
    """The config of the first task (cell gp, seed 0) of ``EXPERIMENT``: a seed file that holds it is this
    experiment's, so only its other fields can make it unusable."""
    from gan_train.experiments import get_experiment
    from gan_train.experiments.base import Options

    tasks = get_experiment("zhou-two-points").load().tasks(Options(out=base, seeds=1, quick=True, progress=False))
    assert (tasks[0].cell, tasks[0].seed) == ("gp", 0)
    return tasks[0].config.to_dict()


def _fill(arg: str, fx: dict[str, Path]) -> str:
    if arg.startswith("{seeds:"):
        return str(fx["base"] / "seeds" / arg[7:-1])
    for key, value in fx.items():
        arg = arg.replace(f"{{{key}}}", str(value))
    return arg


@pytest.mark.parametrize("name, argv, status", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(name, argv, status, runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [_fill(a, runs) for a in argv]
    assert_refused_in_one_line(argv, status, lambda: _files(runs["base"]), tmp_path, capsys)


def _files(base: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``base`` with its size and time, but the runs' lock files: a command that opens a
    run takes its lock (``RUN_DIR/.lock`` names the holding process) before it can read what it refuses."""
    return {name: stamp for name, stamp in _snapshot(base).items() if not name.endswith(".lock")}


# ---- what must succeed, and what needs a signal or an environment variable -------------------------------------------


def _run_ok(argv: list[str], capsys) -> str:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err and "Warning" not in err, err
    return out


@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_sample_replaces_an_existing_file(suffix, runs, tmp_path, capsys):
    out = tmp_path / f"s{suffix}"
    out.write_text("an older file")
    _run_ok(["sample", str(runs["adam"]), "--n", "50", "--out", str(out)], capsys)
    if suffix == ".npy":
        assert np.load(out).shape == (50, 2)
    else:
        assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


def test_portrait_replaces_an_existing_file(tmp_path, capsys):
    out = tmp_path / "fig.png"
    out.write_text("an older figure")
    _run_ok(["portrait", "--toy", "dirac", "--no-progress", "--steps", "3", "--out", str(out)], capsys)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


@pytest.mark.parametrize(
    "optimizer, named",
    [("adam", "Adam (β1 = 0.5, β2 = 0.9)"), ("rmsprop", "with RMSprop at"), ("sgd", "with plain SGD (no momentum)")],
)
def test_spectrum_names_the_optimiser_the_run_used(optimizer, named, runs, tmp_path, capsys):
    run = tmp_path / "run"
    _train([*TOY, "--set", "iterations=4", "--set", f"optimizer={optimizer}", "--out", str(run)])
    text = _run_ok([*SPECTRUM, str(run), "--out", str(tmp_path / "s")], capsys)
    notes = [line for line in text.splitlines() if "trained with" in line]
    assert len(notes) == 1 and named in notes[0], notes
    assert "constant learning rates lr_d = 0.0001, lr_g = 0.0001" in notes[0]


def test_an_lr_decay_run_at_its_end_has_the_zero_step_and_its_rates(runs, tmp_path, capsys):
    run = tmp_path / "decay"
    _train([*TOY, "--set", "iterations=8", "--set", "lr_decay=true", "--out", str(run)])
    out = tmp_path / "s"
    text = _run_ok(["spectrum", "--k", "2", "--which", "LM", "--no-progress", str(run), "--out", str(out)], capsys)
    found = {c["iteration"]: c for c in json.loads((out / "spectrum.json").read_text())["runs"][0]["checkpoints"]}
    # linear decay to 0 over T = 8 iterations: lr(t) = 1e-4 (1 - t/8)
    assert found[4]["learning_rates"] == {"lr_d": pytest.approx(5e-5, rel=1e-6), "lr_g": pytest.approx(5e-5, rel=1e-6)}
    assert found[4]["gd"]["simultaneous"]["step"] == pytest.approx(5e-5, rel=1e-6)
    assert found[4]["update"]["rule"] == "adam:lr_d=5e-05,lr_g=5e-05,beta1=0.5,beta2=0.9,eps=1e-08,n_critic=1,order=alt"
    assert found[8]["learning_rates"] == {"lr_d": 0.0, "lr_g": 0.0} and found[8]["gd"] == {}
    assert found[8]["update"] is None
    assert any("run's update does not move" in n for n in found[8]["notes"])
    assert any("zero step does not move" in n and "spectral radius exactly 1" in n for n in found[8]["notes"])
    assert "decayed linearly from lr_d = 0.0001, lr_g = 0.0001 to 0 over 8 iterations" in text


def test_an_ncv_beyond_n_is_capped_at_n(runs, tmp_path, capsys):
    out = tmp_path / "s"
    _run_ok([*SPECTRUM[:-1], str(runs["adam"]), "--checkpoints", "last", "--ncv", "1000000000", "--out", str(out)],
            capsys)  # fmt: skip
    spectrum = json.loads((out / "spectrum.json").read_text())["runs"][0]["checkpoints"][0]["spectra"]["LM"]
    # n by hand: critic 2·8 + 8 + 8·1 + 1 = 33, generator 2·8 + 8 + 8·2 + 2 = 42
    assert spectrum["n"] == 75 and spectrum["ncv"] == 75
    assert "ncv = 1000000000 exceeds n = 75: capped at n" in spectrum["notes"]


def test_an_unwritable_inception_cache_is_a_write_failure():
    from gan_train.metrics.reference import reference_statistics
    from stability.util.atomic import WriteError

    images = np.zeros((2, 3, 8, 8), dtype=np.uint8)
    with pytest.raises(WriteError, match="ganstab-cache"):
        reference_statistics(images, None, "/proc/ganstab-cache", "0" * 64, "1" * 64, progress=False)


TABLE2_WORKER = """
import sys
from stability.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_table2_interrupted_writes_its_checkpoint_and_exits_128_plus_the_signal(signum, runs, tmp_path):
    out = tmp_path / "sweep"
    argv = [_fill(a, runs) for a in TABLE2_BASE] + ["--iters", "100000", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    code = fake_cifar_prelude(runs["cifar"]) + TABLE2_WORKER
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], env=env, stderr=subprocess.PIPE, text=True)
    checkpoints = out / "wgan-gp" / "checkpoints"
    deadline = time.monotonic() + 240
    while not (checkpoints.is_dir() and any(checkpoints.glob("ckpt_*.pt"))) and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.2)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=240)
    lines = [line for line in err.splitlines() if line.strip() and "note:" not in line]
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"ganstab table2: stopped by {signal.Signals(signum).name} at iteration"), err
    assert lines[0].endswith("rerun the same command to continue"), err
    assert "--resume" not in err
    from gan_train import checkpoint as ckpt

    iteration, path = ckpt.list_checkpoints(out / "wgan-gp")[-1]
    assert ckpt.read_checkpoint(path)["iteration"] == iteration >= 1


def test_checkpoints_of_an_older_trainer_are_compared_by_architecture_and_say_so(runs, tmp_path, capsys):
    from gan_train import checkpoint as ckpt

    run = tmp_path / "older"
    shutil.copytree(runs["adam"], run)
    for _, path in ckpt.list_checkpoints(run):
        state = ckpt.read_checkpoint(path)
        del state["config"], state["format"]  # as a trainer that stored no config wrote them
        ckpt.write_checkpoint(path, state)
    capsys.readouterr()
    assert main([*SPECTRUM, str(run), "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "checkpoint(s) 4, 8 of" in err and "only their architecture was compared with config.json" in err


def test_the_cost_note_counts_each_first_factorisation_by_hand():
    from gan_train.spectra.cost import cost_note

    # n = 42,460, float64, top-20 LR: basis max(8·20, 120) = 160 (2 GiB would hold 6,321 vectors); the GD radii run
    # top-6 LR (basis 120) and LM (basis 20) on J and on J_alt(h) at two products each: 3·(120 + 20) = 420
    note = cost_note(42_460, 20, ("LR",), 0.1, None, 8, checkpoints=2, gd=True)
    assert "LR 160 (≈ 16 s), GD radii 420 (≈ 42 s) products, at least 58 s per checkpoint × 2" in note
    assert "--which LM needs a basis of 41" in note and "--no-gd" in note  # LM: max(2·20 + 1, 20)
    assert cost_note(42_460, 20, ("LR",), 0.1, None, 8, gd=False) is None  # 16 s: under the 30 s of a note
    small = cost_note(75, 2, ("LR",), 10.0, None, 8, gd=True)  # n = 75: the basis is capped at n, the GD radii dense
    assert "LR 75 (≈ 750 s) products" in small and "GD radii" not in small
    # the run's own update, Adam with n_critic = 5 (six field products per map product) on (w, m) = 2n = 84,920
    # entries: top-6 of T by magnitude on a basis of max(8·6, 120) = 120, 6·120 = 720 field products, 72 s, so a note
    # even alone
    own = cost_note(42_460, 20, ("LR",), 0.1, None, 8, gd=False, update=(84_920, 6))
    assert "LR 160 (≈ 16 s), update radius 720 (≈ 72 s) products, at least 88 s per checkpoint" in own
    assert "--no-update skips the run's own update radius" in own
    assert "update radius" not in cost_note(75, 2, ("LR",), 10.0, None, 8, update=(150, 6))  # dense: no basis


def test_every_character_of_the_figure_code_has_a_glyph():
    """A figure text with a character the font lacks draws a box and warns on stderr ("Glyph … missing from font"):
    every non-ASCII character in the sources of the commands that draw renders in matplotlib's default font."""
    import io
    import warnings

    from matplotlib.figure import Figure

    sources = [*(ROOT / "gan_train").rglob("*.py"), *(ROOT / "stability" / "plots").rglob("*.py")]
    characters = sorted({c for path in sources for c in path.read_text(encoding="utf-8") if ord(c) > 127})
    fig = Figure()
    fig.text(0.01, 0.5, "a" + "".join(characters), fontsize=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
        fig.savefig(io.BytesIO(), format="pdf")
    assert not [str(w.message) for w in caught], characters
