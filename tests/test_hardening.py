"""Issue 12, class by class: numbers, scale-aware verdicts, degenerate systems, time limits, output, training runs.

Each expectation is derived independently of the code under test (closed-form eigenvalues of 2×2 Jacobians,
Python's own float parsing, sums computed term by term), and the property tests feed random numbers and random
expression trees to the parser and the analysis under a time limit.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stability.analysis.analyze import analyze
from stability.analysis.linear import linearise
from stability.cli import main
from stability.spec.expressions import exact_number, parse
from stability.spec.specfile import load_spec, system_from_dict
from stability.symbolic.field import SymbolicField
from stability.util import timelimit
from stability.util.errors import TooLarge, UserError, checked_float, checked_int, within_limit

# no example database in the checkout: a failure prints its example, which is what a report needs
settings.register_profile("ganstab", database=None)
settings.load_profile("ganstab")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
X, PSI, THETA = (sympy.Symbol(n, real=True) for n in ("x", "psi", "theta"))


def dirac_spec(rho: str, form: str = "simple") -> dict:
    return {
        "system": {
            "x": ["x"],
            "psi": ["psi"],
            "theta": ["theta"],
            "discriminator": "psi*x",
            "rho": rho,
            "data": "dirac(0)",
            "generator": "dirac(theta)",
            "penalty": {"measure": "mu_gp", "form": form},
        }
    }


# ---- numbers --------------------------------------------------------------------------------------------------


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_checked_float_accepts_exactly_the_finite_floats(value):
    text = repr(value)
    if math.isfinite(value):
        assert checked_float(text, "v") == float(text)
    else:
        with pytest.raises(UserError):
            checked_float(text, "v")


@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=0, max_value=10**20))
def test_checked_int_bounds_and_scientific_text(value, high):
    if -high <= value <= high:
        assert checked_int(str(value), "n", -high, high) == value
    else:
        with pytest.raises(UserError):
            checked_int(str(value), "n", -high, high)
    if 0 <= value <= 10**15 and value % 1000 == 0 and value:
        assert checked_int(f"{value:.0e}".replace("+", ""), "n", 0, 10**16) == float(f"{value:.0e}")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_exact_numbers_convert_back_to_the_same_double(value):
    assert float(exact_number(value)) == value  # nsimplify alone turns 1e-300 into 0


def test_exact_numbers_keep_simple_rationals():
    assert exact_number(0.375) == sympy.Rational(3, 8) and exact_number(1e-300) == sympy.Rational(1, 10**300)


def test_param_is_validated_like_the_spec(tmp_path, capsys):
    numeric = tmp_path / "numeric.toml"
    numeric.write_text(_toml(dirac_spec("-1")))
    assert main(["analyze", str(numeric)]) == 2
    spec_error = capsys.readouterr().err
    assert main(["analyze", "examples/specs/lemma3_rho_symbolic.toml", "--param", "rho=-1"]) == 2
    param_error = capsys.readouterr().err
    assert "rho must be > 0, got -1" in spec_error and "rho must be > 0, got -1" in param_error


def test_numbers_that_overflow_in_the_flow_are_one_line(tmp_path, capsys):
    spec = dirac_spec("1")
    spec["system"]["discriminator"] = "1e300*psi*x + 1e300*psi**2*x"  # the Jacobian has 2e300·1e300 in it
    spec["system"]["penalty"]["form"] = "simple"
    path = tmp_path / "big.toml"
    path.write_text(_toml(spec))
    assert main(["analyze", str(path), "--at", "psi=1e10,theta=1"]) == 2
    assert "overflows float64" in capsys.readouterr().err


# ---- scale-aware classification ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [1e-10, 1e-300, 0.5])
def test_tiny_rho_is_a_stable_focus_with_its_true_margin(rho):
    # Lemma 1: J(0, 0) = [[-ρ, -1], [1, 0]], λ = -ρ/2 ± i·sqrt(1 - ρ²/4), |λ|² = det J = 1, so h_max = ρ.
    system = system_from_dict(dirac_spec(repr(rho)))
    point = analyze(SymbolicField(system)).points[0].linear
    assert point.classification == "stable focus" and point.hyperbolic
    assert np.allclose(point.eigenvalues.real, -rho / 2, rtol=1e-12, atol=0)
    assert np.allclose(np.abs(point.eigenvalues.imag), math.sqrt(1 - rho**2 / 4), rtol=1e-12)
    assert point.max_stable_step == pytest.approx(rho, rel=1e-12)
    assert (rho < 1e-6) == any("tiny" in n for n in point.notes)


@pytest.mark.parametrize("rho", [1e10, 1e300])
def test_huge_rho_is_a_stable_node_with_a_tiny_step(rho):
    # λ² + ρλ + 1 = 0: λ₁ = -(ρ + sqrt(ρ² - 4))/2 ≈ -ρ and λ₂ = 1/λ₁; h_max = 2/|λ₁| (real λ: -2Re λ/|λ|² = 2/|λ|).
    big = (rho + math.sqrt(rho**2 - 4)) / 2 if rho < 1e150 else rho
    point = linearise({"psi": 0.0, "theta": 0.0}, np.array([[-rho, -1.0], [1.0, 0.0]]), 1)
    assert point.classification == "stable node"
    assert np.allclose(np.sort(point.eigenvalues.real), [-big, -1 / big], rtol=1e-12)
    assert point.max_stable_step == pytest.approx(2 / big, rel=1e-12)


def test_exact_centers_and_jordan_blocks_stay_on_the_boundary():
    assert linearise({}, np.array([[0.0, -1.0], [1.0, 0.0]]), 1).classification == "center"
    jordan = linearise({}, np.array([[0.0, 1.0], [0.0, 0.0]]), 1)
    assert jordan.classification == "non-hyperbolic" and jordan.max_stable_step is None


def test_a_margin_below_round_off_is_called_the_boundary():
    # trace = 1 + (-1 + 2^-51) = 2^-51 exactly in binary, but each diagonal entry carries ~16 ulp of its own
    # round-off, so Re λ = 2^-52 cannot be told from 0: a center, said to be within round-off
    J = np.array([[1.0, 1.0], [-2.0, -1.0 + 2.0**-51]])
    point = linearise({}, J, 1)
    assert point.classification == "center"
    assert any("within round-off" in n for n in point.notes)


# ---- degenerate systems ------------------------------------------------------------------------------------------


def _blind(link: str = "identity", discriminator: str = "psi") -> dict:
    spec = dirac_spec("1")
    spec["system"].update({"discriminator": discriminator, "link": link})
    del spec["system"]["penalty"]
    return spec


def test_a_field_that_vanishes_identically_is_every_point_an_equilibrium():
    report = analyze(SymbolicField(system_from_dict(_blind())))
    assert [p.equilibrium.free for p in report.points] == [["psi", "theta"]]
    assert report.points[0].equilibrium.kind == "continuum"
    assert any("vanishes identically" in n for n in report.notes)


def test_a_constant_flow_has_no_equilibrium_and_says_why():
    spec = dirac_spec("1")
    spec["system"]["discriminator"] = "x"  # ∇ₓD = 1: the penalty (ρ/2)·M·1 with M = psi pushes ψ at -1/2
    spec["system"]["penalty"]["mass"] = "psi"
    field = SymbolicField(system_from_dict(spec))
    assert [float(e) for e in field.exprs] == [-0.5, 1.0]  # θ̇ = -∂θ E[f(-D)] = -∂θ(-θ) = 1
    report = analyze(field)
    assert report.points == [] and not any("numeric" in n for n in report.notes)


def test_a_critic_blind_to_the_data_is_named():
    report = analyze(SymbolicField(system_from_dict(_blind(link="t + t**2"))))
    assert any(n.startswith("degenerate: D = psi does not depend on x") for n in report.notes)


@pytest.mark.parametrize("backend", ["symbolic", "torch"])
def test_the_2d_gp_kink_gets_the_non_smooth_report(tmp_path, capsys, backend):
    spec = {
        "system": {
            "x": ["x1", "x2"],
            "psi": ["a", "b"],
            "theta": ["t1", "t2"],
            "discriminator": "a*x1 + b*x2",
            "data": "dirac([0, 0])",
            "generator": "dirac([t1, t2])",
            "penalty": {"measure": "mu_gp", "form": "gp"},
        }
    }
    path = tmp_path / "gp2d.toml"
    path.write_text(_toml(spec))
    assert main(["analyze", str(path), "--backend", backend, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    origin = [e for e in out["equilibria"] if all(abs(v) < 1e-9 for v in e["point"].values())]
    assert len(origin) == 1, out["equilibria"]
    # with the subgradient 0 at ∇ₓD = 0 (sign(0) = 0 in 1-D) the penalty drops out: ψ̇ = -θ, θ̇ = ψ
    expected = [[0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert np.allclose(origin[0]["jacobian"], expected)
    assert any("non-smooth" in n for n in origin[0]["notes"])


def test_at_a_point_that_is_not_an_equilibrium_the_text_says_so(capsys):
    assert main(["analyze", "examples/specs/dirac_mu_gp.toml", "--at", "psi=1,theta=1"]) == 0
    out = capsys.readouterr().out
    # ψ̇ = -ρψ - θ = -2, θ̇ = ψ = 1 at (1, 1)
    assert "not an equilibrium: the flow here is dpsi/dt = -2, dtheta/dt = 1" in out


def test_a_byte_order_mark_is_not_an_error(tmp_path):
    plain, marked = tmp_path / "plain.toml", tmp_path / "bom.toml"
    plain.write_text(_toml(dirac_spec("1")), encoding="utf-8")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert load_spec(marked).describe().split(":", 1)[1] == load_spec(plain).describe().split(":", 1)[1]


# ---- time and size limits ----------------------------------------------------------------------------------------


def test_nested_limits_keep_the_outer_one():
    # leaving an inner limit used to cancel the outer alarm, so the loop below ran unlimited
    start = time.monotonic()
    with pytest.raises(timelimit.TimeLimitExceeded):
        with timelimit.time_limit(0.3):
            with timelimit.time_limit(10):
                pass
            while time.monotonic() - start < 5:
                pass
    assert time.monotonic() - start < 2


def test_a_20000_term_sum_parses_to_its_closed_form():
    text = "+".join(f"{i}*x**{i % 7}" for i in range(20_000))
    coefficients = [sum(i for i in range(20_000) if i % 7 == k) for k in range(7)]
    assert sympy.expand(parse(text, {"x": X}) - sum(c * X**k for k, c in enumerate(coefficients))) == 0


def test_a_power_tower_is_refused_at_once():
    start = time.monotonic()
    with pytest.raises(UserError, match=r"9\*\*387420489"):
        parse("x**(9**9**9)", {"x": X})
    assert time.monotonic() - start < 1


def test_slow_symbolic_work_names_its_step(monkeypatch):
    monkeypatch.setattr(timelimit, "DEFAULT_SECONDS", 0.5)
    spec = dirac_spec("1", form="gp")
    spec["system"].update(
        {
            "psi": ["p1", "p2", "p3"],
            "discriminator": "tanh(p1*x) + sin(p2*x**2) + exp(p3*x)*cos(x)",
            "link": "logistic",
            "data": "normal(0, 1)",
            "generator": {"latent": "normal(0, 1)", "map": "theta + z"},
        }
    )
    start = time.monotonic()
    with pytest.raises(TooLarge, match=r"deriving the .* took longer than 0.5 s"):
        SymbolicField(system_from_dict(spec))
    assert time.monotonic() - start < 15  # a few steps, each stopped at its limit


def test_within_limit_turns_recursion_into_one_message():
    with pytest.raises(TooLarge, match="nested too deeply"):
        with within_limit("the test step", "do less"):
            raise RecursionError


# ---- output ------------------------------------------------------------------------------------------------------


def test_a_closed_pipe_exits_quietly():
    read, write = os.pipe()
    os.close(read)  # `ganstab presets | head -0`: nobody reads
    done = subprocess.run(
        [sys.executable, "-m", "stability.cli", "presets"], stdout=write, stderr=subprocess.PIPE, env=ENV, timeout=120
    )
    os.close(write)
    assert done.returncode == 141 and done.stderr == b""


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_write_failures_are_one_line_exit_4_and_leave_nothing(tmp_path, monkeypatch, capsys, code):
    import stability.util.atomic as atomic

    def fail(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "replace", fail)
    out = tmp_path / "fig.png"
    assert main(["portrait", "--toy", "dirac", "--no-progress", "--out", str(out)]) == 4
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and os.strerror(code) in lines[0]
    assert list(tmp_path.iterdir()) == []  # no figure, no temporary file


def test_a_failing_npy_write_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    run = _train(tmp_path / "run", iterations=1)
    monkeypatch.setattr(np, "save", lambda handle, array: (handle.write(b"\x93NUMPY partial"), _raise_full()))
    assert main(["sample", str(run), "--out", str(tmp_path / "s.npy")]) == 4
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob(".*.tmp"))
    assert "No space left" in capsys.readouterr().err


def _raise_full():
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_proc_is_refused_in_one_line(capsys):
    assert main(["portrait", "--toy", "dirac", "--no-progress", "--out", "/proc/ganstab-test.png"]) == 4
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_lemmas_exit_one_is_only_for_a_disagreement(tmp_path, capsys):
    blocker = tmp_path / "report"
    blocker.write_text("a file where the report folder goes")
    assert main(["lemmas", "--out", str(blocker)]) == 4  # not 1: the checks were never the problem


@pytest.mark.parametrize("rho", ["1e-10", "1e-300", "1e300"])
def test_lemmas_hold_across_the_float64_range_of_rho(rho):
    # 1e-10: sympy's sqrt of the Lemma-2 discriminant fails in its own factorisation; 1e-300: nsimplify made ρ 0;
    # 1e300: sympy.N's 100 digits gave the small root of λ² + ρλ + 1 as 3e175. Every check must agree, silently.
    done = subprocess.run(
        [sys.executable, "-m", "stability.cli", "lemmas", "--rho", rho, "--json", "--no-report"],
        capture_output=True, text=True, env=ENV, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    rows = json.loads(done.stdout)["rows"]
    assert rows and all(r["agree"] for r in rows)
    value = float(rho)
    dirac = next(r for r in rows if r["lemma"] == "Lemma 1" and r["measure"] == "p_d")
    # Lemma 1 at (0, 0): λ² + ρλ + 1 = 0; the roots' product is 1, so the small one is 1/(the large one).
    small, large = sorted((complex(*e) for e in dirac["eigenvalues"]), key=abs)
    if value > 2:
        assert large.real == pytest.approx(-value, rel=1e-12) and small.real == pytest.approx(-1 / value, rel=1e-12)
    else:
        assert small.real == pytest.approx(-value / 2, rel=1e-12) and abs(small) == pytest.approx(1, rel=1e-12)


def test_exact_values_are_evaluated_to_float64_precision():
    from stability.spec.expressions import exact_to_complex

    rho = sympy.Integer(10) ** 300
    small_root = -rho / 2 + sympy.sqrt(rho**2 / 4 - 1)  # = -1/ρ to 600 digits of cancellation
    assert sympy.N(small_root) != 0 and abs(float(sympy.re(sympy.N(small_root)))) > 1  # what sympy.N alone gives
    assert exact_to_complex(small_root) == pytest.approx(-1e-300, rel=1e-14)


def test_a_stiff_flow_ends_its_path_without_warnings():
    import warnings

    from stability.analysis.trajectories import flow_trajectory

    field_ = SymbolicField(system_from_dict(dirac_spec("1e300")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = flow_trajectory(field_, {"psi": 0.5, "theta": 0.5}, t_max=5.0)
    assert path.states.shape[1] == 2 and np.isfinite(path.states[0]).all()


def test_progress_bars_draw_nothing_into_a_log_file(tmp_path):
    # stderr is a pipe here, as in `2> log`: no carriage-return frames of a bar in it
    done = subprocess.run(
        [sys.executable, "-m", "stability.cli", "portrait", "--toy", "dirac", "--measure", "p_d", "--rho", "1",
         "--out", str(tmp_path / "p.png")],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\r" not in done.stderr and "it/s" not in done.stderr


# ---- training runs -----------------------------------------------------------------------------------------------

TINY = ["--set", "width=8", "--set", "depth=1", "--set", "batch_size=16", "--set", "n_critic=1", "--set", "threads=1"]


def _train(run: Path, iterations: int, *extra: str) -> Path:
    args = ["train", "--preset", "toy-8gaussians-mu_gp", *TINY, "--set", f"iterations={iterations}"]
    args += ["--set", "progress=false", "--set", "w1_every=0", "--set", "plot_every=0", *extra, "--out", str(run)]
    assert main(args) == 0
    return run


def _records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "it_per_s"} for line in lines]


def _scalar_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


def test_a_run_killed_before_its_first_checkpoint_resumes_as_if_uninterrupted(tmp_path):
    run = tmp_path / "killed"
    common = ["--set", "log_every=1", "--set", "checkpoint_every=1000000", "--set", "tensorboard=true"]
    cmd = [sys.executable, "-m", "stability.cli", "train", "--preset", "toy-8gaussians-mu_gp", *TINY, *common]
    cmd += ["--set", "iterations=1000000", "--set", "w1_every=0", "--set", "plot_every=0", "--set", "progress=false"]
    proc = subprocess.Popen([*cmd, "--out", str(run)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        board = run / "tensorboard"
        while time.time() < deadline:
            logged = (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 12
            flushed = board.is_dir() and sum(p.stat().st_size for p in board.glob("events*")) > 2000
            if logged and flushed:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (run / "checkpoints").exists() or not list((run / "checkpoints").glob("ckpt_*"))
    assert len(_scalar_steps(run, "loss_d")) >= 1  # the killed run left events behind: the check below can fail
    resumed = main(["train", "--out", str(run), "--resume", "--set", "iterations=6", "--set", "progress=false"])
    assert resumed == 0
    reference = _train(tmp_path / "reference", 6, *common)
    assert _records(run) == _records(reference)
    assert _scalar_steps(run, "loss_d") == [1, 2, 3, 4, 5, 6]


def test_a_second_process_cannot_resume_a_run_in_use(tmp_path):
    from gan_train.checkpoint import RunLock

    run = _train(tmp_path / "run", iterations=1)
    lock = RunLock.acquire(run)  # this process is "training" it
    try:
        cmd = [sys.executable, "-m", "stability.cli", "train", "--out", str(run), "--resume", "--set", "iterations=2"]
        done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    finally:
        lock.release()
    assert done.returncode == 2 and f"in use by process {os.getpid()}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_resuming_with_fewer_iterations_keeps_config_json_true(tmp_path, capsys):
    run = _train(tmp_path / "run", iterations=3)
    before = (run / "config.json").read_text()
    assert main(["train", "--out", str(run), "--resume", "--set", "iterations=2"]) == 2
    assert "already at iteration 3" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before


def test_a_hand_edited_config_names_the_keys_that_disagree(tmp_path, capsys):
    run = _train(tmp_path / "run", iterations=1)
    values = json.loads((run / "config.json").read_text())
    values.update(width=16, n_critic=3)
    (run / "config.json").write_text(json.dumps(values))
    assert main(["train", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "width (config.json: 16, checkpoint: 8)" in err and "n_critic (config.json: 3, checkpoint: 1)" in err


@pytest.mark.parametrize(
    "preset, assignment",
    [
        ("toy-8gaussians-mu_gp", "anchor=2,-1"),
        ("toy-8gaussians-wgan", "beta2=0.99"),
        ("toy-8gaussians-mu_gp", "maxal_lambda0=1"),
    ],
)
def test_a_key_the_method_does_not_use_is_an_error(preset, assignment, capsys):
    assert main(["train", "--preset", preset, "--set", assignment, "--dry-run"]) == 2
    assert "this run does not use" in capsys.readouterr().err


def test_a_key_the_method_uses_is_still_accepted(capsys):
    assert main(["train", "--preset", "toy-8gaussians-mu_anchor", "--set", "anchor=1,1", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out.split("parameters:")[0])["anchor"] == [1.0, 1.0]


# ---- property: random numbers and expression trees through the parser and the analysis -------------------------

NAMES = st.sampled_from(["psi", "x"] * 6 + ["psi*x"] * 4 + ["theta", "omega", "nan", "inf", "pi"])
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=0, max_value=10**40).map(str),
    st.sampled_from(["1e400", "1e-400", "0", "0.5", "10**400", "9**9**9"]),
)
LEAVES = st.one_of(NAMES, NUMBERS)
OPERATORS = st.sampled_from(["+", "-", "*", "/", "**"])
FUNCTIONS = st.sampled_from(["exp", "log", "sqrt", "sin", "tanh", "abs", "sigmoid", "softplus", "erf", "__import__"])
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.tuples(inner, OPERATORS, inner).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
        st.tuples(FUNCTIONS, inner).map(lambda t: f"{t[0]}({t[1]})"),
        inner.map(lambda t: f"-({t})"),
    ),
    max_leaves=8,
)


#: Mostly valid weights across float64's whole range (1e-300 and 1e300 included), sometimes anything.
RHOS = st.one_of(st.floats(min_value=1e-300, max_value=1e300).map(repr), st.floats(0.01, 100).map(repr), NUMBERS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(discriminator=TREES, rho=RHOS)
@example(discriminator="abs((x)/(psi))", rho="1.0")  # found in CI: sympy's unevaluated d sign(θ/ψ)/dψ, a traceback
def test_random_specs_give_a_report_or_one_spec_error(discriminator, rho):
    spec = dirac_spec(rho)
    spec["system"]["discriminator"] = discriminator
    previous = timelimit.DEFAULT_SECONDS
    timelimit.DEFAULT_SECONDS = 2.0  # each symbolic step; the whole example stays within seconds
    try:
        system = system_from_dict(spec)
        report = analyze(SymbolicField(system), box=[(-1.0, 1.0), (-1.0, 1.0)])
    except UserError as exc:  # TooLarge included: a message, never another exception, a crash or a hang
        assert str(exc).strip()
        return
    finally:
        timelimit.DEFAULT_SECONDS = previous
    for point in report.points:
        assert np.all(np.isfinite(point.linear.jacobian))
        assert point.linear.classification in (
            "stable node",
            "stable focus",
            "unstable node",
            "unstable focus",
            "saddle",
            "center",
            "non-hyperbolic",
        )


def _toml(document: dict) -> str:
    """A tiny TOML writer for the spec dicts above (strings, lists of strings, one nested table)."""

    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    system = document["system"]
    lines = ["[system]"] + [f"{k} = {value(v)}" for k, v in system.items() if k != "penalty"]
    if "penalty" in system:
        lines += ["[system.penalty]"] + [f"{k} = {value(v)}" for k, v in system["penalty"].items()]
    return "\n".join(lines) + "\n"


def test_the_derivative_of_a_kink_sympy_leaves_unevaluated_is_dropped_off_the_kink():
    # D = |x/ψ|: ∇ₓD = sign(x/ψ)/ψ, and ∂/∂ψ of the penalty holds d sign(θ/ψ)/dψ, which sympy leaves unevaluated
    # (θ/ψ is not known to be real) and numpy cannot print; it is 2δ(θ/ψ)·∂(θ/ψ)/∂ψ, 0 off the kink. The flow must
    # equal central differences of the objective and the penalty there, and hold no Derivative
    spec = dirac_spec("1.0")
    spec["system"]["discriminator"] = "abs((x)/(psi))"
    field_ = SymbolicField(system_from_dict(spec))
    assert not any(sympy.sympify(e).has(sympy.Derivative) for e in field_.exprs)
    assert not field_.jacobian_expr.has(sympy.Derivative)
    psi, theta = field_.params
    value = sympy.lambdify((psi, theta), field_.objective - field_.penalty_value / 2)  # ρ/2 = 1/2
    generator = sympy.lambdify((psi, theta), field_.objective)
    flow = sympy.lambdify((psi, theta), list(field_.exprs))
    h = 1e-6
    for p, t in ((0.7, 0.3), (-1.3, 0.4), (0.5, -2.0)):
        psi_dot = (value(p + h, t) - value(p - h, t)) / (2 * h)  # the critic ascends its objective
        theta_dot = -(generator(p, t + h) - generator(p, t - h)) / (2 * h)  # the generator descends
        assert flow(p, t) == pytest.approx([psi_dot, theta_dot], rel=1e-6)
