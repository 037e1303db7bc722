"""The ganstab command line as a user runs it: exit codes, JSON shape, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from stability.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "stability.cli", *args], capture_output=True, text=True, timeout=300)


def test_lemmas_all_agree_and_exit_zero():
    result = run("lemmas", "--no-report", "--rho", "0.7", "--anchor", "-1.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks agree" in result.stdout
    assert result.stdout.count(" yes") >= 20


def test_lemmas_exit_one_when_a_closed_form_disagrees(monkeypatch, capsys):
    import stability.analysis.lemmas as lemmas

    original = lemmas.lemma2_second_moment
    monkeypatch.setattr(lemmas, "lemma2_second_moment", lambda m, a: original(m, a) + (1 if m == "mu_mid" else 0))
    assert main(["lemmas", "--no-report"]) == 1
    assert "SOME CHECKS DISAGREE" in capsys.readouterr().out


def test_analyze_json_matches_the_documented_shape_and_lemma2():
    result = run("analyze", "examples/specs/psi_x2_toy.toml", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"vector_field", "equilibria"}
    by_point = {(e["point"]["psi"], e["point"]["theta"]): e for e in out["equilibria"]}
    e = by_point[(0.0, 1.0)]
    assert set(e) >= {"point", "jacobian", "eigenvalues", "classification", "hyperbolic", "max_stable_step"}
    # Lemma 2 with μ_GP, ρ = 1: E[x²] = 2/9, λ = −4/9 ± √(16/81 − 4/9)
    closed = -4 / 9 + np.sqrt(complex(16 / 81 - 4 / 9)) * np.array([-1, 1])
    engine = np.sort_complex(np.array([complex(*v) for v in e["eigenvalues"]]))
    assert np.allclose(engine, np.sort_complex(closed), atol=1e-9)
    assert e["classification"] == "stable focus" and e["hyperbolic"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["analyze", "missing.toml"], "does not exist"),
        (["analyze", "examples/specs/dirac_mu_gp.toml", "--at", "psi=0"], "missing theta"),
        (["analyze", "examples/specs/dirac_mu_gp.toml", "--at", "psi=zero,theta=0"], "not a number"),
        (["analyze", "examples/specs/lemma3_rho_symbolic.toml"], "needs values for rho"),
        (["analyze", "examples/specs/dirac_mu_gp.toml", "--box", "1,0,0,1"], "min must be below"),
    ],
)
def test_user_mistakes_exit_two_with_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_argparse_rejects_non_positive_rho():
    result = run("lemmas", "--rho", "-1", "--no-report")
    assert result.returncode == 2 and "must be > 0" in result.stderr and "Traceback" not in result.stderr


def test_a_commands_warning_is_one_line_on_stderr(tmp_path):
    """A warning a command gives (eval_every beyond iterations) reads like the errors: one `ganstab CMD:` line."""
    import subprocess
    import sys

    argv = ["train", "--preset", "toy-8gaussians-mu_gp", "--set", "iterations=5", "--set", "eval_every=10"]
    code = "import sys; from stability.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", code, *argv, "--dry-run", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == ["ganstab train: warning: eval_every=10 exceeds iterations=5: IS/FID only at the end"], lines


def test_a_value_may_start_like_a_negative_number(capsys):
    # Python 3.11's argparse read "-4,2,-3,3" as an unknown option ("expected one argument"); a lone -4 it took
    from stability.cli import build_parser

    args = build_parser().parse_args(["portrait", "--toy", "dirac", "--box", "-4,2,-3,3", "--out", "x.png"])
    assert args.box == "-4,2,-3,3"
    assert main(["tune", "--resolution", "-1,5"]) == 2
    assert "--resolution NX must be at least 2, got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # options are still options
        build_parser().parse_args(["portrait", "--toy", "dirac", "--box", "-4,2", "--out", "x.png", "--nonsense"])
    assert stop.value.code == 2 and "unrecognized arguments: --nonsense" in capsys.readouterr().err
