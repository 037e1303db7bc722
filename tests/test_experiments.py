"""The experiments of the seed papers: the maths behind their numbers by hand, and every one end to end (``--quick``).

The end-to-end runs go through the command line (``ganstab experiment NAME --quick``) once per module; the resume
tests then reuse their folders: a rerun skips every finished seed, a deleted seed comes back bitwise the same, and a
run interrupted between two measurements continues to the same numbers as one that was not.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from test_image_data import _write_cifar_folder

from gan_train.data.toy import data_law
from gan_train.experiments import EXPERIMENTS, get_experiment
from gan_train.experiments import zhou_two_points as two_points
from gan_train.experiments.base import Options, Workspace, deviations_of
from gan_train.experiments.geometry import (
    angles_deg,
    cosines,
    mixture_modes,
    mode_coverage,
    quartiles,
    ray_hits,
    two_point_targets,
)
from gan_train.metrics.log import optimal_matching
from stability.cli import main
from stability.util.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- the maths, by hand ----------------------------------------------------------------------------------------


def test_two_point_targets_against_a_hand_computed_assignment():
    """Real A = (0, 0), B = (3, 4); fake P = (0, 1), Q = (3, 0).

    P→A, Q→B costs 1 + 4 = 5; P→B, Q→A costs √(3² + 3²) + 3 = 3√2 + 3 ≈ 7.243. So P goes to A and Q to B, although
    Q's nearest real point is A (3 < 4): the transport target is not the nearest point.
    """
    real = np.array([[0.0, 0.0], [3.0, 4.0]])
    fake = np.array([[0.0, 1.0], [3.0, 0.0]])
    targets, cost, other = two_point_targets(fake, real)
    assert targets.tolist() == [0, 1]
    assert cost == pytest.approx(5.0) and other == pytest.approx(3 * math.sqrt(2) + 3)
    assert np.linalg.norm(real - fake[1], axis=1).argmin() == 0  # the greedy choice differs for Q
    swapped, cost_swapped, _ = two_point_targets(fake, real[::-1])  # relabel the real points: the pairing follows
    assert swapped.tolist() == [1, 0] and cost_swapped == pytest.approx(5.0)
    partner, distance = optimal_matching(fake, real)
    assert partner.tolist() == [0, 1] and distance == pytest.approx([1.0, 4.0])  # Kuhn–Munkres agrees: |PA|, |QB|


def test_closed_form_and_assignment_agree_on_the_experiments_points():
    for seed in range(40):
        real, fake = two_points.points(seed)
        targets, cost, other = two_point_targets(fake, real)
        assert targets.tolist() == optimal_matching(fake, real)[0].tolist()
        assert other >= 1.1 * cost  # the rule that keeps the target unambiguous
        every = np.concatenate([real, fake])
        gaps = [np.linalg.norm(a - b) for i, a in enumerate(every) for b in every[i + 1 :]]
        assert np.abs(every).max() <= 1 and min(gaps) >= 0.25


def test_optimal_matching_of_a_shifted_set_is_the_shift():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(30, 5)) * 10
    order = rng.permutation(30)
    fake = real[order] + 0.01  # each fake point sits next to one real point
    partner, distance = optimal_matching(fake, real)
    assert (partner == order).all() and distance == pytest.approx(np.full(30, 0.01 * np.sqrt(5)))  # ‖0.01·1₅‖


def test_angles_cosines_and_rays_by_hand():
    v = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [1.0, 1.0]])
    d = np.array([[1.0, 1.0], [0.0, -1.0], [1.0, 0.0], [2.0, 2.0]])
    np.testing.assert_allclose(angles_deg(v, d)[[0, 1, 3]], [45.0, 180.0, 0.0], atol=1e-5)
    assert math.isnan(angles_deg(v, d)[2]) and math.isnan(cosines(v, d)[2])
    np.testing.assert_allclose(cosines(v, d)[[0, 1]], [math.sqrt(0.5), -1.0])
    points = np.zeros((4, 2))
    directions = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.3], [0.0, 0.0]])
    centre = np.array([[2.0, 0.0]])
    # towards it; away from it; 2·0.3/√1.09 ≈ 0.575 off at the closest approach; no direction (and 2 away)
    assert ray_hits(points, directions, centre, 0.5).tolist() == [True, False, False, False]
    assert ray_hits(points, directions, centre, 0.6).tolist() == [True, False, True, False]
    assert ray_hits(points + [[1.9, 0.0]], directions, centre, 0.2).tolist() == [True, True, True, True]  # inside


def test_modes_and_coverage_of_the_toy_mixtures():
    centres, sigmas = mixture_modes(data_law("8gaussians"))
    assert centres.shape == (8, 2) and np.allclose(np.linalg.norm(centres, axis=1), 2 / 1.414)
    assert np.allclose(sigmas, 0.02 / 1.414)
    samples = data_law("8gaussians").sample(2500, generator=torch.Generator().manual_seed(0)).numpy()
    full = mode_coverage(samples, centres, sigmas)
    assert full["covered"] == 8 and full["high_quality"] > 0.98  # 3σ holds 98.9% of a 2-D normal
    collapsed = mode_coverage(np.zeros_like(samples) + centres[3], centres, sigmas)
    assert collapsed["covered"] == 1 and collapsed["counts"][3] == 2500
    assert len(mixture_modes(data_law("25gaussians"))[0]) == 25
    with pytest.raises(ValueError):
        mixture_modes(data_law("swissroll"))


def test_quartiles_ignore_non_finite_values():
    q = quartiles([[1.0, np.nan], [3.0, np.nan], [2.0, np.nan], [np.inf, np.nan]])
    assert q["median"][0] == 2.0 and math.isnan(q["median"][1])


# ---- the registry and the command line -------------------------------------------------------------------------


def test_registry_modules_cite_the_seeds_and_list_deviations():
    for entry in EXPERIMENTS.values():
        module = entry.load()
        for name in ("tasks", "measure", "report"):
            assert callable(getattr(module, name)), f"{entry.name} has no {name}()"
        assert "line" in module.__doc__ and entry.source.split()[0] in module.__doc__
        assert len(deviations_of(module)) >= 2, entry.name
    with pytest.raises(UserError, match="unknown experiment"):
        get_experiment("kim")


def test_list_and_bad_input(capsys, tmp_path):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)
    assert main(["experiment", "list", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(EXPERIMENTS)
    assert main(["experiment", "no-such", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'no-such'" in err and err.count("\n") == 1
    assert main(["experiment", "kim-2d"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


# ---- every experiment end to end --------------------------------------------------------------------------------

#: The headline numbers of each experiment's summary, which must all be finite after a quick run.
KEY_NUMBERS = {
    "kim-2d": lambda s: (
        [c["w1_median"] for c in s.values()]
        + [c["covered_median"] for k, c in s.items() if not k.startswith("swissroll")]
    ),
    "petzka-toys": lambda s: [v for c in s.values() for v in c["final_w1"] + c["final_negative_critic_loss"]],
    "zhou-two-points": lambda s: [v for c in s.values() for v in c["angle_ot_final"]],
    "zhou-gaussians": lambda s: [v for c in s.values() for v in c["angle_ot_median"] + c["towards_real"]],
    "zhou-images": lambda s: [v for c in s.values() for v in c["cosines"]],
    "zhou-offset": lambda s: [v for c in s.values() for v in c["std_second_half"] + c["w1_final"]],
}


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Each experiment's ``--quick`` run through the command line, once for the module."""
    root = tmp_path_factory.mktemp("experiments")
    _write_cifar_folder(root / "cifar")
    done = {}
    for name in EXPERIMENTS:
        out = root / name
        status = main(["experiment", name, "--quick", "--no-progress", "--data-dir", str(root / "cifar"),
                       "--out", str(out)])  # fmt: skip
        done[name] = (status, out)
    return done


