"""IS/FID in training and in ``ganstab eval``: offline, from a random InceptionV3 saved as a weights file."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
from test_image_data import _write_cifar_folder

from gan_train.config import apply_overrides
from gan_train.presets import get_preset
from stability.cli import main


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
