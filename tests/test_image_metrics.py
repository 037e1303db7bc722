"""Inception Score and FID: the maths on known answers, the streaming statistics, the reference cache,
and torch-fidelity's InceptionV3 end to end with random weights (no download, ever)."""

from __future__ import annotations

import argparse
import hashlib
import io
import socket

import numpy as np
import pytest
import torch

from gan_train.metrics import frechet, inception
from gan_train.metrics.frechet import frechet_distance
from gan_train.metrics.inception import (
    WEIGHTS_FILENAME,
    evaluate_generator,
    inception_features,
    load_inception,
    to_uint8,
)
from gan_train.metrics.inception_score import inception_score
from gan_train.metrics.reference import array_sha256, file_sha256, reference_statistics
from stability.util.errors import UserError

ROUTES = frechet.METHODS


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message, f"not a one-line message: {message!r}"
    return message


def rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


# ---------------------------------------------------------------- Fréchet distance


@pytest.mark.parametrize("method", ROUTES)
def test_fid_diagonal_covariances_match_closed_form(method):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3.0, 7), rng.uniform(0.1, 3.0, 7)
    m1, m2 = rng.standard_normal(7), rng.standard_normal(7)
    exact = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((m1 - m2) ** 2)
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b), method=method) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("method", ROUTES)
def test_fid_one_dimension(method):
    # d = 1: (m1 - m2)^2 + (sqrt(a) - sqrt(b))^2 = 9 + (2 - 3)^2
    assert frechet_distance([1.0], [[4.0]], [4.0], [[9.0]], method=method) == pytest.approx(10.0, rel=1e-14)


@pytest.mark.parametrize("method,rel", [("eigh", 1e-11), ("sqrtm", 1e-7), ("torch-fidelity", 1e-7)])
def test_fid_commuting_covariances_match_closed_form(method, rel):
    d = 60
    q = rotation(d, 1)
    rng = np.random.default_rng(1)
    a = np.logspace(0, -6, d) * rng.uniform(0.5, 1.5, d)
    b = a * rng.uniform(0.7, 1.4, d)
    m1 = rng.standard_normal(d)
    m2 = m1 + 0.01 * rng.standard_normal(d)
    exact = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((m1 - m2) ** 2)
    got = frechet_distance(m1, (q * a) @ q.T, m2, (q * b) @ q.T, method=method)
    assert got == pytest.approx(exact, rel=rel)


def test_fid_rank_deficient_commuting_eigh_is_exact():
    # Half of C1's eigenvalues are 0: the eigh route still meets the closed form; sqrtm is looser.
    d = 64
    q = rotation(d, 2)
    rng = np.random.default_rng(2)
    a = np.logspace(0, -5, d) * rng.uniform(0.5, 1.5, d)
    b = a * rng.uniform(0.7, 1.4, d)
    a[d // 2 :] = 0.0
    m = rng.standard_normal(d)
    exact = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    assert frechet_distance(m, s1, m, s2, method="eigh") == pytest.approx(exact, rel=1e-10)
    assert frechet_distance(m, s1, m, s2, method="sqrtm") == pytest.approx(exact, rel=1e-4)


def test_fid_random_full_case_routes_agree():
    rng = np.random.default_rng(3)
    d = 80
    x1 = rng.standard_normal((400, d)) @ rng.standard_normal((d, d))
    x2 = rng.standard_normal((400, d)) @ rng.standard_normal((d, d)) + 0.5
    stats = (x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    ref = frechet.frechet_distance_sqrtm(*stats)
    assert ref > 1.0
    assert frechet.frechet_distance_eigh(*stats) == pytest.approx(ref, rel=1e-10)
    assert frechet.frechet_distance_torch_fidelity(*stats) == pytest.approx(ref, rel=1e-10)
    assert frechet_distance(*stats) == frechet.frechet_distance_eigh(*stats)  # the default route


@pytest.mark.parametrize("method", ROUTES)
def test_fid_of_identical_gaussians_is_zero(method):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 30)) @ rng.standard_normal((30, 30))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    assert abs(frechet_distance(mu, sigma, mu, sigma, method=method)) < 1e-9 * np.trace(sigma)


