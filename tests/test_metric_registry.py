"""The image-metric registry: names, KID and precision/recall against hand-computed and closed-form answers on
synthetic features, and one Inception pass serving every metric (a stand-in network, no weights)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from test_image_metrics import FakeExtractor, one_line_error, tanh_sampler

from gan_train.metrics import registry
from gan_train.metrics.inception import evaluate_generator, inception_features, to_uint8
from gan_train.metrics.reference import reference_statistics
from gan_train.metrics.registry import MetricOptions, compute_metrics, parse_metrics
from stability.util.errors import UserError


def feats(x) -> SimpleNamespace:
    """The part of an Inception pass KID and precision/recall read: the features (n, d)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return SimpleNamespace(n=len(x), features=x, logits=None, mu=None, sigma=None)


def ref(x, split="test") -> dict:
    return {"features": torch.as_tensor(np.asarray(x, dtype=np.float64)), "n": len(x), "split": split}


def kid(gen, real, **options) -> dict:
    return compute_metrics(["kid"], feats(gen), ref(real), MetricOptions(**options))


def prc(gen, real, k) -> dict:
    return compute_metrics(["prc"], feats(gen), ref(real), MetricOptions(prc_neighborhood=k))


# ---------------------------------------------------------------------------------------------- the registry


def test_registry_names_and_one_line_errors():
    assert registry.metric_names() == ("is", "fid", "kid", "prc")
    assert parse_metrics("is, FID,kid,is") == ("is", "fid", "kid")  # each once, in the order given
    assert parse_metrics(["prc"]) == ("prc",)
    for bad, needle in (("is,kld", "unknown image metric 'kld'; valid: fid, is, kid, prc"), (" , ", "no image")):
        with pytest.raises(UserError) as excinfo:
            parse_metrics(bad)
        assert needle in one_line_error(excinfo)
    assert registry.parts_needed(["is", "kid"]) == {"logits", "features"}
    assert registry.parts_needed(["is", "fid"], reference=True) == {"statistics"}  # IS compares with nothing
    with pytest.raises(ValueError):
        registry.register_metric("is", "again", needs=("logits",), reference=False, keys=())(lambda *a: {})


def test_every_result_says_how_it_was_measured():
    rng = np.random.default_rng(0)
    gen, real = rng.normal(size=(30, 4)), rng.normal(size=(20, 4))
    out = kid(gen, real, kid_subsets=3, kid_subset_size=1000)
    assert out["metrics"] == ["kid"] and out["n_samples"] == 30 and out["ref_n"] == 20 and out["ref_split"] == "test"
    assert out["kid_subsets"] == 3 and out["kid_subset_size"] == 20  # lowered to the smaller set, and said so
    with pytest.raises(UserError) as excinfo:
        compute_metrics(["kid"], feats(gen), {"mu": np.zeros(4), "sigma": np.eye(4), "n": 5})
    assert "need the reference features" in one_line_error(excinfo)


# ---------------------------------------------------------------------------------------------- KID


def test_kid_hand_computed_case():
    # d = 1, k(x, y) = (x·y/1 + 1)³. X = {0, 1}: k(0,1) = 1, off-diagonal sum 2. Y = {2, 3}: k(2,3) = 7³ = 343,
    # off-diagonal sum 686. Cross: k(0,2) = k(0,3) = 1, k(1,2) = 27, k(1,3) = 64, sum 93.
    # Unbiased MMD² = (2 + 686)/(2·1) − 2·93/(2·2) = 344 − 46.5 = 297.5, for every subset (each is the whole set).
    out = kid([[0.0], [1.0]], [[2.0], [3.0]], kid_subsets=4, kid_subset_size=2)
    assert out["kid_mean"] == pytest.approx(297.5, rel=1e-14) and out["kid_std"] == pytest.approx(0.0, abs=1e-12)


def test_kid_of_a_set_with_itself_is_its_closed_form_near_zero():
    # X = Y, subsets of all m images: MMD²_u = 2·S_off/(m(m−1)) − 2·(S_off + S_diag)/m² = 2(ō − d̄)/m, with ō and d̄
    # the mean off-diagonal and diagonal kernel values: O(1/m), not exactly 0.
    rng = np.random.default_rng(1)
    m, d = 40, 6
    x = rng.normal(size=(m, d))
    k = (x @ x.T / d + 1.0) ** 3
    off, diag = (k.sum() - np.trace(k)) / (m * (m - 1)), np.trace(k) / m
    out = kid(x, x, kid_subsets=5, kid_subset_size=m)
    assert out["kid_mean"] == pytest.approx(2 * (off - diag) / m, rel=1e-10)
    assert abs(out["kid_mean"]) < 2 * np.abs(k).max() / m
    far = kid(x, x + 3.0, kid_subsets=5, kid_subset_size=m)["kid_mean"]  # a shifted copy is far away
    assert far > 100 * abs(out["kid_mean"])


