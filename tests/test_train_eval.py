"""IS/FID in training and in ``ganstab eval``: offline, from a random InceptionV3 saved as a weights file."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from test_image_data import _write_cifar_folder, fake_cifar_prelude
from torchrun_launch import run_two_processes

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
    from gan_train.trainer import Trainer

    config = apply_overrides(
        get_preset("cifar10-dcgan-mu_mid").config(),
        [f"data_dir={data}", "width=8", "batch_size=4", "iterations=2", "n_critic=1", "checkpoint_every=2",
         "eval_every=1", "eval_samples=6", "is_splits=2", f"inception_weights={weights}", "tensorboard=false",
         "progress=false", "log_every=1", "eval_metrics=is,fid,kid,prc"],
    )  # fmt: skip
    Trainer.create(config, tmp_path / "run").run()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["iteration"] for r in evals] == [1, 2]
    for r in evals:
        assert r["n_samples"] == 6 and all(math.isfinite(r[k]) for k in ("is_mean", "is_std", "fid", "kid_mean"))
        assert (r["ref_split"], r["ref_n"], r["kid_subset_size"]) == ("train", 100, 6)  # the fake train split
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        assert r["is_mean"] >= 1.0 - 1e-12 and r["fid"] >= 0  # IS ≥ 1 (exp of a mean KL), up to round-off
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
    assert (first["kind"], first["iteration"], first["ref_split"]) == ("run", 2, "train")
    assert first["metrics"] == ["is", "fid", "kid", "prc"]  # the run's eval_metrics unless --metrics says
    # the test split as reference, and a checkpoint file as the source: its own file, its own record
    checkpoint = tmp_path / "run" / "checkpoints" / "ckpt_00000002.pt"
    assert main(["eval", str(checkpoint), "--inception-weights", str(weights), "--n", "6", "--ref", "test",
                 "--metrics", "fid"]) == 0  # fmt: skip
    test = json.loads((tmp_path / "run" / "eval_00000002_test.json").read_text())
    assert (test["kind"], test["ref_split"], test["ref_n"]) == ("checkpoint", "test", 20)
    assert test["fid"] != first["fid"]  # another reference, another number


# ---- sharded evaluation under torchrun (issue 14) --------------------------------------------------------------

EVAL_WORKER = """
import json, os, sys, torch
from gan_train.config import TrainConfig
from gan_train.distributed import join, leave, world_from_environment
from gan_train.evaluate import ImageEvaluator
from gan_train.nets import build_generator
torch.set_num_threads(1)
config = TrainConfig(**json.loads(sys.argv[1]))
world = world_from_environment()
join(world, torch.device("cpu"))
torch.manual_seed(0)
generator = build_generator(config)
evaluator = ImageEvaluator(config, sys.argv[2], progress=False, world=world)
scores = evaluator(generator, int(sys.argv[3]), seed=5, batch_size=int(sys.argv[5]))
with open(os.path.join(sys.argv[4], f"rank{world.rank}.json"), "w") as f:
    json.dump(scores, f)
leave()
"""


@pytest.mark.parametrize("n, batch", [(101, 100), (50_000, 100), (10, 3), (10, 100), (2, 1)])
def test_even_batches_cover_n_in_the_fewest_batches_of_nearly_equal_size(n, batch):
    from gan_train.metrics.inception import even_batches

    sizes = even_batches(n, batch)
    assert sum(sizes) == n and len(sizes) == math.ceil(n / batch) and max(sizes) - min(sizes) <= 1
    assert max(sizes) <= batch


def test_merged_shards_are_the_statistics_of_all_images():
    from gan_train.metrics.inception import InceptionFeatures, merge_features

    rng = np.random.default_rng(0)
    feats = rng.normal(3.0, 2.0, size=(23, 5))  # a mean far from 0, as pool features have
    logits = torch.as_tensor(rng.normal(size=(23, 7)), dtype=torch.float32)
    cuts = [0, 4, 13, 23]
    parts = [
        InceptionFeatures(b - a, feats[a:b].mean(0), np.cov(feats[a:b], rowvar=False), logits[a:b])
        for a, b in zip(cuts, cuts[1:])
    ]
    merged = merge_features(parts)
    assert merged.n == 23
    assert np.allclose(merged.mu, feats.mean(0), rtol=1e-13, atol=0)
    assert np.allclose(merged.sigma, np.cov(feats, rowvar=False), rtol=1e-12, atol=1e-14)
    assert torch.equal(merged.logits, logits)
    # the naive pooling (the mean of the parts' covariances) is not it: the test sees the difference
    assert not np.allclose(np.mean([p.sigma for p in parts], axis=0), np.cov(feats, rowvar=False), rtol=1e-3)


def test_two_gloo_processes_shard_is_and_fid_to_the_one_process_numbers(tmp_path, weights, monkeypatch):
    from gan_train.evaluate import ImageEvaluator
    from gan_train.nets import build_generator

    monkeypatch.setenv("GANSTAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    _write_cifar_folder(data)
    config = apply_overrides(
        get_preset("cifar10-dcgan-mu_mid").config(), [f"data_dir={data}", "width=8", "is_splits=2", "threads=1"]
    )
    run_two_processes(
        tmp_path / "worker.py",
        fake_cifar_prelude(data) + EVAL_WORKER,
        json.dumps(config.to_dict()),
        str(weights),
        "10",
        str(tmp_path),
        "3",
        timeout=600,
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # every rank returns the gathered numbers
    # batches of 3, 3, 2, 2: rank 0 made the first two, rank 1 the last two (a batch-statistics BatchNorm generator
    # makes each image a function of its batch, so the ranks must cut the 1-process batches, not the images)
    torch.manual_seed(0)
    generator = build_generator(config)
    single = ImageEvaluator(config, str(weights), progress=False)(generator, 10, seed=5, batch_size=3)
    assert single["n_samples"] == ranks[0]["n_samples"] == 10
    for key in ("is_mean", "is_std", "fid"):
        assert ranks[0][key] == pytest.approx(single[key], rel=1e-5), key
    # and a different seed (other images) moves the numbers, so the equality above is not vacuous
    other = ImageEvaluator(config, str(weights), progress=False)(generator, 10, seed=6)
    assert abs(other["fid"] - single["fid"]) > 1e-3 * single["fid"]