def test_fid_default_route_is_the_benchmarked_one():
    assert frechet.DEFAULT_METHOD == "eigh"
    with pytest.raises(UserError) as excinfo:
        frechet_distance([0.0], [[1.0]], [0.0], [[1.0]], method="svd")
    assert "valid: eigh, sqrtm, torch-fidelity" in one_line_error(excinfo)


@pytest.mark.parametrize(
    "args,needle",
    [
        (([[0.0]], [[1.0]], [0.0], [[1.0]]), "mu1 must be 1-D"),
        (([0.0, 0.0], np.eye(2), [0.0], [[1.0]]), "different lengths"),
        (([0.0, 0.0], np.eye(2), [0.0, 0.0], np.ones((2, 3))), "sigma2 must be (2, 2)"),
        (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), "sigma1 must be (2, 2)"),
        (([0.0, np.nan], np.eye(2), [0.0, 0.0], np.eye(2)), "mu1 has 1 non-finite"),
        (([0.0, 0.0], np.eye(2), [0.0, 0.0], np.diag([1.0, np.inf])), "sigma2 has 1 non-finite"),
        (([], np.zeros((0, 0)), [], np.zeros((0, 0))), "empty"),
        ((["a"], [[1.0]], [0.0], [[1.0]]), "mu1 is not a numeric array"),
    ],
)
def test_fid_rejects_bad_statistics(args, needle):
    for method in ROUTES:
        with pytest.raises(UserError) as excinfo:
            frechet_distance(*args, method=method)
        assert needle in one_line_error(excinfo)


# ---------------------------------------------------------------- Inception Score maths


def one_hot(labels, k):
    return np.eye(k)[np.asarray(labels)]


def test_is_of_one_hot_predictions_spread_over_k_classes_is_k():
    k, splits = 7, 3
    p = one_hot(np.tile(np.arange(k), splits), k)  # each split holds every class once
    assert inception_score(p, splits=splits, probs=True, shuffle=False) == pytest.approx((k, 0.0), abs=1e-12)
    assert inception_score(p, splits=1, probs=True) == pytest.approx((k, 0.0), abs=1e-12)
    # through torch-fidelity's function: logits that are one-hot up to e^-60
    assert inception_score(60.0 * p, splits=splits, shuffle=False) == pytest.approx((k, 0.0), abs=1e-9)


def test_is_of_identical_predictions_is_one():
    p = np.tile([0.2, 0.5, 0.3], (12, 1))
    assert inception_score(p, splits=4, probs=True) == pytest.approx((1.0, 0.0), abs=1e-12)
    logits = np.tile([1.0, -2.0, 0.5, 3.0], (12, 1))
    assert inception_score(logits, splits=4) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_is_hand_computed_case():
    # p1 = (1/2, 1/2), p2 = (1, 0): marginal (3/4, 1/4);
    # KL(p1||q) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3), KL(p2||q) = ln(4/3); IS = exp(3/4 ln(4/3)).
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    expected = (4.0 / 3.0) ** 0.75
    assert inception_score(p, splits=1, probs=True) == pytest.approx((expected, 0.0), rel=1e-14)
    assert inception_score(np.log(np.array([[0.5, 0.5], [1.0, 1e-300]])), splits=1)[0] == pytest.approx(expected)


def test_is_mean_and_std_over_splits():
    # split 1: one-hot over 2 classes (IS 2); split 2: identical predictions (IS 1) -> 1.5 ± 0.5
    p = np.concatenate([one_hot([0, 1, 0, 1], 2), np.tile([0.5, 0.5], (4, 1))])
    assert inception_score(p, splits=2, probs=True, shuffle=False) == pytest.approx((1.5, 0.5), rel=1e-12)


