"""Bad and unusual input to every command: one line on stderr, the right exit status, no traceback, no file written.

Each case runs ``ganstab`` in-process in an empty working directory; the fixtures (spec files, a trained run) live
outside it and are compared before and after, so a command that wrote anything anywhere is caught. Exit status 2
is bad input, 4 an output that cannot be written (``stability.cli``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stability.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIRAC = ROOT / "examples" / "specs" / "dirac_mu_gp.toml"
SYMBOLIC = ROOT / "examples" / "specs" / "lemma3_rho_symbolic.toml"
TINY = ["--set", "width=8", "--set", "depth=1", "--set", "batch_size=16", "--set", "n_critic=1", "--set", "threads=1"]
QUIET = ["--set", "progress=false", "--set", "tensorboard=false", "--set", "w1_every=0", "--set", "plot_every=0"]

SPEC = """[system]
x = ["x"]
psi = ["psi"]
theta = ["theta"]
discriminator = {D}
rho = {RHO}
data = {DATA}
generator = {GEN}
[system.penalty]
measure = {MEASURE}
form = {FORM}
"""
GOOD = {
    "D": '"psi*x"',
    "RHO": "1.0",
    "DATA": '"dirac(0)"',
    "GEN": '"dirac(theta)"',
    "MEASURE": '"mu_gp"',
    "FORM": '"simple"',
}


def spec(**changes: str) -> str:
    return SPEC.format(**{**GOOD, **changes})


#: Spec files that must be refused: name -> file text.
BAD_SPECS = {
    "rho-nan": spec(RHO="nan"),
    "rho-inf": spec(RHO="inf"),
    "rho-minus-inf": spec(RHO="-inf"),
    "rho-overflow-literal": spec(RHO="1e400"),
    "rho-overflow-text": spec(RHO='"1e308*10"'),
    "rho-power-overflow": spec(RHO='"10**400"'),
    "rho-underflow": spec(RHO='"1e-400"'),
    "rho-negative": spec(RHO="-1"),
    "rho-zero": spec(RHO="0"),
    "rho-bool": spec(RHO="true"),
    "rho-expression-of-names": spec(RHO='"rho*2"'),
    "rho-text": spec(RHO='"abc def"'),
    "rho-list": spec(RHO="[1, 2]"),
    "D-undeclared": spec(D='"psi*y"'),
    "D-syntax": spec(D='"psi*(x"'),
    "D-import": spec(D="\"__import__('os').system('true')\""),
    "D-dunder-class": spec(D='"().__class__"'),
    "D-exec": spec(D="\"exec('1')\""),
    "D-open": spec(D="\"open('f')\""),
    "D-lambda": spec(D='"(lambda: 1)()"'),
    "D-comprehension": spec(D='"[x for x in psi]"'),
    "D-conditional": spec(D='"x if psi else 0"'),
    "D-attribute": spec(D='"psi.real"'),
    "D-string": spec(D="\"'text'\""),
    "D-fstring": spec(D="\"f'{x}'\""),
    "D-power-tower": spec(D='"psi*x**(9**9**9)"'),
    "D-huge-power": spec(D='"psi*x + 10**(10**10)"'),
    "D-huge-exponent": spec(D='"psi*x**100000"'),
    "D-literal-overflow": spec(D='"1e400*psi*x"'),
    "D-nul": spec(D='"psi*x\\u0000"'),
    "D-deep-parentheses": spec(D='"' + "(" * 3000 + "psi*x" + ")" * 3000 + '"'),
    "D-deep-negation": spec(D='"' + "-" * 5000 + 'psi*x"'),
    "D-too-many-terms": spec(D='"' + "+".join(["psi*x"] * 60_000) + '"'),
    "D-unknown-function": spec(D='"erf(psi*x)"'),
    "D-number": spec(D="true"),
    "D-table": spec(D="{ a = 1 }"),
    "data-unknown-law": spec(DATA='"cauchy(0, 1)"'),
    "data-bad-args": spec(DATA='"uniform(1)"'),
    "data-nan": spec(DATA='"dirac(nan)"'),
    "data-inf-literal": spec(DATA='"normal(0, 1e400)"'),
    "data-not-a-law": spec(DATA='"x"'),
    "data-dimension": spec(DATA='"dirac([0, 0])"'),
    "gen-missing-map": spec(GEN='{ latent = "uniform(-1, 1)" }'),
    "gen-latent-dimension": spec(GEN='{ latent = "uniform(-1, 1)", map = "theta*z", z = ["z1", "z2"] }'),
    "gen-clash": spec(GEN='{ latent = "uniform(-1, 1)", map = "theta", z = ["theta"] }'),
    "gen-undeclared": spec(GEN='"dirac(omega)"'),
    "gen-number": spec(GEN="3"),
    "measure-unknown": spec(MEASURE='"mu_xyz"'),
    "measure-number": spec(MEASURE="1"),
    "form-unknown": spec(FORM='"huber"'),
    "unknown-key": spec() + 'extra = "1"\n',
    "unknown-top-level": "[other]\na = 1\n" + spec(),
    "missing-required": '[system]\nx = ["x"]\n',
    "no-system-table": 'x = ["x"]\n',
    "empty-file": "",
    "invalid-toml": "[system\nx = ",
    "duplicate-names": spec().replace('theta = ["theta"]', 'theta = ["psi"]'),
    "bad-identifier": spec().replace('x = ["x"]', 'x = ["1x"]'),
    "empty-psi": spec().replace('psi = ["psi"]', "psi = []"),
    "name-is-a-function": spec().replace('x = ["x"]', 'x = ["exp"]').replace("psi*x", "psi*exp"),
    "penalty-not-a-table": spec().split("[system.penalty]")[0] + 'penalty = "mu_gp"\n',
    "mass-undeclared": spec() + 'mass = "exp(-omega)"\n',
    "link-unknown": spec().replace('data = "dirac(0)"', 'link = "arctan(t)"\ndata = "dirac(0)"'),
    "link-number": spec().replace('data = "dirac(0)"', 'link = 3\ndata = "dirac(0)"'),
}

# (id, argv with placeholders, expected exit status). Placeholders: {dirac}, {symbolic}, {file} (a plain file),
# {spec_dir} (a folder), {run} (a trained run), {bad_run:NAME} (a run with a broken config.json), {spec:NAME}.
CASES: list[tuple[str, list[str], int]] = []


def case(name: str, argv: list[str], status: int = 2) -> None:
    CASES.append((name, argv, status))


for name in BAD_SPECS:
    case(f"analyze-spec-{name}", ["analyze", f"{{spec:{name}}}"])
case("analyze-spec-missing", ["analyze", "missing.toml"])
case("analyze-spec-is-a-folder", ["analyze", "{spec_dir}"])
case("analyze-spec-not-utf8", ["analyze", "{spec:latin1}"])
case("analyze-no-spec", ["analyze"])
for value in ("nan", "inf", "-inf", "1e309", "abc", "", "0x1p2000"):
    case(f"analyze-at-{value or 'empty'}", ["analyze", "{dirac}", "--at", f"psi={value},theta=0"])
case("analyze-at-missing-coordinate", ["analyze", "{dirac}", "--at", "psi=0"])
case("analyze-at-extra-coordinate", ["analyze", "{dirac}", "--at", "psi=0,theta=0,omega=1"])
case("analyze-at-repeated", ["analyze", "{dirac}", "--at", "psi=0,psi=1,theta=0"])
case("analyze-at-no-equals", ["analyze", "{dirac}", "--at", "psi0,theta=0"])
case("analyze-at-no-name", ["analyze", "{dirac}", "--at", "=0,theta=0"])
for value in ("nan", "inf", "1e400", "-1", "0", "-0.0", "1e-400", "abc", ""):
    case(f"analyze-param-rho-{value or 'empty'}", ["analyze", "{symbolic}", "--param", f"rho={value}"])
case("analyze-param-repeated", ["analyze", "{symbolic}", "--param", "rho=1,rho=2"])
case("analyze-param-not-a-constant", ["analyze", "{symbolic}", "--param", "rho=1,psi=2"])
case("analyze-param-on-numeric-spec", ["analyze", "{dirac}", "--param", "rho=1"])
case("analyze-param-missing", ["analyze", "{symbolic}"])
for value in ("nan,1,0,1", "inf,1,0,1", "-1e309,1,0,1", "0,1,0", "1,0,0,1", "-1e308,1e308,0,1", "a,b,c,d", "0,1,0,1,2"):
    case(f"analyze-box-{value}", ["analyze", "{dirac}", f"--box={value}"])
case("analyze-backend-unknown", ["analyze", "{dirac}", "--backend", "jax"])
case("analyze-unknown-option", ["analyze", "{dirac}", "--colour"])
case("unknown-command", ["frobnicate"])

for value in ("nan", "inf", "-1", "0", "abc", "1e309", "", "1e-400"):
    case(f"lemmas-rho-{value or 'empty'}", ["lemmas", "--rho", value, "--no-report"])
for value in ("nan", "-inf", "abc", "1e309"):
    case(f"lemmas-anchor-{value}", ["lemmas", "--anchor", value, "--no-report"])
case("lemmas-out-is-a-file", ["lemmas", "--out", "{file}"], 4)
case("lemmas-out-under-a-file", ["lemmas", "--out", "{file}/report"], 4)

PORTRAIT = ["portrait", "--toy", "dirac", "--no-progress", "--out", "fig.png"]
for flag, values in {
    "--rho": ("nan", "-1", "0", "inf"),
    "--lr": ("nan", "0", "-1", "1e309"),
    "--steps": ("0", "-5", "1e12", "abc", "2.5"),
    "--dpi": ("0", "1e9", "abc", "nan", "-150"),
    "--t-max": ("0", "nan", "1e12"),
    "--anchor": ("nan", "inf"),
}.items():
    for value in values:
        case(f"portrait{flag}-{value}", [*PORTRAIT, flag, value])
for value in ("nan,1,0,1", "0,1,0", "1,0,0,1", "-1e308,1e308,0,1"):
    case(f"portrait-box-{value}", [*PORTRAIT, f"--box={value}"])
for value in ("a,b", "1", "nan,1", "1,2,3"):
    case(f"portrait-starts-{value}", [*PORTRAIT, "--starts", value])
case("portrait-out-txt", ["portrait", "--toy", "dirac", "--out", "fig.txt"])
case("portrait-out-no-suffix", ["portrait", "--toy", "dirac", "--out", "fig"])
case("portrait-out-is-a-folder", ["portrait", "--toy", "dirac", "--out", "{spec_dir}"], 4)
case("portrait-out-under-a-file", ["portrait", "--toy", "dirac", "--no-progress", "--out", "{file}/fig.png"], 4)
case("portrait-nothing-to-draw", ["portrait", "--out", "fig.png"])
case("portrait-spec-and-toy", ["portrait", "{dirac}", "--toy", "dirac", "--out", "fig.png"])
case("portrait-toy-unknown", [*PORTRAIT[:1], "--toy", "lorenz", "--out", "fig.png"])
case("portrait-measure-unknown", [*PORTRAIT, "--measure", "mu_xyz"])
case("portrait-form-unknown", [*PORTRAIT, "--form", "huber"])
case("portrait-mass-undeclared", [*PORTRAIT, "--mass", "exp(-omega)"])
case("portrait-toy-flag-with-spec", ["portrait", "{dirac}", "--measure", "p_d", "--out", "fig.png"])
case("portrait-symbolic-rho-left-open", ["portrait", "{symbolic}", "--no-progress", "--out", "fig.png"])
case("portrait-spec-missing", ["portrait", "missing.toml", "--out", "fig.png"])
case("portrait-spec-is-a-folder", ["portrait", "{spec_dir}", "--out", "fig.png"])

TRAIN = ["train", "--preset", "toy-8gaussians-mu_gp", *TINY, *QUIET, "--out", "run"]
for assignment in (
    "width=1e12",
    "width=abc",
    "width=2.5",
    "width=0",
    "batch_size=1e12",
    "latent_dim=1e9",
    "depth=-1",
    "n_critic=0",
    "seed=1e30",
    "seed=18446744073709551617",
    "seed=-1e30",
    "iterations=inf",
    "iterations=nan",
    "iterations=0",
    "threads=1e9",
    "w1_samples=1e9",
    "lr_d=nan",
    "lr_g=inf",
    "rho=inf",
    "rho=1e400",
    "rho=-1",
    "beta1=1",
    "anchor=2,nan",
    "anchor=1,1",
    "maxal_lambda0=1",
    "gp_lambda=5",
    "dataset=moons",
    "activation=gelu",
    "no_such_key=1",
    "width",
):
    case(f"train-set-{assignment}", [*TRAIN, "--set", assignment])
case("train-set-beta-on-rmsprop", ["train", "--preset", "toy-8gaussians-wgan", "--set", "beta1=0.3", "--out", "run"])
case("train-set-rho-on-gp", ["train", "--preset", "toy-8gaussians-wgan-gp", "--set", "rho=1", "--out", "run"])
case("train-no-preset", ["train", "--out", "run"])
case("train-unknown-preset", ["train", "--preset", "toy-moons-wgan", "--out", "run"])
case("train-no-out", ["train", "--preset", "toy-8gaussians-mu_gp"])
case("train-out-exists", [*TRAIN[:-1], "{run}"])
case("train-resume-without-out", ["train", "--resume"])
case("train-resume-not-a-run", ["train", "--resume", "--out", "{spec_dir}"])
case("train-resume-changes-dynamics", ["train", "--resume", "--out", "{run}", "--set", "width=32"])
case("train-resume-fewer-iterations", ["train", "--resume", "--out", "{run}", "--set", "iterations=1"])
case("train-resume-nan-iterations", ["train", "--resume", "--out", "{run}", "--set", "iterations=nan"])
case("train-resume-edited-config", ["train", "--resume", "--out", "{bad_run:edited}"])
case("train-resume-malformed-config", ["train", "--resume", "--out", "{bad_run:not-json}"])

for option, values in {"--n": ("0", "-1", "1e12", "abc", "nan"), "--seed": ("-1", "1e30", "abc")}.items():
    for value in values:
        case(f"sample{option}-{value}", ["sample", "{run}", option, value, "--out", "s.npy"])
for value in ("-1", "abc", "999"):
    case(f"sample-checkpoint-{value}", ["sample", "{run}", "--checkpoint", value, "--out", "s.npy"])
case("sample-out-txt", ["sample", "{run}", "--out", "s.txt"])
case("sample-out-is-a-folder", ["sample", "{run}", "--out", "{folder_npy}"], 4)
case("sample-out-under-a-file", ["sample", "{run}", "--out", "{file}/s.npy"], 4)
case("sample-run-missing", ["sample", "missing-run", "--out", "s.npy"])
case("sample-run-is-a-file", ["sample", "{file}", "--out", "s.npy"])
case("sample-run-without-config", ["sample", "{spec_dir}", "--out", "s.npy"])

#: Broken ``config.json`` files of copies of the trained run.
BAD_CONFIGS = {
    "not-json": "{ width: 8",
    "list": "[1, 2]",
    "width-text": {"width": "abc"},
    "width-null": {"width": None},
    "width-huge": {"width": 10**12},
    "lr-nan": {"lr_d": float("nan")},
    "anchor-number": {"anchor": 5},
    "dataset-table": {"dataset": {"a": 1}},
    "unknown-key": {"colour": "blue"},
    "edited": {"width": 32},  # valid, but not the network in the checkpoint
}
for name in BAD_CONFIGS:
    if name != "not-json":
        case(f"sample-config-{name}", ["sample", f"{{bad_run:{name}}}", "--out", "s.npy"])


def test_there_are_at_least_150_cases():
    assert len(CASES) >= 150, len(CASES)
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fixtures")
    specs = base / "specs"
    specs.mkdir()
    for name, text in BAD_SPECS.items():
        (specs / f"{name}.toml").write_text(text, encoding="utf-8")
    (specs / "latin1.toml").write_bytes(spec(D='"psi*x"  # é').encode("latin-1"))
    (base / "plain-file").write_text("not a folder\n")
    (base / "folder.npy").mkdir()
    run = base / "run"
    args = ["train", "--preset", "toy-8gaussians-mu_gp", *TINY, *QUIET, "--set", "iterations=2", "--out", str(run)]
    assert main(args) == 0
    bad_runs = base / "bad_runs"
    for name, change in BAD_CONFIGS.items():
        target = bad_runs / name
        shutil.copytree(run, target)
        config = target / "config.json"
        if isinstance(change, str):
            config.write_text(change)
        else:
            values = json.loads(config.read_text())
            values.update(change)
            config.write_text(json.dumps(values))
    return {"base": base, "specs": specs, "run": run, "bad_runs": bad_runs, "file": base / "plain-file"}


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _fill(arg: str, fx: dict[str, Path]) -> str:
    if arg.startswith("{spec:"):
        return str(fx["specs"] / f"{arg[6:-1]}.toml")
    if arg.startswith("{bad_run:"):
        return str(fx["bad_runs"] / arg[9:-1])
    folder_npy = fx["base"] / "folder.npy"
    return arg.format(
        dirac=DIRAC, symbolic=SYMBOLIC, file=fx["file"], spec_dir=fx["specs"], run=fx["run"], folder_npy=folder_npy
    )


def assert_refused_in_one_line(argv, status, snapshot, tmp_path, capsys) -> None:
    """Run ``ganstab argv`` in an empty ``tmp_path``: exit ``status``, one ``ganstab …: error:`` line on stderr, no
    traceback, nothing written there, and ``snapshot()`` (the fixtures' files) unchanged."""
    before = snapshot()
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status, (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert len(lines) == 1, err
    assert lines[0].startswith("ganstab") and ": error: " in lines[0], err
    assert list(tmp_path.iterdir()) == [], "files written in the working directory"
    assert snapshot() == before, "fixtures changed"


@pytest.mark.parametrize("name, argv, status", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(name, argv, status, fixtures, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [_fill(a, fixtures) for a in argv]
    assert_refused_in_one_line(argv, status, lambda: _snapshot(fixtures["base"]), tmp_path, capsys)


# ---- a signal: one line and 128 + the signal, whenever it arrives -------------------------------------------------

#: A ``ganstab`` process that sends itself a signal: while the commands are imported and the command line is read
#: (``start``), during the command's work (``work``), or just before an output's temporary file would replace the
#: target (``write``: the temporary is complete, the target not yet there). Deterministic, unlike a timed kill.
SIGNALLED = """
import os, signal, sys, time
# Ctrl-C as from a terminal: a job a shell starts in the background (CI run with &) inherits SIGINT ignored, which
# Python and ganstab keep, so without this the signal below would never arrive
signal.signal(signal.SIGINT, signal.default_int_handler)
from stability import cli
from stability.util import atomic
where, signum, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def kill():
    os.kill(os.getpid(), signum)
    time.sleep(30)  # the handler raises before this ends; a process that ignores the signal fails the test
if where == "start":
    build = cli.build_parser
    cli.build_parser = lambda: (kill(), build())[1]
elif where == "work":
    parse = cli._Parser.parse_args
    def parse_then_kill(self, *args, **kwargs):
        namespace = parse(self, *args, **kwargs)
        namespace.func = lambda ns, work=namespace.func: (kill(), work(ns))[1]
        return namespace
    cli._Parser.parse_args = parse_then_kill
else:
    replace = os.replace
    atomic.os.replace = lambda src, dst: kill() if str(dst).endswith("p.png") else replace(src, dst)
sys.exit(cli.main(argv))
"""
PORTRAIT = ["portrait", "--toy", "dirac", "--measure", "none", "--starts", "", "--dpi", "10", "--no-progress"]


@pytest.mark.parametrize(
    "where, signum, argv",
    [
        ("start", signal.SIGINT, ["presets"]),  # a traceback from the import of the commands
        ("start", signal.SIGTERM, ["presets"]),  # killed silently
        ("work", signal.SIGTERM, ["presets", "--json"]),
        ("write", signal.SIGTERM, [*PORTRAIT, "--out", "p.png"]),  # killed with the temporary file left
    ],
    ids=["start-SIGINT", "start-SIGTERM", "work-SIGTERM", "write-SIGTERM"],
)
def test_a_signal_is_one_line_and_128_plus_the_signal(where, signum, argv, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SIGNALLED, where, str(int(signum)), *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 128 + signum, (proc.returncode, proc.stderr)  # a process killed by it is -signum
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    name = "stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted"
    assert lines[0] == f"ganstab {argv[0]}: {name}", proc.stderr
    assert list(tmp_path.iterdir()) == [], "an output or its temporary file was left"
