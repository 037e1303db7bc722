"""The run's own update at a checkpoint (issue 24): ``ganstab spectrum``'s update radius is torch.optim's.

Independent references, not the code under test:

* one step of the rule's map from the state read out of a checkpoint equals torch.optim itself (Adam, RMSprop, SGD
  built afresh and given the checkpoint's ``state_dict`` by torch's own ``load_state_dict``) stepping the run's
  n_critic critic steps and one generator step with the field's gradients, to 1e-12;
* the map's JVP along random (δw, δm) equals central finite differences of those torch.optim steps (v held, as the
  radius holds it), and the matrix-free ARPACK radius equals the dense eigenvalues' of T;
* a checkpoint whose second moments hold exact zeros (dead units) gives that finite radius too;
* the last checkpoint of an ``lr_decay`` run has no update radius and says why.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from gan_train.config import apply_overrides
from gan_train.presets import get_preset
from gan_train.spectra.checkpoints import load_checkpoint, run_checkpoints
from gan_train.spectra.field import run_field, sample_set
from gan_train.spectra.run_update import run_rule, run_state, run_update_radius
from gan_train.trainer import Trainer
from stability.analysis.discrete import increment_jacobian, increment_operator
from stability.cli import main

QUIET = ["tensorboard=false", "progress=false", "threads=1", "w1_every=0", "plot_every=0", "log_every=1"]
#: n = 119 (57 ψ + 62 θ): the dense finite-difference T has 238 columns.
TINY = ["iterations=3", "width=4", "batch_size=32", "checkpoint_every=1", "keep_checkpoints=0", *QUIET]


def _train(root, *extra: str):
    config = apply_overrides(get_preset("toy-8gaussians-mu_gp").config(), [*TINY, *extra])
    run_dir = root / "-".join(extra).replace("=", "_")
    Trainer.create(config, run_dir).run()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("update-runs")
    return {name: _train(root, f"optimizer={name}") for name in ("adam", "rmsprop", "sgd")}


def _checkpoint(run_dir, which: int = -1):
    config, found = run_checkpoints(run_dir)
    iteration, path = found[which]
    checkpoint = load_checkpoint(run_dir, config, iteration, path)
    field_ = run_field(checkpoint, sample_set(config, 32, seed=0))
    return checkpoint, field_


class _TorchOptimisers:
    """The run's two torch.optim optimisers over float64 copies of a point, with the checkpoint's state loaded."""

    def __init__(self, checkpoint, field_, w: torch.Tensor, m_d=None, m_g=None):
        p = field_.n_psi
        self.field_fn, self.n_psi = field_.field_fn, p
        kind = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}
        make = kind[checkpoint.config.optimizer]
        self.params, self.optimisers = [], []
        offset = 0
        for name, module in (("opt_d", checkpoint.critic), ("opt_g", checkpoint.generator)):
            params = []
            for param in module.parameters():
                size = param.numel()
                params.append(w[offset : offset + size].detach().clone().reshape(param.shape).requires_grad_(True))
                offset += size
            optimiser = make(params, lr=1.0, foreach=False)
            # hyper-parameters and state, by torch; a copy, since torch keeps the loaded step tensors and counts on them
            optimiser.load_state_dict(copy.deepcopy(checkpoint.optimizer_states[name]))
            self.params.append(params)
            self.optimisers.append(optimiser)
        for params, optimiser, moment in zip(self.params, self.optimisers, (m_d, m_g)):
            if moment is not None:  # a perturbed first moment (for finite differences)
                start = 0
                for param in params:
                    size = param.numel()
                    optimiser.state[param]["exp_avg"].copy_(moment[start : start + size].reshape(param.shape))
                    start += size

    def w(self) -> torch.Tensor:
        return torch.cat([q.detach().reshape(-1) for group in self.params for q in group])

    def moment(self, key: str) -> torch.Tensor:
        return torch.cat(
            [opt.state[q][key].reshape(-1) for group, opt in zip(self.params, self.optimisers) for q in group]
        )

    def run(self, n_critic: int) -> None:
        """n_critic critic steps, then one generator step, each with g = −v at the current parameters."""
        for player, steps in ((0, n_critic), (1, 1)):
            for _ in range(steps):
                with torch.no_grad():
                    g = -self.field_fn(self.w())
                part = g[: self.n_psi] if player == 0 else g[self.n_psi :]
                start = 0
                for q in self.params[player]:
                    q.grad = part[start : start + q.numel()].reshape(q.shape).clone()
                    start += q.numel()
                self.optimisers[player].step()


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_one_step_of_the_map_is_torch_optim_from_the_checkpoint(runs, optimizer):
    checkpoint, field_ = _checkpoint(runs[optimizer])
    rule = run_rule(checkpoint)
    assert rule.n_critic == 5 and rule.lr_d == checkpoint.lr_d == 1e-4
    w = field_.vector(None)
    state = run_state(checkpoint, rule, w, field_.n_psi)
    after = rule.step(state, field_.field_fn)
    reference = _TorchOptimisers(checkpoint, field_, w)
    reference.run(rule.n_critic)
    n = field_.size
    assert torch.allclose(after.z[:n], reference.w(), rtol=1e-12, atol=1e-15)
    keys = {"adam": ("exp_avg", "exp_avg_sq"), "rmsprop": ("square_avg",), "sgd": ()}[optimizer]
    for i, key in enumerate(keys):
        assert torch.allclose(after.z[(i + 1) * n : (i + 2) * n], reference.moment(key), rtol=1e-12, atol=1e-18), key
    steps = [float(reference.optimisers[p].state[reference.params[p][0]]["step"]) for p in (0, 1)] if keys else None
    if steps:
        assert after.steps == tuple(steps)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_map_derivative_is_that_of_torch_optims_own_steps(runs, optimizer):
    # T u by the JVP of the map against central differences of torch.optim's steps, along random (δw, δm)
    checkpoint, field_ = _checkpoint(runs[optimizer])
    rule = run_rule(checkpoint)
    w = field_.vector(None)
    n, p = field_.size, field_.n_psi
    state = run_state(checkpoint, rule, w, p)
    apply, size = increment_operator(rule, state, field_.field_fn, "jvp")
    with_m = rule.family == "adam"
    assert size == (2 * n if with_m else n)  # the second moment is held, as the radius holds it
    base = _TorchOptimisers(checkpoint, field_, w)
    m = base.moment("exp_avg") if with_m else None
    generator = torch.Generator().manual_seed(3)
    h = 1e-6
    for _ in range(3):
        u = torch.randn(size, generator=generator, dtype=w.dtype)
        if with_m:  # δm moves w by lr·δm/(√v + ε), 1e4·δm where v = 0: scaled so that every part moves w alike
            u[n:] *= (base.moment("exp_avg_sq").sqrt() + 1e-8) / float(rule.lr_d)
        predicted = apply(u) + u  # T u = (T − I) u + u
        out = []
        for sign in (1, -1):
            moved = m + sign * h * u[n:] if with_m else None
            ref = _TorchOptimisers(
                checkpoint, field_, w + sign * h * u[:n], moved[:p] if with_m else None, moved[p:] if with_m else None
            )
            ref.run(rule.n_critic)
            out.append(torch.cat([ref.w(), ref.moment("exp_avg")]) if with_m else ref.w())
        measured = (out[0] - out[1]) / (2 * h)
        assert torch.allclose(predicted, measured, rtol=1e-6, atol=1e-6 * float(measured.abs().max()))


def test_the_matrix_free_update_radius_equals_the_dense_one(runs):
    # the first checkpoint has relu units that never fired: v = 0 exactly there, where autodiff's √ at 0 made every
    # product of the map NaN
    checkpoint, field_ = _checkpoint(runs["adam"], 0)
    rule = run_rule(checkpoint)
    state = run_state(checkpoint, rule, field_.vector(None), field_.n_psi)
    assert int((state.z[2 * field_.size :] == 0).sum()) > 0, "the fixture should have dead units"
    T = increment_jacobian(rule, state, field_.field_fn).numpy() + np.eye(2 * field_.size)
    expected = float(np.max(np.abs(np.linalg.eigvals(T))))
    assert expected > 1  # a few steps into training, far from an equilibrium: this map expands
    for dense_limit, method in ((0, "arpack"), (600, "dense")):
        analysis, why = run_update_radius(checkpoint, field_, dense_limit=dense_limit)
        assert why is None and analysis.method == method
        assert analysis.radius == pytest.approx(expected, rel=1e-9), method
        assert "checkpoint's own optimiser state" in analysis.notes[0] and "exact zeros" in analysis.notes[0]


def test_the_update_radius_starts_arpack_from_the_given_ritz_vectors(runs, monkeypatch):
    # ARPACK always builds its first factorisation (a basis of 120, capped at n), so on this small game a warm start
    # cannot save products; what is checked is that the start reaching ARPACK is the one made of the vectors given
    import stability.analysis.arpack as arpack_module
    from stability.analysis.arpack import warm_start_vector

    checkpoint, field_ = _checkpoint(runs["adam"], 0)
    cold, _ = run_update_radius(checkpoint, field_, dense_limit=0)
    assert cold.vectors is not None and cold.vectors.shape == (2 * field_.size, 6) and not cold.warm_start
    starts = []
    real = arpack_module.arpack

    def spy(*args, **kwargs):
        starts.append(kwargs.get("v0"))
        return real(*args, **kwargs)

    monkeypatch.setattr(arpack_module, "arpack", spy)
    warm, _ = run_update_radius(checkpoint, field_, dense_limit=0, warm_from=cold.vectors)
    assert warm.warm_start and warm.to_dict()["warm_start"]
    assert len(starts) == 1 and np.array_equal(starts[0], warm_start_vector(cold.vectors))
    assert warm.radius == pytest.approx(cold.radius, rel=1e-9)
    other, _ = run_update_radius(checkpoint, field_, dense_limit=0, warm_from=np.ones((5, 6)))
    assert not other.warm_start and starts[-1] is None  # vectors of another size are no start here


@pytest.mark.parametrize("warm", [True, False])
def test_spectra_along_training_warm_start_each_update_radius_from_the_checkpoint_before(runs, monkeypatch, warm):
    # this game is dense (238 dynamic entries); matrix-free forced, the second checkpoint's update radius must start
    # from the first one's Ritz vectors, and from nothing under warm_start=False (ganstab spectrum --cold)
    import gan_train.spectra.spectra as spectra_module

    given = []

    def matrix_free(checkpoint, field_, **kwargs):
        given.append(kwargs.get("warm_from"))
        return run_update_radius(checkpoint, field_, **kwargs, dense_limit=0)

    monkeypatch.setattr(spectra_module, "run_update_radius", matrix_free)
    found = spectra_module.spectra_along_training(runs["adam"], "1,2", k=2, which="LM", gd=False, warm_start=warm)
    first, second = (entry.update for entry in found.checkpoints)
    assert given[0] is None and not first["warm_start"]
    assert (given[1] is not None and given[1].shape == (238, 6)) == warm
    assert second["warm_start"] == warm
    assert all("vectors" not in entry.update for entry in found.checkpoints)


def test_spectrum_reports_the_run_update_and_drops_the_plain_gd_caveat(runs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["spectrum", str(runs["adam"]), "--checkpoints", "last", "--k", "4", "--out", str(out), "--no-progress"]
    args += ["--no-gd", "--which", "LM"]
    status = main(args)
    assert status == 0
    text = capsys.readouterr().out
    assert "run's update radius" in text and "Adam (alternating), 5 critic steps" in text
    report = json.loads((out / "spectrum.json").read_text())
    (entry,) = report["runs"][0]["checkpoints"]
    assert entry["update"]["radius"] > 1 and entry["update"]["rule"].startswith("adam:")
    notes = " ".join(report["runs"][0]["notes"])
    assert "not of Adam's" not in notes and "the update radius is of that update" in notes
    args = ["spectrum", str(runs["adam"]), "--checkpoints", "last", "--k", "4", "--out", str(out), "--no-progress"]
    status = main([*args, "--no-update"])
    assert status == 0
    report = json.loads((out / "spectrum.json").read_text())
    assert report["runs"][0]["checkpoints"][0]["update"] is None
    assert "not of Adam's preconditioned" in " ".join(report["runs"][0]["notes"])


def test_a_zero_learning_rate_has_no_update_radius(tmp_path):
    run_dir = _train(tmp_path, "lr_decay=true")
    checkpoint, field_ = _checkpoint(run_dir)
    assert checkpoint.lr_d == 0
    analysis, why = run_update_radius(checkpoint, field_)
    assert analysis is None and "learning rate is 0" in why
