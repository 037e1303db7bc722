"""IS and FID: the maths against closed forms, and torch-fidelity's InceptionV3 end to end from a local file."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from test_image_data import _write_cifar_folder

from gan_train.config import apply_overrides
from gan_train.metrics.frechet import frechet_distance
from gan_train.metrics.inception import inception_score, load_inception
from gan_train.presets import get_preset
from stability.cli import main
from stability.spec.errors import SpecError


@pytest.mark.parametrize("k", [2, 5, 10])
def test_is_of_confident_predictions_spread_over_k_classes_is_k(k):
    # p(y|x) one-hot, classes used equally: KL(p(y|x) ‖ p(y)) = log k for every x, so IS = k exactly.
    probs = np.eye(k)[np.arange(40 * k) % k]
    mean, std = inception_score(probs, splits=2, probs=True, shuffle=False)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0, abs=1e-9)


def test_is_of_identical_predictions_is_one_and_a_hand_computed_case():
    same = np.tile([0.2, 0.3, 0.5], (30, 1))
    assert inception_score(same, splits=3, probs=True)[0] == pytest.approx(1.0, abs=1e-12)
    # Two samples, p(y|x) = (1, 0) and (1/2, 1/2): p(y) = (3/4, 1/4);
    # KL₁ = log(4/3), KL₂ = ½ log(2/3) + ½ log 2; IS = exp(mean KL).
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    kl = (math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2
    assert inception_score(probs, splits=1, probs=True, shuffle=False)[0] == pytest.approx(math.exp(kl), rel=1e-12)


@pytest.mark.parametrize("method", ["eigh", "sqrtm", "torch-fidelity"])
def test_fid_of_diagonal_gaussians_matches_the_closed_form(method):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    m1, m2 = rng.normal(size=16), rng.normal(size=16)
    closed = float(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))  # commuting: Σ(√a − √b)²
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b), method=method) == pytest.approx(closed, rel=1e-9)


def test_fid_routes_agree_on_full_covariances_and_zero_for_equal_gaussians():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 32)), rng.normal(size=(200, 32)) @ rng.normal(size=(32, 32)) * 0.3
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    m1, m2 = x.mean(0), y.mean(0)
    eigh, sqrtm = frechet_distance(m1, s1, m2, s2, "eigh"), frechet_distance(m1, s1, m2, s2, "sqrtm")
    assert eigh == pytest.approx(sqrtm, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1, "eigh") == pytest.approx(0, abs=1e-8)


def _random_inception_file(path):
    """A randomly initialised torch-fidelity InceptionV3 saved as a state dict (no download: its loader is skipped)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    class Untrained(FEATURE_EXTRACTORS_REGISTRY["inception-v3-compat"]):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    torch.manual_seed(0)
    net = Untrained("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=empty)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return _random_inception_file(tmp_path_factory.mktemp("w") / "pt_inception-2015-12-05-6726825d.pth")


def test_wrong_weight_files_are_one_line_errors(tmp_path):
    text = tmp_path / "w.pth"
    text.write_text("not a network")
    other = tmp_path / "o.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), other)
    for path, message in ((tmp_path / "missing.pth", "not found"), (text, "cannot be read"), (other, "not a state")):
        with pytest.raises(SpecError, match=message) as info:
            load_inception(path)
        assert "\n" not in str(info.value)


def test_training_run_evaluates_is_fid_offline_and_keeps_the_best(tmp_path, weights, monkeypatch):
    monkeypatch.setenv("GANSTAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    _write_cifar_folder(data)  # 100 training images in the real format
    from gan_train.loop import Trainer

    config = apply_overrides(
        get_preset("cifar10-dcgan-mu_mid").config(),
        [f"data_dir={data}", "width=8", "batch_size=4", "iterations=2", "n_critic=1", "checkpoint_every=2",
         "eval_every=1", "eval_samples=6", "is_splits=2", f"inception_weights={weights}", "tensorboard=false",
         "progress=false", "log_every=1"],
    )  # fmt: skip
    Trainer.create(config, tmp_path / "run").run()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["iteration"] for r in evals] == [1, 2]
    for r in evals:
        assert r["n_samples"] == 6 and all(math.isfinite(r[k]) for k in ("is_mean", "is_std", "fid"))
        assert r["is_mean"] >= 1.0 and r["fid"] >= 0
    assert (tmp_path / "run" / "best.pt").is_file()
    cached = list((tmp_path / "cache").rglob("*.npz"))
    assert len(cached) == 1  # the reference statistics, computed once

    # ganstab eval reads the run and the same cache; the same seed gives the same numbers
    argv = ["eval", str(tmp_path / "run"), "--inception-weights", str(weights), "--n", "6", "--checkpoint", "2"]
    assert main(argv) == 0
    first = json.loads((tmp_path / "run" / "eval_00000002.json").read_text())
    assert main(argv) == 0
    again = json.loads((tmp_path / "run" / "eval_00000002.json").read_text())
    assert first == again and math.isfinite(first["fid"])
