"""Inception Score and FID of image generators through torch-fidelity, offline.

The network is torch-fidelity's InceptionV3 (registered as ``inception-v3-compat``:
the TensorFlow 2015-12-05 graph ported to PyTorch, with TensorFlow 1.x's bilinear
resize to 299×299 and its pooling quirks, so scores are comparable to the
published ones). It is built from a LOCAL weights file only:

- :func:`load_inception` checks the file (``torch.load(..., weights_only=True)``:
  plain tensors only, no code run; the keys and shapes of the network), then
  builds the extractor with torch-fidelity's own factory
  ``torch_fidelity.utils.create_feature_extractor`` and its
  ``feature_extractor_weights_path`` argument. torch-fidelity downloads only when
  that argument is ``None`` (``FeatureExtractorInceptionV3.__init__``:
  ``if feature_extractor_weights_path is None: ... load_state_dict_from_url(URL_INCEPTION_V3)
  else: state_dict = torch.load(feature_extractor_weights_path, weights_only=False)``);
  a path is always passed here, and while the extractor is built torch-fidelity's
  ``load_state_dict_from_url`` is replaced by a function that raises, so no version
  of it can fetch anything behind our back.
- :func:`inception_features` streams uint8 image batches through it under
  ``torch.no_grad()``: the 2048-d pool features are folded into a float64 sum and
  sum of outer products (mean and covariance without keeping the features, as
  stylegan3's ``FeatureStats`` does; shifted by the first batch's mean so that the
  subtraction at the end cancels no digits), the 1008 ``logits_unbiased`` kept for IS,
  and the pool features themselves kept (float32) when KID or precision/recall need them.
- the Inception Score from logits is :func:`gan_train.metrics.inception_score.inception_score`.
- :func:`evaluate_generator` draws samples, and returns the metrics of the registry
  (:mod:`gan_train.metrics.registry`: IS, FID, KID, precision/recall) from one pass,
  against reference statistics (:mod:`gan_train.metrics.reference`).

Without a weights path, :func:`load_inception` takes the file from torch-fidelity's own
cache (``torch.hub``'s checkpoints folder, where torch-fidelity's ``load_state_dict_from_url``
keeps it), downloading it there from torch-fidelity's release URL when it is missing
(:func:`cached_weights`); the file is checked the same way before anything is built.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from stability.util.errors import UserError, unknown_name

#: The weights file the user must fetch (pytorch-fid's name for the converted TF 2015-12-05 graph).
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
#: The same weights as torch-fidelity's GitHub release names them.
TORCH_FIDELITY_WEIGHTS_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
#: torch-fidelity's registered name of the network.
EXTRACTOR_NAME = "inception-v3-compat"
#: The feature layers extracted: the 2048-d pool features (FID) and the unbiased logits (IS).
FEATURES = ("2048", "logits_unbiased")
POOL_FEATURES, LOGITS = FEATURES
#: Width of the logits (torch-fidelity's InceptionV3 has 1008 classes).
NUM_LOGITS = 1008
#: Bytes per sample the Inception Score needs at its peak: the float32 logits kept, torch-fidelity's
#: shuffled float32 copy, and its float64 copy, softmax and log-softmax (4 + 4 + 3×8 per logit).
IS_BYTES_PER_SAMPLE = NUM_LOGITS * 32
#: Fraction of the available memory the logits may take (the rest is left to the network and the data).
MEMORY_FRACTION = 0.5
#: Bytes per sample of the kept pool features at their peak: float32 as kept, and KID's float64 copy (4 + 8 per dim).
FEATURE_BYTES_PER_SAMPLE = 2048 * 12
SCALES = ("tanh", "unit")


def _weights_url() -> str:
    """torch-fidelity's release URL of the weights (read when needed, so that a test can point it elsewhere)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    return fe.URL_INCEPTION_V3