def test_is_probs_route_matches_torch_fidelity_on_softmax():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(50, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    ours = inception_score(logits, splits=5)
    theirs = isc_features_to_metric(logits, splits=5, shuffle=True, rng_seed=2020)
    assert ours == (theirs["inception_score_mean"], theirs["inception_score_std"])
    assert inception_score(logits.softmax(1), splits=5, probs=True) == pytest.approx(ours, rel=1e-12)


@pytest.mark.parametrize(
    "x,kwargs,needle",
    [
        (np.ones(5), {}, "(N, classes)"),
        (np.ones((3, 4)), {"splits": 4}, "1 <= splits <= number of samples (3)"),
        (np.ones((3, 4)), {"splits": 0}, "splits"),
        (np.array([[0.5, 0.5], [1.5, -0.5]]), {"splits": 1, "probs": True}, "non-negative"),
        (np.array([[0.5, 0.6]]), {"splits": 1, "probs": True}, "sum to 1"),
        (np.array([[0.0, np.nan]]), {"splits": 1}, "NaN"),
    ],
)
def test_is_rejects_bad_input(x, kwargs, needle):
    with pytest.raises(UserError) as excinfo:
        inception_score(x, **kwargs)
    assert needle in one_line_error(excinfo)


# ---------------------------------------------------------------- images to uint8


def test_to_uint8_follows_torch_fidelity_convention():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0])
    assert to_uint8(x).tolist() == [0, 0, 127, 254, 255, 255]  # 255 * (x.clamp(-1, 1) / 2 + 1/2), truncated
    assert to_uint8(np.array([0.0, 0.5, 1.0]), scale="unit").tolist() == [0, 127, 255]
    u = torch.arange(5, dtype=torch.uint8)
    assert to_uint8(u) is u
    with pytest.raises(UserError) as excinfo:
        to_uint8(torch.tensor([np.nan]))
    assert "NaN" in one_line_error(excinfo)
    with pytest.raises(UserError) as excinfo:
        to_uint8(x, scale="sigmoid")
    assert "valid: tanh, unit" in one_line_error(excinfo)
    with pytest.raises(UserError):
        to_uint8(torch.arange(3))  # int64 is neither


# ---------------------------------------------------------------- streaming statistics (a stand-in network)


class FakeExtractor(torch.nn.Module):
    """Same interface as torch-fidelity's extractor: uint8 (N, 3, H, W) in, a tuple in features_list order out."""

    features_list = ["2048", "logits_unbiased"]

    def __init__(self, dim: int = 12, classes: int = 9, offset: float = 0.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(3 * 4 * 4, dim, generator=g), requires_grad=False)
        self.head = torch.nn.Parameter(torch.randn(dim, classes, generator=g) / 4, requires_grad=False)
        self.offset = offset

    def forward(self, x):
        assert x.dtype == torch.uint8
        f = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1) @ self.proj + self.offset
        return f, f @ self.head


