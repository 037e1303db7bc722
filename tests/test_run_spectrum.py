"""``ganstab spectrum``: the analysis engine reads the trainer's checkpoints.

* one definition end to end: on one trainer batch, the trainer's own critic gradient equals −ψ̇ of the field that
  ``ganstab spectrum`` builds, and its generator gradient −θ̇ where the generator loss is the flow's own, for every
  measure and form of the trainer (float64, 1e-10);
* on a tiny toy run, the matrix-free top-k at each checkpoint equals the dense spectrum of ``TorchField.jacobian``;
* ARPACK warm-started from the previous checkpoint's Ritz vectors gives the cold start's eigenvalues (1e-6);
* bad input: no checkpoints, an unknown architecture, k too large, clipping and spectral normalisation.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from test_image_data import _write_cifar_folder

from gan_train import checkpoint as ckpt
from gan_train.config import FORM_NAMES, LAMBDA_FORMS, MEASURE_NAMES, apply_overrides
from gan_train.presets import get_preset
from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints
from gan_train.spectra.field import SampleSet, run_field, sample_set
from gan_train.spectra.spectra import spectra_along_training
from gan_train.trainer import CriticBatch, Trainer
from stability.analysis.arpack import warm_start_vector
from stability.analysis.spectrum import top_eigenvalues
from stability.cli import main
from stability.spec.measures import MEASURES

QUIET = ["tensorboard=false", "progress=false", "threads=1", "w1_every=0", "plot_every=0", "log_every=1"]
TINY = ["iterations=4", "width=8", "checkpoint_every=1", "keep_checkpoints=0", *QUIET]


def _train(tmp_path, preset: str, *extra: str, name: str = "run"):
    """A tiny run of ``preset`` trained to the end; returns its directory."""
    config = apply_overrides(get_preset(preset).config(), [*TINY, *extra])
    run_dir = tmp_path / name
    Trainer.create(config, run_dir).run()
    return run_dir


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """4 checkpoints of a 363-parameter MLP GAN on 8 Gaussians with the simple penalty on μ_GP."""
    return _train(tmp_path_factory.mktemp("toy"), "toy-8gaussians-mu_gp", "batch_size=64")


def _spectrum(tmp_path, capsys, *args: str) -> tuple[int, dict | None, str]:
    out = tmp_path / "spectrum-out"
    # --no-update: the run's own update radius (seconds per checkpoint) has its own tests in test_run_update.py
    status = main(["spectrum", *args, "--out", str(out), "--json", "--no-progress", "--no-update"])
    captured = capsys.readouterr()
    report = json.loads(captured.out) if status == 0 else None
    return status, report, captured.err


# ---- the matrix-free spectrum against the dense one, and the warm start --------------------------------------------


def test_top_k_at_each_checkpoint_equals_the_dense_spectrum(toy_run, tmp_path, capsys):
    status, report, _ = _spectrum(tmp_path, capsys, str(toy_run), "--k", "6", "--which", "LR,LM,LI")
    assert status == 0
    (run,) = report["runs"]
    assert run["n"] == 363 and run["samples"] == json.loads(json.dumps(run["samples"]))
    assert run["samples"]["size"] == 64 and run["samples"]["seed"] == 0
    assert [c["iteration"] for c in run["checkpoints"]] == [1, 2, 3, 4]
    config, found = run_checkpoints(toy_run)
    samples = sample_set(config, 64, seed=0)  # an independent rebuild of the recorded sample set
    for checkpoint, (iteration, path) in zip(run["checkpoints"], found):
        field_ = run_field(load_checkpoint(toy_run, config, iteration, path), samples)
        dense = np.linalg.eigvals(field_.jacobian())
        scale = np.max(np.abs(dense))
        value = field_.value()
        assert checkpoint["field_norm"] == pytest.approx(float(np.linalg.norm(value)), rel=1e-12)
        # ARPACK's LI on a real matrix: the largest |imaginary parts|, in conjugate pairs
        for which, key in (("LR", dense.real), ("LM", np.abs(dense)), ("LI", np.abs(dense.imag))):
            spectrum = checkpoint["spectra"][which]
            assert spectrum["method"] == "arpack" and spectrum["converged"]
            found_values = np.array([complex(re, im) for re, im in spectrum["eigenvalues"]])
            expected = np.sort(key)[::-1][:6]
            got = {"LR": found_values.real, "LM": np.abs(found_values), "LI": np.abs(found_values.imag)}[which]
            assert np.allclose(np.sort(got)[::-1], expected, atol=1e-8 * scale), which
            for v in found_values:  # each one is an eigenvalue of the dense Jacobian
                assert np.min(np.abs(dense - v)) < 1e-7 * scale
        assert checkpoint["max_real_part"] == pytest.approx(float(np.max(dense.real)), abs=1e-8 * scale)
        gd = checkpoint["gd"]["simultaneous"]  # dense for n <= 2000: the exact radius of I + hJ at h = lr_d
        assert gd["complete"] and gd["step"] == checkpoint["learning_rates"]["lr_d"] == 1e-4
        assert gd["spectral_radius"] == pytest.approx(float(np.max(np.abs(1 + 1e-4 * dense))), rel=1e-12)
    notes = " ".join(run["notes"])
    assert "Adam" in notes and "not of Adam's preconditioned" in notes
    for name in ("spectrum.json", "spectrum_vs_iteration.png", "eigenvalues_complex_plane.png", "field_norm.png"):
        assert (tmp_path / "spectrum-out" / name).stat().st_size > 0
    assert json.loads((tmp_path / "spectrum-out" / "spectrum.json").read_text()) == report


def test_warm_start_gives_the_cold_eigenvalues(toy_run):
    kwargs = {"k": 6, "which": "LR,LI", "samples": 64, "gd": False, "update": False}
    warm = spectra_along_training(toy_run, warm_start=True, **kwargs)
    cold = spectra_along_training(toy_run, warm_start=False, **kwargs)
    products = {"warm": 0, "cold": 0}
    for w, c in zip(warm.checkpoints, cold.checkpoints):
        for which in ("LR", "LI"):
            a, b = w.spectra[which], c.spectra[which]
            assert np.allclose(np.sort_complex(a.eigenvalues), np.sort_complex(b.eigenvalues), atol=1e-6)
            assert a.warm_start == (w.iteration > 1) and not b.warm_start
            products["warm"] += a.products if a.warm_start else 0
            products["cold"] += b.products if a.warm_start else 0
    # the same seeded start vector would give the cold run's exact product counts: the warm start was used
    assert products["warm"] < products["cold"]


def test_warm_start_from_exact_ritz_vectors_saves_products(toy_run):
    config, found = run_checkpoints(toy_run)
    field_ = run_field(load_checkpoint(toy_run, config, *found[-1]), sample_set(config, 64))
    # ARPACK's own basis size: with the default LR basis (120 > the products this game needs) both converge in the
    # first factorisation, and a start vector cannot shorten that
    cold = top_eigenvalues(field_, k=6, which="LR", ncv=20, return_vectors=True)
    vectors = cold.vectors
    assert vectors.shape == (field_.size, 6)
    for i, value in enumerate(cold.eigenvalues[:3]):  # Ritz vectors of Jᵀ, in the eigenvalues' order
        x = torch.from_numpy(np.ascontiguousarray(vectors[:, i]))
        product = field_.vjp(None, x.real.numpy()) + 1j * field_.vjp(None, x.imag.numpy())
        assert np.linalg.norm(product - value * vectors[:, i]) < 1e-8 * abs(value) * np.linalg.norm(vectors[:, i])
    warm = top_eigenvalues(field_, k=6, which="LR", ncv=20, v0=warm_start_vector(vectors))
    assert warm.warm_start and warm.products < cold.products
    assert np.allclose(np.sort_complex(warm.eigenvalues), np.sort_complex(cold.eigenvalues), atol=1e-8)


# ---- bad input -------------------------------------------------------------------------------------------------------


def test_run_without_checkpoints_is_a_one_line_error(tmp_path, capsys):
    config = apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), TINY)
    Trainer.create(config, tmp_path / "empty")  # config.json, no checkpoint
    status, _, err = _spectrum(tmp_path, capsys, str(tmp_path / "empty"))
    assert status == 2 and "has no checkpoints" in err and len(err.strip().splitlines()) == 1
    status, _, err = _spectrum(tmp_path, capsys, str(tmp_path / "nowhere"))
    assert status == 2 and "not a run directory" in err
    assert not (tmp_path / "spectrum-out").exists()


def test_checkpoint_of_an_unknown_architecture_is_refused(toy_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(toy_run, other)
    config = json.loads((other / "config.json").read_text())
    config["width"] = 16  # the checkpoints hold width-8 networks
    (other / "config.json").write_text(json.dumps(config))
    status, _, err = _spectrum(tmp_path, capsys, str(other), "--checkpoints", "last")
    assert status == 2 and "unknown architecture" in err and len(err.strip().splitlines()) == 1


def test_bad_selections_are_one_line_errors(toy_run, tmp_path, capsys):
    for args, message in (
        (["--checkpoints", "7"], "no checkpoint of iteration 7; it has [1, 2, 3, 4]"),
        (["--checkpoints", "two"], "--checkpoints expects all, last or iterations"),
        (["--which", "XX"], "unknown eigenvalue selection 'XX'; valid: LR, LM, LI"),
    ):  # (numbers such as --k 0 are argparse's: tests/test_bad_inputs_runs.py)
        status, _, err = _spectrum(tmp_path, capsys, str(toy_run), *args)
        assert status == 2 and message in err, (args, err)


def test_k_too_large_falls_back_to_the_dense_spectrum(toy_run, tmp_path, capsys):
    status, report, _ = _spectrum(tmp_path, capsys, str(toy_run), "--checkpoints", "2,4", "--k", "400", "--no-gd")
    assert status == 0
    checkpoints = report["runs"][0]["checkpoints"]
    assert [c["iteration"] for c in checkpoints] == [2, 4]
    for checkpoint in checkpoints:
        spectrum = checkpoint["spectra"]["LR"]
        assert spectrum["method"] == "dense" and len(spectrum["eigenvalues"]) == 363
        assert any("dense spectrum was used" in note for note in spectrum["notes"])
        assert checkpoint["gd"] == {}


def test_theorem1_check_runs_only_near_stationarity(toy_run, tmp_path, capsys):
    args = [str(toy_run), "--checkpoints", "last", "--k", "2", "--no-gd"]
    status, report, _ = _spectrum(tmp_path, capsys, *args)
    checkpoint = report["runs"][0]["checkpoints"][0]
    assert status == 0 and checkpoint["field_norm"] > 1e-3 and checkpoint["theorem1"] is None
    status, report, _ = _spectrum(tmp_path, capsys, *args, "--stationary-tol", "1e9")
    checkpoint = report["runs"][0]["checkpoints"][0]
    check = checkpoint["theorem1"]
    config, _ = run_checkpoints(toy_run)
    assert status == 0 and check["n_psi"] == report["runs"][0]["n_psi"] and check["rho"] == config.rho_effective
    assert check["field_norm"] == pytest.approx(checkpoint["field_norm"], rel=1e-12)
    assert check["q_psd"] and any(line.startswith("block form") for line in check["summary"])


@pytest.mark.parametrize(
    "preset, says",
    [
        ("toy-8gaussians-wgan", ["weight clipping", "not the trained dynamics", "RMSprop"]),
        ("toy-8gaussians-sn", ["spectrally normalised", "not exactly the trained dynamics"]),
    ],
)
def test_clipped_and_spectrally_normalised_runs_are_analysed_with_a_note(preset, says, tmp_path, capsys):
    run_dir = _train(tmp_path, preset, "iterations=2")
    status, report, _ = _spectrum(tmp_path, capsys, str(run_dir), "--k", "3", "--no-gd")
    assert status == 0
    notes = " ".join(report["runs"][0]["notes"])
    for text in says:
        assert text in notes, (text, notes)
    assert all(c["spectra"]["LR"]["converged"] for c in report["runs"][0]["checkpoints"])


def test_several_runs_share_one_report(toy_run, tmp_path, capsys):
    other = _train(tmp_path, "toy-8gaussians-p_g", "batch_size=64", "iterations=2", name="p_g")
    status, report, _ = _spectrum(tmp_path, capsys, str(toy_run), str(other), "--checkpoints", "last", "--k", "2")
    assert status == 0
    assert [r["label"].split(" ")[0] for r in report["runs"]] == [toy_run.name, "p_g"]
    assert [r["checkpoints"][0]["iteration"] for r in report["runs"]] == [4, 2]


def test_cifar_run_with_generator_batchnorm(tmp_path, capsys):
    data = tmp_path / "cifar"
    data.mkdir()
    _write_cifar_folder(data)
    extra = [f"data_dir={data}", "batch_size=4", "gen_batch_size=4", "iterations=1", "n_critic=1"]
    run_dir = _train(tmp_path, "cifar10-dcgan-mu_gp", *extra)
    args = [str(run_dir), "--k", "1", "--which", "LM", "--samples", "4", "--dtype", "float32", "--no-gd"]
    status, report, _ = _spectrum(tmp_path, capsys, *args)
    assert status == 0
    run = report["runs"][0]
    assert run["n"] > 50_000 and run["dtype"] == "float32"
    assert any("BatchNorm" in note and "the batch is fixed" in note for note in run["notes"])
    assert run["checkpoints"][0]["spectra"]["LM"]["converged"]


# ---- one definition end to end: the trainer's gradients are −(ψ̇, θ̇) ---------------------------------------------

MEASURE_KINDS = list(dict.fromkeys(MEASURES[m].name for m in MEASURE_NAMES if m != "none"))  # aliases once
PENALTIES = [("none", "simple")] + [(m, f) for m in MEASURE_KINDS for f in FORM_NAMES]


def _gradients(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()])


def _trained(tmp_path, preset: str, extra: list[str]) -> tuple[Trainer, object]:
    """A tiny run trained 2 iterations (critic weights scaled up so that every form's penalty is active)."""
    config = apply_overrides(get_preset(preset).config(), extra)
    trainer = Trainer.create(config, tmp_path / "run")
    with torch.no_grad():
        for p in trainer.critic.parameters():
            p.mul_(2.5)  # ‖∇ₓD‖ on both sides of 1: gp, lp and the max forms all act
    trainer.run()
    return trainer, config


def _assert_one_definition(trainer: Trainer, config, run_dir, compare_generator: bool) -> None:
    found = ckpt.list_checkpoints(run_dir)
    checkpoint = load_checkpoint(run_dir, config, *found[-1])
    trainer.critic.double()
    trainer.generator.double()
    drawn = trainer.draw_critic_batch()
    batch = CriticBatch(
        drawn.x_data.double(), drawn.z.double(), drawn.alpha.double() if drawn.alpha is not None else None
    )
    trainer.critic.zero_grad(set_to_none=True)
    loss = trainer.critic_loss(batch).loss
    assert loss.dtype == torch.float64
    loss.backward()
    critic_grad = _gradients(trainer.critic)

    samples = SampleSet(batch.x_data, batch.z, batch.alpha)
    field_ = run_field(checkpoint, samples)
    flow = torch.from_numpy(field_.value())
    psi_dot, theta_dot = flow[: field_.n_psi], flow[field_.n_psi :]
    scale = max(1.0, float(critic_grad.abs().max()))
    assert torch.allclose(critic_grad, -psi_dot, rtol=0, atol=1e-10 * scale), float((critic_grad + psi_dot).abs().max())
    if checkpoint.penalty is not None:  # the penalty acts: without it the two sides would differ
        unpenalised = load_checkpoint(run_dir, config, *found[-1])
        unpenalised.penalty = None
        without = torch.from_numpy(run_field(unpenalised, samples).value())[: field_.n_psi]
        assert float((without - psi_dot).abs().max()) > 1e-6 * scale
    if compare_generator:
        trainer.generator.zero_grad(set_to_none=True)
        trainer.generator_loss(batch.z).backward()
        generator_grad = _gradients(trainer.generator)
        g_scale = max(1.0, float(generator_grad.abs().max()))
        assert torch.allclose(generator_grad, -theta_dot, rtol=0, atol=1e-10 * g_scale)


@pytest.mark.parametrize("measure, form", PENALTIES, ids=[f"{m}-{f}" for m, f in PENALTIES])
def test_trainer_gradients_are_minus_the_field(measure, form, tmp_path):
    weight = [] if measure == "none" else ["gp_lambda=3" if form in LAMBDA_FORMS else "rho=6"]
    extra = [f"measure={measure}", f"form={form}", *weight, "width=8", "depth=2", "batch_size=16", "n_critic=2"]
    extra += ["iterations=2", "checkpoint_every=1", *QUIET]
    trainer, config = _trained(tmp_path, "toy-8gaussians-mu_gp", extra)
    if config.penalised and getattr(trainer.penalty.form, "multiplier", False):
        assert trainer.penalty.multiplier != 0  # MaxAL's λ has moved: the field must read it from the checkpoint
    _assert_one_definition(trainer, config, tmp_path / "run", compare_generator=True)


@pytest.mark.parametrize("link, gen_loss", [("logistic", "minimax"), ("logistic", "linear"), ("hinge", "minimax")])
def test_trainer_gradients_with_other_links(link, gen_loss, tmp_path):
    extra = ["measure=mu_mid", f"loss={link}", f"gen_loss={gen_loss}", "width=8", "depth=2", "batch_size=16"]
    extra += ["n_critic=2", "iterations=2", "checkpoint_every=1", *QUIET]
    trainer, config = _trained(tmp_path, "toy-8gaussians-mu_gp", extra)
    # θ̇ is the flow's only for the minimax generator loss (for identity links, linear is the same loss)
    _assert_one_definition(trainer, config, tmp_path / "run", compare_generator=gen_loss == "minimax")


@pytest.mark.parametrize("method", ["mu_gp", "mu_anchor"])  # μ_g,anc: the run's seeded anchor image
def test_trainer_gradients_on_images_with_generator_batchnorm(method, tmp_path):
    data = tmp_path / "cifar"
    data.mkdir()
    _write_cifar_folder(data)
    extra = [f"data_dir={data}", "width=8", "batch_size=4", "gen_batch_size=4", "iterations=1", "n_critic=1"]
    extra += ["checkpoint_every=1", "w1_every=0", "plot_every=0", "tensorboard=false", "progress=false", "threads=1"]
    trainer, config = _trained(tmp_path, f"cifar10-dcgan-{method}", extra)
    assert any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in trainer.generator.modules())
    _assert_one_definition(trainer, config, tmp_path / "run", compare_generator=True)