def weights_cache_path() -> Path:
    """Where torch-fidelity's own download keeps the weights: ``torch.hub``'s checkpoints folder
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), under the URL's file name."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(_weights_url()).path).name


def _weights_hint() -> str:
    return (
        f"fetch {_weights_url()} (the same weights as pytorch-fid's {WEIGHTS_FILENAME}) and pass its path, or pass "
        f"no path to use torch-fidelity's cached copy ({weights_cache_path()}), downloaded when missing"
    )


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def no_download() -> Iterator[None]:
    """While active, torch-fidelity's InceptionV3 cannot fetch weights: its downloader raises instead."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def refuse(url: str, *args: Any, **kwargs: Any) -> Any:
        raise UserError(f"torch-fidelity tried to download {url}; {_weights_hint()}")

    saved = fe.load_state_dict_from_url
    fe.load_state_dict_from_url = refuse
    try:
        yield
    finally:
        fe.load_state_dict_from_url = saved


@functools.cache
def expected_state_shapes() -> dict[str, tuple[int, ...]]:
    """Key → shape of the state dict torch-fidelity's InceptionV3 loads (from a weightless meta-device copy)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    class _Skeleton(FEATURE_EXTRACTORS_REGISTRY[EXTRACTOR_NAME]):
        def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
            return None  # a skeleton: its parameters stay unallocated meta tensors

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with torch.device("meta"), no_download():
        skeleton = _Skeleton(EXTRACTOR_NAME, list(FEATURES), feature_extractor_weights_path=empty)
    return {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}


def _examples(keys: Iterable[str], n: int = 2) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (", …" if len(keys) > n else "")


def check_state_dict(state: Any, path: str | os.PathLike) -> None:
    """A one-line :class:`UserError` unless ``state`` is a state dict of torch-fidelity's InceptionV3.

    ``*.num_batches_tracked`` buffers may be absent (older files; unused in eval mode).
    """
    what = f"{path} is not a state dict of torch-fidelity's InceptionV3"
    if not isinstance(state, Mapping):
        raise UserError(f"{what} (it holds a {type(state).__name__}); expected {WEIGHTS_FILENAME}")
    expected = expected_state_shapes()
    keys = {k for k in state if isinstance(k, str)}
    missing = {k for k in expected if k not in keys and not k.endswith(".num_batches_tracked")}
    unexpected = set(state) - set(expected)
    wrong = {
        k: tuple(state[k].shape) if torch.is_tensor(state[k]) else type(state[k]).__name__
        for k in set(expected) & keys
        if not torch.is_tensor(state[k]) or tuple(state[k].shape) != expected[k]
    }
    problems = []
    if missing:
        problems.append(f"{len(missing)} of its {len(expected)} tensors missing ({_examples(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_examples(map(str, unexpected))})")
    if wrong:
        k = sorted(wrong)[0]
        problems.append(f"{len(wrong)} of the wrong shape ({k}: {wrong[k]}, expected {expected[k]})")
    if problems:
        raise UserError(f"{what}: {'; '.join(problems)}; expected {WEIGHTS_FILENAME}")
    bad = [k for k in expected if k in keys and state[k].is_floating_point() and not torch.isfinite(state[k]).all()]
    if bad:
        raise UserError(f"{what}: {len(bad)} tensors hold NaN or inf ({_examples(bad)}); the file is damaged")


def checked_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device, or a one-line :class:`UserError` (not a device name; CUDA asked for and absent)."""
    try:
        device = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise UserError(f"not a torch device: {device!r} ({_first_line(exc)})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device} was asked for, but CUDA is not available here; use 'cpu'")
    return device