def random_images(n: int, seed: int = 0, size: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_streaming_mean_and_covariance_match_numpy():
    extractor = FakeExtractor(offset=1e3)  # a large mean: the first-batch shift keeps the digits
    images = random_images(37)
    batches = [images[:5], images[5:6], images[6:30], images[30:]]
    feats = inception_features(extractor, batches, total=37, progress=False)
    direct = extractor(images)[0].double().numpy()
    assert feats.n == 37
    np.testing.assert_allclose(feats.mu, direct.mean(0), rtol=1e-12)
    np.testing.assert_allclose(feats.sigma, np.cov(direct, rowvar=False), rtol=1e-9, atol=1e-12)
    assert feats.logits.shape == (37, 9) and feats.logits.dtype == torch.float32
    only_logits = inception_features(extractor, batches, statistics=False, progress=False)
    assert only_logits.mu is None and torch.equal(only_logits.logits, feats.logits)


def test_streaming_rejects_bad_batches():
    extractor = FakeExtractor()
    cases = [
        ([random_images(3).float()], "need uint8 images"),
        ([torch.zeros(2, 1, 8, 8, dtype=torch.uint8)], "(N, 3, H, W)"),
        ([], "no images"),
        ([random_images(1)], "at least 2 images"),
    ]
    for batches, needle in cases:
        with pytest.raises(UserError) as excinfo:
            inception_features(extractor, batches, progress=False)
        assert needle in one_line_error(excinfo)


def tanh_sampler(seed: int):
    g = torch.Generator().manual_seed(seed)
    calls = []

    def sample(b):
        calls.append(b)
        return torch.tanh(torch.randn(b, 3, 8, 8, generator=g))

    sample.calls = calls
    return sample


def test_evaluate_generator_with_a_stand_in_network():
    extractor = FakeExtractor()
    sample = tanh_sampler(0)
    same = tanh_sampler(0)
    ref = inception_features(extractor, (to_uint8(same(b)) for b in (9, 8, 8)), progress=False).statistics()
    out = evaluate_generator(sample, 25, 10, extractor, ref, splits=5, progress=False)
    assert sample.calls == [9, 8, 8]  # ⌈25/10⌉ = 3 batches of nearly equal size, not 10 + 10 + 5
    assert set(out) == {"metrics", "n_samples", "ref_split", "ref_n", "is_mean", "is_std", "is_splits", "fid"}
    assert out["n_samples"] == 25 and out["is_splits"] == 5 and out["metrics"] == ["is", "fid"]
    assert out["ref_n"] == 25 and out["ref_split"] is None  # statistics given without a split: none is claimed
    assert abs(out["fid"]) < 1e-9  # the same samples as the reference
    assert out["is_mean"] >= 1.0 and out["is_std"] >= 0.0
    only_is = evaluate_generator(tanh_sampler(1), 25, 10, extractor, metrics=("is",), splits=5, progress=False)
    assert set(only_is) == {"metrics", "n_samples", "is_mean", "is_std", "is_splits"}  # no reference: none recorded
    other = evaluate_generator(tanh_sampler(1), 25, 25, extractor, ref, metrics=["fid"], progress=False)
    assert other["fid"] > 0


def test_evaluate_generator_errors():
    extractor = FakeExtractor()
    ref = {"mu": np.zeros(12), "sigma": np.eye(12)}
    cases = [
        ({"metrics": ("is", "kld")}, "unknown image metric 'kld'; valid: fid, is, kid, prc"),
        ({"metrics": ()}, "no image metric"),
        ({"metrics": ("kid",)}, "need the reference features"),
        ({"reference_stats": None}, "reference statistics"),
        ({"extractor": None}, "needs an extractor"),
        ({"n_samples": 1}, "n_samples must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"splits": 30}, "splits <= n_samples (20)"),
        ({"sample_fn": lambda b: torch.zeros(b + 1, 3, 8, 8)}, "returned 6 images, not 5"),
    ]
    for override, needle in cases:
        kwargs = {"sample_fn": tanh_sampler(0), "n_samples": 20, "batch_size": 5, "extractor": extractor}
        kwargs |= {"reference_stats": ref, "splits": 2, "progress": False} | override
        with pytest.raises(UserError) as excinfo:
            evaluate_generator(**kwargs)
        assert needle in one_line_error(excinfo)


def test_evaluate_generator_refuses_more_samples_than_memory_holds(monkeypatch):
    monkeypatch.setattr(inception, "available_memory_bytes", lambda: 2**30)  # 1 GiB
    limit = (2**29) // inception.IS_BYTES_PER_SAMPLE
    sample = tanh_sampler(0)
    with pytest.raises(UserError) as excinfo:
        evaluate_generator(sample, 50_000, 100, FakeExtractor(), metrics=("is",), progress=False)
    message = one_line_error(excinfo)
    assert f"at most {limit} samples" in message and "50000×1008" in message
    assert sample.calls == []  # refused before drawing anything
    inception.check_is_memory(limit)  # exactly the limit is fine
    ref = {"mu": np.zeros(12), "sigma": np.eye(12)}
    out = evaluate_generator(sample, 20, 10, FakeExtractor(), ref, metrics=("fid",), progress=False)
    assert out["fid"] > 0 and "is_mean" not in out  # FID keeps no logits: no limit applies
    with pytest.raises(UserError) as excinfo:  # KID keeps the features: 24 KB a sample, 22k fit in 1 GiB / 2
        evaluate_generator(sample, 50_000, 100, FakeExtractor(), ref, metrics=("kid",), progress=False)
    assert f"at most {2**29 // inception.FEATURE_BYTES_PER_SAMPLE} samples" in one_line_error(excinfo)


def test_available_memory_is_positive():
    assert inception.available_memory_bytes() > 0


# ---------------------------------------------------------------- checksums and the reference cache


def test_checksums(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    t = np.asarray(a.transpose(0, 2, 1))  # not C-contiguous
    assert array_sha256(t) == array_sha256(np.ascontiguousarray(t))
    assert array_sha256(torch.from_numpy(a)) == array_sha256(a)
    assert array_sha256(a) != array_sha256(a.reshape(2, 4, 3))  # same bytes, other layout
    assert array_sha256(a) != array_sha256(a.astype(np.int8))
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 40_000  # 10 MB: more than one chunk
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(UserError) as excinfo:
        file_sha256(tmp_path / "nope")
    assert "no such file" in one_line_error(excinfo)


def test_reference_cache_hit_stale_corrupt_and_new_key(tmp_path, capsys):
    extractor = FakeExtractor()
    images = random_images(20).numpy()
    data_key, weights_key = array_sha256(images), "ab" * 32
    first = reference_statistics(images, extractor, tmp_path, data_key, weights_key, batch_size=7, progress=False)
    assert not first["from_cache"] and first["path"].is_file() and first["n"] == 20
    assert not list(tmp_path.glob(".*.tmp"))
    second = reference_statistics(images, extractor, tmp_path, data_key, weights_key, progress=False)
    assert second["from_cache"] and second["path"] == first["path"]
    np.testing.assert_array_equal(second["mu"], first["mu"])
    np.testing.assert_array_equal(second["sigma"], first["sigma"])
    assert capsys.readouterr().err.count("note:") == 0

    # another data checksum: another file, computed afresh
    other = random_images(20, seed=1).numpy()
    third = reference_statistics(other, extractor, tmp_path, array_sha256(other), weights_key, progress=False)
    assert not third["from_cache"] and third["path"] != first["path"]
    assert not np.allclose(third["mu"], first["mu"])

    # a stale file: the right name, another key inside
    with np.load(first["path"]) as z:
        fields = dict(z)
    fields["weights_checksum"] = np.str_("cd" * 32)
    np.savez(first["path"], **fields)
    again = reference_statistics(images, extractor, tmp_path, data_key, weights_key, progress=False)
    assert not again["from_cache"] and "stale (weights_checksum differs)" in capsys.readouterr().err
    assert reference_statistics(images, extractor, tmp_path, data_key, weights_key, progress=False)["from_cache"]

    # a corrupt file
    first["path"].write_bytes(b"not a zip at all")
    again = reference_statistics(images, extractor, tmp_path, data_key, weights_key, progress=False)
    assert not again["from_cache"] and "corrupt" in capsys.readouterr().err
    np.testing.assert_allclose(again["sigma"], first["sigma"], rtol=1e-12)
    assert reference_statistics(images, extractor, tmp_path, data_key, weights_key, progress=False)["from_cache"]


def test_reference_statistics_errors(tmp_path):
    extractor = FakeExtractor()
    images = random_images(4).numpy()
    good = "0" * 64
    cases = [
        ((images, extractor, tmp_path, "xyz", good), "data_checksum must be a lowercase hex digest"),
        ((images, extractor, tmp_path, good, None), "weights_checksum must be"),
        ((images.astype(np.float32), extractor, tmp_path, good, good), "must be uint8 (N, 3, H, W)"),
        ((images[:, :1], extractor, tmp_path, good, good), "must be uint8 (N, 3, H, W)"),
    ]
    for args, needle in cases:
        with pytest.raises(UserError) as excinfo:
            reference_statistics(*args, progress=False)
        assert needle in one_line_error(excinfo)


# ---------------------------------------------------------------- torch-fidelity's InceptionV3, end to end


def random_inception_state_dict(seed: int = 0) -> dict:
    """torch-fidelity's InceptionV3 with random weights, built without its loader ever running."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class NoLoad(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):
            return None  # keep the random initialisation

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    torch.manual_seed(seed)
    net = NoLoad("inception-v3-compat", ["2048"], feature_extractor_weights_path=empty)
    for module in net.modules():  # variance-preserving init, so features and logits are not ~0
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=3.0 / module.in_features**0.5)
    return net.state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    torch.save(random_inception_state_dict(), path)
    return path


@pytest.fixture
def offline(monkeypatch):
    """Any download or network connection fails the test."""
    import torch.hub
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(fe, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_inception_end_to_end_offline(weights_file, tmp_path, offline, capsys):
    extractor = load_inception(weights_file, "cpu")
    assert extractor.features_list == ["2048", "logits_unbiased"] and not extractor.training
    assert all(not p.requires_grad for p in extractor.parameters())

    images = random_images(6, seed=3, size=32)
    weights_key = file_sha256(weights_file)
    ref = reference_statistics(images, extractor, tmp_path, array_sha256(images), weights_key, batch_size=3)
    assert not ref["from_cache"] and ref["mu"].shape == (2048,) and ref["sigma"].shape == (2048, 2048)
    assert np.isfinite(ref["sigma"]).all() and ref["mu"].std() > 0

    with torch.no_grad():
        pool, logits = extractor(images)
    np.testing.assert_allclose(ref["mu"], pool.double().mean(0).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ref["sigma"], np.cov(pool.double().numpy(), rowvar=False), rtol=1e-4, atol=1e-7)

    cached = reference_statistics(images, extractor, tmp_path, array_sha256(images), weights_key, batch_size=3)
    assert cached["from_cache"]
    np.testing.assert_array_equal(cached["sigma"], ref["sigma"])
    changed = reference_statistics(images, extractor, tmp_path, "f" * 64, weights_key, batch_size=3)
    assert not changed["from_cache"]

    g = torch.Generator().manual_seed(5)
    out = evaluate_generator(
        lambda b: torch.tanh(2 * torch.randn(b, 3, 32, 32, generator=g)), 6, 3, extractor, ref, splits=2, progress=False
    )
    assert np.isfinite([out["is_mean"], out["is_std"], out["fid"]]).all()
    assert out["is_mean"] > 1.0 and out["fid"] > 0.0
    assert inception_score(logits, splits=1)[0] > 1.0
    # FID between the two reference sets: every route agrees on these rank-5 covariances
    other = random_images(6, seed=4, size=32)
    second = reference_statistics(other, extractor, tmp_path, array_sha256(other), weights_key, progress=False)
    values = [frechet_distance(ref["mu"], ref["sigma"], second["mu"], second["sigma"], method=m) for m in ROUTES]
    # (√ of a rank-5 2048×2048 product is ill-conditioned: the routes differ by ~1e-6 relative, varying with BLAS)
    assert values[0] > 0 and values == pytest.approx([values[0]] * 3, rel=1e-5)
    capsys.readouterr()


def test_no_download_guard_stops_torch_fidelity_downloading(offline):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with inception.no_download(), pytest.raises(UserError) as excinfo:
        FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=None)
    assert "tried to download" in one_line_error(excinfo) and WEIGHTS_FILENAME in str(excinfo.value)


def test_load_inception_missing_file(tmp_path, offline):
    # a path given: never a download; the message names the file, the URL and torch-fidelity's cache
    # (no path at all: torch-fidelity's cache and download, tests/test_downloads.py)
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    with pytest.raises(UserError) as excinfo:
        load_inception(tmp_path / WEIGHTS_FILENAME)
    message = one_line_error(excinfo)
    assert str(tmp_path / WEIGHTS_FILENAME) in message and URL_INCEPTION_V3 in message
    assert str(inception.weights_cache_path()) in message


def test_load_inception_wrong_kind_of_file(tmp_path, weights_file, offline):
    text = tmp_path / "weights.txt"
    text.write_text("these are not weights\n")
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.randn(3), tensor)
    other_net = tmp_path / "linear.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other_net)
    pickled = tmp_path / "namespace.pth"
    torch.save(argparse.Namespace(a=1), pickled)
    state = torch.load(weights_file, weights_only=True)
    reshaped = tmp_path / "reshaped.pth"
    torch.save({**state, "fc.weight": torch.zeros(10, 2048)}, reshaped)
    damaged = tmp_path / "damaged.pth"
    torch.save({**state, "fc.weight": torch.full((1008, 2048), float("nan"))}, damaged)
    cases = [
        (text, "cannot be read as a PyTorch state dict"),
        (pickled, "cannot be read as a PyTorch state dict"),
        (tensor, "not a state dict of torch-fidelity's InceptionV3 (it holds a Tensor)"),
        (other_net, "tensors missing"),
        (other_net, "2 unexpected keys (bias, weight)"),
        (reshaped, "1 of the wrong shape (fc.weight: (10, 2048), expected (1008, 2048))"),
        (damaged, "hold NaN or inf (fc.weight)"),
        (tmp_path, "weights not found"),  # a folder
    ]
    for path, needle in cases:
        with pytest.raises(UserError) as excinfo:
            load_inception(path)
        message = one_line_error(excinfo)
        assert needle in message, message


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_load_inception_cuda_absent(weights_file):
    with pytest.raises(UserError) as excinfo:
        load_inception(weights_file, "cuda")
    assert "CUDA is not available" in one_line_error(excinfo)