def test_the_key_numbers_cover_every_experiment():
    assert set(KEY_NUMBERS) == set(EXPERIMENTS)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_quick_run_end_to_end(quick_runs, name):
    status, out = quick_runs[name]
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == name and results["runs"] > 0 and not results["diverged"]
    assert results["figures"], "no figure"
    for figure in results["figures"]:
        for file in figure["files"]:
            assert (out / file).stat().st_size > 1000, file
    numbers = KEY_NUMBERS[name](results["summary"])
    assert numbers and all(v is not None and math.isfinite(v) for v in numbers), numbers
    text = (out / "results.md").read_text()
    assert "## Deviations from the paper" in text and "## Results" in text and "--quick" in text
    assert len(results["per_run"]) == results["runs"]


def test_a_rerun_skips_finished_seeds_and_a_deleted_one_returns_bitwise(quick_runs):
    _, out = quick_runs["zhou-two-points"]
    files = sorted((out / "seeds").rglob("seed_*.json"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert main(["experiment", "zhou-two-points", "--quick", "--no-progress", "--out", str(out), "--json"]) == 0
    assert json.loads((out / "results.json").read_text())["skipped"] == len(files)
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files)  # nothing was touched
    victim = out / "seeds" / "maxgp" / "seed_1.json"
    before = json.loads(victim.read_text())
    victim.unlink()
    shutil.rmtree(out / "runs" / "maxgp" / "seed_1")
    assert main(["experiment", "zhou-two-points", "--quick", "--no-progress", "--out", str(out)]) == 0
    after = json.loads(victim.read_text())
    assert after["at"] == before["at"] and after["config"] == before["config"]
    assert json.loads((out / "results.json").read_text())["skipped"] == len(files) - 1


def test_other_settings_in_the_same_folder_are_refused(quick_runs, capsys):
    _, out = quick_runs["zhou-offset"]
    assert main(["experiment", "zhou-offset", "--quick", "--iters", "7", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "iterations=20" in err and "another --out" in err and err.count("\n") == 1


def test_an_empty_panel_says_why():
    # a cell outside --cells was not run: its panel must not claim it diverged (petzka's level sets once did)
    from gan_train.experiments.base import Outcome, missing_panel

    assert missing_panel(Outcome(None, {}, excluded=True)) == "not run"
    assert missing_panel(Outcome(None, {}, diverged="iteration 3: loss_d is nan")) == "diverged"
    assert missing_panel(Outcome(None, {})) == "no data"


def test_a_seed_record_from_before_a_new_config_key_is_still_taken(quick_runs, capsys):
    # A record written before a key existed (cuda_graph arrived later) holds no value for it: it ran as the default.
    _, out = quick_runs["zhou-offset"]
    records = sorted((out / "seeds").rglob("seed_*.json"))
    originals = {f: f.read_text() for f in records}
    try:
        for f in records:
            record = json.loads(originals[f])
            del record["config"]["cuda_graph"]
            f.write_text(json.dumps(record))
        assert main(["experiment", "zhou-offset", "--quick", "--no-progress", "--out", str(out), "--json"]) == 0
        assert json.loads((out / "results.json").read_text())["skipped"] == len(records)
        # ... while other settings are still refused
        command = ["experiment", "zhou-offset", "--quick", "--no-progress", "--out", str(out)]
        assert main([*command, "--iters", "7"]) == 2
        assert "another --out" in capsys.readouterr().err
    finally:
        for f, text in originals.items():
            f.write_text(text)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_cells_outside_the_filter_are_left_out_not_shown_as_numbers(quick_runs, name, capsys):
    # the quick folder's seeds are all finished, so this rerun trains nothing: it only reports one cell
    status, out = quick_runs[name]
    assert status == 0
    full = json.loads((out / "results.json").read_text())
    cells = list(dict.fromkeys(r["cell"] for r in full["per_run"]))
    chosen = cells[-1]
    assert main(["experiment", name, "--quick", "--no-progress", "--threads", "1", "--cells", chosen, "--data-dir",
                 str(out.parent / "cifar"), "--out", str(out)]) == 0  # fmt: skip
    part = json.loads((out / "results.json").read_text())
    ran = {r["cell"] for r in part["per_run"] if r["at"]}
    assert ran == {chosen} and part["runs"] == sum(r["cell"] == chosen for r in full["per_run"])
    assert {n.split("/")[0] for n in part["not_run"]} == set(cells) - {chosen}
    # the cells not run have no table rows (before, they showed a share of 0.00 for runs that never happened)
    assert len(part["tables"][0]["rows"]) < len(full["tables"][0]["rows"])
    assert all(len(t["rows"]) <= len(f["rows"]) for t, f in zip(part["tables"], full["tables"]))
    assert "were not" in (out / "results.md").read_text()
    assert main(["experiment", name, "--quick", "--no-progress", "--cells", "no-such-*", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "matches no cell" in err and chosen in err and err.count("\n") == 1
    # put the folder back as the other tests expect it
    assert main(["experiment", name, "--quick", "--no-progress", "--data-dir", str(out.parent / "cifar"),
                 "--out", str(out)]) == 0  # fmt: skip


class _Interrupt(Exception):
    pass


def test_a_run_interrupted_between_measurements_continues_to_the_same_numbers(tmp_path):
    entry = get_experiment("zhou-two-points")
    options = Options(out=tmp_path / "a", seeds=1, quick=True, progress=False)
    task = next(t for t in two_points.tasks(options) if t.cell == "gp")
    assert len(task.measured_at) == 10
    calls = []

    def failing(trainer, task_, iteration):
        if len(calls) == 3:
            trainer.save_checkpoint()  # as SIGTERM would: a checkpoint between two measurements
            raise _Interrupt
        calls.append(iteration)
        return two_points.measure(trainer, task_, iteration)

    interrupted = Workspace(entry, two_points, options)
    with pytest.raises(_Interrupt):
        interrupted.outcome(task, failing)
    assert interrupted.partial_file(task).is_file() and not interrupted.seed_file(task).is_file()
    resumed = interrupted.outcome(task, two_points.measure)
    assert not interrupted.partial_file(task).is_file() and interrupted.seed_file(task).is_file()
    fresh = Workspace(entry, two_points, Options(out=tmp_path / "b", seeds=1, quick=True, progress=False))
    straight = fresh.outcome(task, two_points.measure)
    assert sorted(resumed.at) == task.measured_at
    assert json.dumps(resumed.at, sort_keys=True) == json.dumps(straight.at, sort_keys=True)