def check_weights_file(path: str | os.PathLike) -> Path:
    """``path`` if it holds the InceptionV3 weights torch-fidelity's network loads; else a one-line :class:`UserError`.

    The file is read with ``torch.load(..., weights_only=True)`` (plain tensors only, no code run) and its keys,
    shapes and values are checked (:func:`check_state_dict`): a missing, truncated or foreign file is refused here,
    before a run trains for hours toward its first evaluation.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"InceptionV3 weights not found at {path}: {_weights_hint()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # text files, other pickles, damaged zips: all one message
        raise UserError(
            f"{path} cannot be read as a PyTorch state dict ({_first_line(exc)}); expected {WEIGHTS_FILENAME}"
        ) from None
    check_state_dict(state, path)
    return path


def cached_weights(progress: bool = True) -> Path:
    """torch-fidelity's cached weights file (:func:`weights_cache_path`), downloaded there first when missing.

    The download goes to a temporary name beside the cache file (``torch.hub.download_url_to_file``, which itself
    writes a ``.partial`` file and removes it on failure); it is checked (:func:`check_weights_file`) and only then
    renamed into place, so an interrupted or foreign download leaves nothing behind and is tried afresh next time.

    Raises:
        UserError: no network (the message says which file to put where), or a download that is not the weights.
    """
    import http.client
    import urllib.error
    import uuid

    import torch.hub

    path = weights_cache_path()
    if path.is_file():
        return path
    url = _weights_url()
    offline = f"offline, fetch {url} elsewhere and put it at {path}, or pass a local copy (--inception-weights PATH)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create torch-fidelity's weights cache {path.parent} ({_first_line(exc)})") from None
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.download")
    try:
        try:
            print(f"ganstab: note: downloading the InceptionV3 weights {url} to {path}", file=sys.stderr)
            torch.hub.download_url_to_file(url, str(partial), progress=progress)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise UserError(f"cannot download the InceptionV3 weights ({_first_line(exc)}); {offline}") from None
        try:
            check_weights_file(partial)
        except UserError as exc:
            raise UserError(
                f"the download of {url} is not the InceptionV3 weights (interrupted, or the server sent something "
                f"else): {str(exc).replace(str(partial), 'it')}; nothing was kept"
            ) from None
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return path


def resolve_weights(weights_path: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The checked weights file: ``weights_path``, or torch-fidelity's cached copy when it is ``None`` or empty.

    Raises:
        UserError: see :func:`check_weights_file` and :func:`cached_weights`.
    """
    if weights_path is None or str(weights_path) == "":
        path = cached_weights(progress)
        try:
            return check_weights_file(path)
        except UserError as exc:
            raise UserError(f"{exc} (torch-fidelity's cached copy: delete it to download it again)") from None
    return check_weights_file(weights_path)


def build_inception(path: str | os.PathLike, device: str | torch.device | None = "cpu") -> torch.nn.Module:
    """torch-fidelity's InceptionV3 feature extractor from a file :func:`check_weights_file` has passed.

    Built by torch-fidelity's own factory with ``feature_extractor_weights_path`` set, while its downloader is
    replaced by one that raises (:func:`no_download`): no version of it can fetch anything behind our back.
    """
    device = checked_device(device)
    from torch_fidelity.utils import create_feature_extractor

    try:
        with no_download():
            extractor = create_feature_extractor(
                EXTRACTOR_NAME,
                list(FEATURES),
                cuda=False,
                feature_extractor_weights_path=str(path),
                feature_extractor_compile=False,
                verbose=False,
            )
    except UserError:
        raise
    except Exception as exc:  # torch-fidelity's own (strict) load refused the file after all
        raise UserError(
            f"torch-fidelity could not load {path} ({_first_line(exc)}); expected {WEIGHTS_FILENAME}"
        ) from None
    return extractor.to(device)


def load_inception(
    weights_path: str | os.PathLike | None = None, device: str | torch.device | None = "cpu", progress: bool = True
) -> torch.nn.Module:
    """torch-fidelity's InceptionV3 feature extractor (``inception-v3-compat``, features ``2048`` and
    ``logits_unbiased``) in eval mode without gradients, on ``device``.

    Args:
        weights_path: a local ``pt_inception-2015-12-05-6726825d.pth`` (never downloads), or ``None``/``""`` for
            torch-fidelity's cached copy, downloaded when missing (:func:`cached_weights`).
        device: where the network runs.
        progress: a download's progress bar.

    Raises:
        UserError: the file is missing, unreadable as a plain-tensor state dict, or not one of this
            network (missing keys, foreign keys, wrong shapes, non-finite values); no network for a download;
            CUDA asked for and absent.
    """
    device = checked_device(device)
    return build_inception(resolve_weights(weights_path, progress), device)