# ---------------------------------------------------------------------------------------------- precision/recall


def test_precision_recall_identical_and_disjoint_sets():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 5))
    same = prc(x, x, 3)
    assert (same["precision"], same["recall"], same["prc_neighborhood"]) == (1.0, 1.0, 3)
    apart = prc(x + 1000.0, x, 3)  # no generated image inside any real ball, and the reverse
    assert (apart["precision"], apart["recall"]) == (0.0, 0.0)


def test_precision_recall_hand_computed_case():
    # 1-D, k = 1. Real {0, 1, 10, 11}: each real ball has radius 1 (its nearest real neighbour).
    # Generated {0.5, 2.5, 3}: radii 2 (0.5 → 2.5), 0.5 (2.5 → 3), 0.5 (3 → 2.5).
    # Precision: 0.5 is within 1 of 0; 2.5 and 3 are ≥ 1.5 from every real image → 1/3.
    # Recall: 0 and 1 are within 2 of 0.5; 10 and 11 are 7 and 8 from 3 (radius 0.5), 9.5, 10.5 from 0.5 → 2/4.
    out = prc([[0.5], [2.5], [3.0]], [[0.0], [1.0], [10.0], [11.0]], 1)
    assert out["precision"] == pytest.approx(1 / 3, rel=1e-7) and out["recall"] == pytest.approx(0.5, rel=1e-7)
    with pytest.raises(UserError) as excinfo:
        prc([[0.5], [2.5], [3.0]], [[0.0], [1.0], [10.0], [11.0]], 3)  # k must be below each set's size
    assert "prc_neighborhood" in one_line_error(excinfo)


# ---------------------------------------------------------------------------------------------- one pass, all metrics


class CountingExtractor(FakeExtractor):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return super().forward(x)


def test_one_inception_pass_serves_every_metric(tmp_path):
    extractor = CountingExtractor()
    images = [to_uint8(b) for b in (lambda s: [s(9), s(8), s(8)])(tanh_sampler(0))]
    reference = reference_statistics(
        torch.cat(images), extractor, tmp_path, "a" * 64, "b" * 64, batch_size=9, progress=False, features=True,
        split="train",
    )  # fmt: skip
    extractor.calls = 0
    options = MetricOptions(is_splits=5, kid_subsets=3, kid_subset_size=25)
    out = evaluate_generator(tanh_sampler(0), 25, 10, extractor, reference, "is,fid,kid,prc", options=options,
                             progress=False)  # fmt: skip
    assert extractor.calls == 3  # three batches, one network pass each, for all four metrics
    assert out["ref_split"] == "train" and out["ref_n"] == 25 and out["n_samples"] == 25
    # the same images as the reference: FID 0, precision = recall = 1, KID its closed form 2(ō − d̄)/m
    f = inception_features(extractor, images, features=True, logits=False, progress=False).features.double().numpy()
    k = (f @ f.T / f.shape[1] + 1.0) ** 3
    m = len(f)
    expected_kid = 2 * ((k.sum() - np.trace(k)) / (m * (m - 1)) - np.trace(k) / m) / m
    assert abs(out["fid"]) < 1e-9 and out["precision"] == 1.0 and out["recall"] == 1.0
    assert out["kid_mean"] == pytest.approx(expected_kid, rel=1e-9)
    # the cache keeps the features: read back equal, and a cache without them is recomputed for KID
    again = reference_statistics(torch.cat(images), extractor, tmp_path, "a" * 64, "b" * 64, progress=False,
                                 features=True, split="train")  # fmt: skip
    assert again["from_cache"] and torch.equal(again["features"], reference["features"])
    other = reference_statistics(torch.cat(images), extractor, tmp_path / "b", "c" * 64, "b" * 64, progress=False)
    assert "features" not in other
    redo = reference_statistics(torch.cat(images), extractor, tmp_path / "b", "c" * 64, "b" * 64, progress=False,
                                features=True)  # fmt: skip
    assert not redo["from_cache"] and torch.equal(redo["features"], reference["features"])


def test_the_config_knows_the_registered_names():
    from gan_train import config, evaluate

    assert config.IMAGE_METRIC_NAMES == registry.metric_names()  # config.py names them without importing torch
    assert config.REFERENCE_SPLITS == evaluate.REFERENCE_SPLITS