def to_uint8(x: Any, scale: str = "tanh") -> torch.Tensor:
    """Float images as torch-fidelity's InceptionV3 wants them: uint8 in [0, 255], same shape, on the CPU
    or the input's device.

    Args:
        x: images (tensor or array); uint8 input is returned as it is.
        scale: ``"tanh"`` for values in [-1, 1] (a tanh generator), ``"unit"`` for [0, 1].
            The map is torch-fidelity's own (its ``examples/sngan_cifar10.py`` generator):
            ``(255 * (x.clamp(-1, 1) * 0.5 + 0.5)).to(torch.uint8)``, which truncates; ``"unit"``
            is ``(255 * x.clamp(0, 1)).to(torch.uint8)``.
    """
    if scale not in SCALES:
        raise unknown_name("image scale", scale, SCALES)
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise UserError(f"images must be uint8 or floating point, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise UserError("images hold NaN or inf; cannot convert them to uint8")
    if scale == "tanh":
        return (255 * (x.clamp(-1, 1) * 0.5 + 0.5)).to(torch.uint8)
    return (255 * x.clamp(0, 1)).to(torch.uint8)


def _as_image_batch(batch: Any) -> torch.Tensor:
    x = torch.as_tensor(batch)
    if x.dtype != torch.uint8:
        raise UserError(f"Inception features need uint8 images, got {x.dtype}; convert them with to_uint8(x, scale)")
    if x.dim() != 4 or x.shape[1] != 3:
        raise UserError(f"Inception features need images shaped (N, 3, H, W), got {tuple(x.shape)}")
    return x


@dataclass
class InceptionFeatures:
    """What :func:`inception_features` accumulated.

    Attributes:
        n: number of images.
        mu: mean of the 2048-d pool features, float64 (``None`` when not asked for).
        sigma: their covariance, float64, normalised by n − 1 as ``numpy.cov`` and
            torch-fidelity's ``fid_features_to_statistics`` do.
        logits: the ``logits_unbiased`` (n, 1008), float32 on the CPU (``None`` when not asked for).
        features: the 2048-d pool features (n, 2048), float32 on the CPU, for KID and precision/recall
            (``None`` when not asked for).
    """

    n: int
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    logits: torch.Tensor | None = None
    features: torch.Tensor | None = None

    def statistics(self) -> dict[str, Any]:
        return {"mu": self.mu, "sigma": self.sigma, "n": self.n}


def merge_features(parts: Sequence[InceptionFeatures]) -> InceptionFeatures:
    """The features of the images of all ``parts`` together, in order (the shards of a sharded evaluation).

    Means and covariances combine exactly (Chan, Golub and LeVeque's pairwise update): with n = Σ nᵢ and
    μ = Σ nᵢμᵢ / n, the scatter is Σ (nᵢ − 1)Σᵢ + Σ nᵢ(μᵢ − μ)(μᵢ − μ)ᵀ and Σ = scatter / (n − 1); logits are
    concatenated (and so are kept pool features), so the Inception Score's shuffle, the KID subsets and the
    splits see the images in the 1-process order.
    """
    parts = [p for p in parts if p is not None and p.n > 0]
    if not parts:
        raise UserError("no images were given to the Inception network")
    n = sum(p.n for p in parts)
    merged = InceptionFeatures(n=n)
    if all(p.mu is not None for p in parts):
        mu = sum(p.n * np.asarray(p.mu, dtype=np.float64) for p in parts) / n
        scatter = sum((p.n - 1) * np.asarray(p.sigma, dtype=np.float64) for p in parts)
        for p in parts:
            d = np.asarray(p.mu, dtype=np.float64) - mu
            scatter = scatter + p.n * np.outer(d, d)
        sigma = scatter / (n - 1)
        merged.mu, merged.sigma = mu, (sigma + sigma.T) * 0.5
    if all(p.logits is not None for p in parts):
        merged.logits = torch.cat([p.logits for p in parts])
    if all(p.features is not None for p in parts):
        merged.features = torch.cat([p.features for p in parts])
    return merged


def _extractor_device(extractor: torch.nn.Module) -> torch.device:
    for tensor in extractor.parameters():
        return tensor.device
    return torch.device("cpu")


def inception_features(
    extractor: torch.nn.Module,
    images_iter: Iterable[Any],
    *,
    total: int | None = None,
    statistics: bool = True,
    logits: bool = True,
    features: bool = False,
    progress: bool = True,
    desc: str = "Inception features",
) -> InceptionFeatures:
    """Stream batches of uint8 images (N, 3, H, W) through ``extractor`` (any size: it resizes to 299 itself).

    Args:
        extractor: from :func:`load_inception`.
        images_iter: an iterable of batches (tensors or arrays, uint8; see :func:`to_uint8`).
        total: the number of images, for the progress bar.
        statistics: accumulate the pool features' mean and covariance (FID).
        logits: keep the logits (IS).
        features: keep the pool features themselves (KID, precision/recall), float32 on the CPU.
        progress: a tqdm bar on stderr.
    """
    from tqdm import tqdm

    names = list(getattr(extractor, "features_list", ()))
    wanted = ([POOL_FEATURES] if statistics or features else []) + ([LOGITS] if logits else [])
    lacking = [name for name in wanted if name not in names]
    if lacking:
        raise UserError(f"the feature extractor does not produce {lacking} (it has {names}); use load_inception")
    device = _extractor_device(extractor)
    n = 0
    shift = total_sum = total_outer = None
    kept: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    with torch.no_grad(), tqdm(total=total, desc=desc, unit="img", disable=not progress, file=sys.stderr) as bar:
        for batch in images_iter:
            x = _as_image_batch(batch)
            if len(x) == 0:
                continue
            out = dict(zip(names, extractor(x.to(device))))
            if statistics:
                f = out[POOL_FEATURES].to(torch.float64)
                if shift is None:
                    shift = f.mean(0)
                    total_sum = torch.zeros_like(shift)
                    total_outer = torch.zeros(len(shift), len(shift), dtype=torch.float64, device=f.device)
                f = f - shift
                total_sum += f.sum(0)
                total_outer.addmm_(f.T, f)
            if logits:
                kept.append(out[LOGITS].to(device="cpu", dtype=torch.float32))
            if features:
                pooled.append(out[POOL_FEATURES].to(device="cpu", dtype=torch.float32))
            n += len(x)
            bar.update(len(x))
    if n == 0:
        raise UserError("no images were given to the Inception network")
    result = InceptionFeatures(n=n)
    if statistics:
        if n < 2:
            raise UserError("the covariance of the Inception features needs at least 2 images, got 1")
        mean_shifted = total_sum / n
        mu = (shift + mean_shifted).cpu().numpy()
        sigma = ((total_outer - n * torch.outer(mean_shifted, mean_shifted)) / (n - 1)).cpu().numpy()
        sigma = (sigma + sigma.T) * 0.5
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise UserError("the Inception features are not finite; are the weights the right ones?")
        result.mu, result.sigma = mu, sigma
    if logits:
        result.logits = torch.cat(kept)
        if not torch.isfinite(result.logits).all():
            raise UserError("the Inception logits are not finite; are the weights the right ones?")
    if features:
        result.features = torch.cat(pooled)
        if not torch.isfinite(result.features).all():
            raise UserError("the Inception features are not finite; are the weights the right ones?")
    return result


def available_memory_bytes() -> int:
    """RAM available now: ``os.sysconf`` free pages, or Linux's MemAvailable when larger.

    ``SC_AVPHYS_PAGES`` counts only free pages, not the page cache the kernel gives back on
    demand, so on Linux ``/proc/meminfo``'s MemAvailable (which does) is preferred when it is larger.
    """
    best = 0
    with contextlib.suppress(ValueError, OSError, AttributeError):
        best = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                best = max(best, int(line.split()[1]) * 1024)
                break
    return best


def max_is_samples(available: int | None = None) -> int:
    """How many samples' logits the Inception Score can hold in ``MEMORY_FRACTION`` of the available RAM."""
    available = available_memory_bytes() if available is None else available
    return int(available * MEMORY_FRACTION) // IS_BYTES_PER_SAMPLE


def check_memory(n_samples: int, parts: set[str] | frozenset[str]) -> None:
    """A one-line :class:`UserError` when what the metrics keep of ``n_samples`` images cannot be held in memory.

    ``parts`` are those of :data:`gan_train.metrics.registry.PARTS`: the logits (n × 1008 floats, IS) and the
    pool features (n × 2048, KID and precision/recall) grow with n; the statistics (FID) do not.
    """
    per_sample = IS_BYTES_PER_SAMPLE * ("logits" in parts) + FEATURE_BYTES_PER_SAMPLE * ("features" in parts)
    available = available_memory_bytes()
    if not per_sample or available <= 0:
        return  # nothing grows with n, or unknown memory: do not refuse on a guess
    limit = int(available * MEMORY_FRACTION) // per_sample
    if n_samples > limit:
        gib = 2.0**30
        kept = " and ".join(
            what
            for part, what in (("logits", f"its logits ({n_samples}×{NUM_LOGITS} floats)"),
                               ("features", f"the pool features ({n_samples}×2048 floats)"))
            if part in parts
        )  # fmt: skip
        raise UserError(
            f"n_samples={n_samples} is too many for these metrics here: {kept}, ~{n_samples * per_sample / gib:.1f} "
            f"GiB at the peak, must be held in memory, and {available / gib:.1f} GiB is available, enough for at most "
            f"{limit} samples; lower n_samples"
        )


def check_is_memory(n_samples: int) -> None:
    """A one-line :class:`UserError` when ``n_samples``' logits (n × 1008 floats) cannot be held in memory."""
    check_memory(n_samples, {"logits"})


def _reference(reference_stats: Any) -> dict[str, Any] | None:
    """Reference statistics as a dict: from a dict, an ``np.load`` result, or an object with ``mu``/``sigma``."""
    if reference_stats is None:
        return None
    if hasattr(reference_stats, "files"):  # np.load(...) of a .npz
        return {name: reference_stats[name] for name in reference_stats.files}
    if hasattr(reference_stats, "mu") and hasattr(reference_stats, "sigma"):
        return {"mu": reference_stats.mu, "sigma": reference_stats.sigma, "n": getattr(reference_stats, "n", 0)}
    raise UserError("FID needs reference statistics with 'mu' and 'sigma' (see reference_statistics)")


def even_batches(n: int, batch_size: int) -> list[int]:
    """``n`` images in ⌈n / batch_size⌉ batches whose sizes differ by at most one (101 by 100: 51 + 50, not 100 + 1).

    A last batch of one image would fail in a generator with batch-statistics BatchNorm.
    """
    k = -(-n // batch_size)
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def evaluate_generator(
    sample_fn: Callable[[int], Any],
    n_samples: int = 50_000,
    batch_size: int = 100,
    extractor: torch.nn.Module | None = None,
    reference_stats: Mapping[str, Any] | None = None,
    metrics: str | Sequence[str] = ("is", "fid"),
    *,
    splits: int | None = None,
    scale: str = "tanh",
    fid_method: str | None = None,
    options: Any = None,
    progress: bool = True,
    world: Any = None,
    skip_fn: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The image metrics of a generator (:mod:`gan_train.metrics.registry`), from one Inception pass over
    ``n_samples`` images drawn in batches.

    The images come in :func:`even_batches` (a generator whose BatchNorm uses batch statistics, as Gulrajani's
    does, makes each image a function of its batch, so the batches are the same on every world size). Under
    torchrun (``world`` a :class:`~gan_train.distributed.World` of several processes) rank r makes batches
    [k·r/W, k·(r+1)/W) of the k — ``skip_fn(m)`` first moves its sampler past the m images before them — and the
    shards' features are gathered and merged (:func:`merge_features`); every rank returns the same numbers.

    Args:
        sample_fn: ``sample_fn(b)`` returns ``b`` images (N, 3, H, W): uint8, or floats in the
            range ``scale`` names (converted with :func:`to_uint8`).
        n_samples: images in all (50,000 is the usual for CIFAR-10).
        batch_size: images per call of ``sample_fn`` and per network pass.
        extractor: from :func:`load_inception`.
        reference_stats: for the metrics that compare (FID, KID, precision/recall), the reference images'
            ``{"mu", "sigma", "n", "split", "features"}``
            (:func:`gan_train.metrics.reference.reference_statistics`).
        metrics: registered names (``"is"``, ``"fid"``, ``"kid"``, ``"prc"``), or ``"is,fid"``.
        splits: IS splits (overrides ``options.is_splits``).
        fid_method: route of :func:`gan_train.metrics.frechet.frechet_distance` (overrides ``options.fid_method``).
        options: a :class:`~gan_train.metrics.registry.MetricOptions` (default: the papers' settings).
        world: the processes to shard over (``None`` or one process: no sharding).
        skip_fn: ``skip_fn(k)`` advances ``sample_fn``'s stream by k images (needed to shard).

    Returns:
        :func:`gan_train.metrics.registry.compute_metrics`'s record: ``metrics``, ``n_samples``, ``ref_split``,
        ``ref_n`` and each metric's values and counts (``is_mean``, ``is_std``, ``fid``, ``kid_mean``, ...).

    Raises:
        UserError: bad arguments, or more samples than the kept logits/features fit in memory (the message says
            how many do).
    """
    import dataclasses

    from gan_train.metrics.registry import MetricOptions, check_reference, compute_metrics, parse_metrics, parts_needed

    metrics = parse_metrics(metrics)
    options = options or MetricOptions()
    if splits is not None:
        options = dataclasses.replace(options, is_splits=splits)
    if fid_method is not None:
        options = dataclasses.replace(options, fid_method=fid_method)
    if extractor is None:
        raise UserError("evaluate_generator needs an extractor: load_inception(weights_path)")
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise UserError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if scale not in SCALES:
        raise unknown_name("image scale", scale, SCALES)
    parts = parts_needed(metrics)
    if "is" in metrics:
        splits = options.is_splits
        if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n_samples:
            raise UserError(f"the Inception Score needs 1 <= splits <= n_samples ({n_samples}), got {splits}")
    check_memory(int(n_samples), parts)
    reference = dict(reference_stats) if isinstance(reference_stats, Mapping) else _reference(reference_stats)
    check_reference(metrics, reference)
    sizes = even_batches(int(n_samples), int(batch_size))
    sharded = world is not None and world.distributed
    mine = sizes
    if sharded:
        if skip_fn is None:
            raise UserError("a sharded evaluation needs skip_fn to move each rank's sampler to its first image")
        k, w = len(sizes), world.world_size
        if k < w or min(sizes) < 2:
            raise UserError(
                f"{n_samples} samples in batches of {batch_size} make {k} batch(es) for {w} processes: each process "
                "needs a batch of at least 2 images (more samples, or a smaller batch)"
            )
        lo, hi = k * world.rank // w, k * (world.rank + 1) // w
        skip_fn(sum(sizes[:lo]))
        mine = sizes[lo:hi]

    def batches() -> Iterator[torch.Tensor]:
        for b in mine:
            x = to_uint8(sample_fn(b), scale)
            if x.dim() < 1 or len(x) != b:
                raise UserError(f"sample_fn({b}) returned {len(x) if x.dim() else 'no'} images, not {b}")
            yield x

    with torch.no_grad():
        feats = inception_features(
            extractor,
            batches(),
            total=sum(mine),
            statistics="statistics" in parts,
            logits="logits" in parts,
            features="features" in parts,
            progress=progress and (not sharded or world.is_main),
        )
    if sharded:
        feats = merge_features(world.all_gather_objects(feats))  # in rank order: the 1-process order of images
    return compute_metrics(metrics, feats, reference, options)
