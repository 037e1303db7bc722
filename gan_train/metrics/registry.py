"""Image metrics by name — ``is``, ``fid``, ``kid``, ``prc`` — all computed from one pass of Inception features.

As in stylegan3's ``metrics/metric_main.py``, each metric is a function registered under its name by the
:func:`register_metric` decorator, and an unknown name is a one-line :class:`UserError` listing the valid ones.
Every metric takes what :func:`gan_train.metrics.inception.inception_features` extracted from the generated
images (logits, the pool features' mean and covariance, or the pool features themselves) and, where it compares
two sets, the same of the reference images; so one Inception pass serves all of them. The maths is
torch-fidelity's wherever it has it:

- ``is``: Inception Score (Salimans et al. 2016), ``isc_features_to_metric`` on the 1008 unbiased logits,
  mean ± std over ``is_splits`` splits.
- ``fid``: Fréchet Inception Distance (Heusel et al. 2017, Eq. 6 of the TTUR paper), by
  :func:`gan_train.metrics.frechet.frechet_distance` (torch-fidelity's route is one of its three).
- ``kid``: Kernel Inception Distance (Bińkowski et al. 2018, Eq. 5 of the MMD-GAN paper: the unbiased MMD² with the
  cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³), torch-fidelity's ``kid_features_to_metric``: mean ± std over
  ``kid_subsets`` random subsets of ``kid_subset_size`` images of each set. The features are passed in float64:
  the estimate is a difference of kernel sums of order 10, and float32 sums would leave errors near 1e-4, the size of
  a good model's KID.
- ``prc``: improved precision and recall (Kynkäänniemi et al. 2019, Eqs. 1–3: a generated image counts for precision
  when it lies inside the k-NN ball of some real image, a real image for recall when it lies inside the k-NN ball of
  some generated image, k = ``prc_neighborhood``), torch-fidelity's ``prc_features_to_metric`` in its memory-saving
  mode (``save_cpu_ram``: distances by blocks of ``prc_batch_size`` rows).

Each result records how it was measured: ``n_samples`` (generated images), ``ref_split`` and ``ref_n`` (the
reference images, for the metrics that compare), and each metric's own counts (``is_splits``, ``kid_subsets``,
``kid_subset_size``, ``prc_neighborhood``): FID and KID are biased by the sample size, so a number is comparable
only beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stability.util.errors import UserError, unknown_name

#: What an Inception pass can keep for a metric: the logits (IS), the pool features' mean and covariance
#: (FID), or the pool features themselves (KID, precision/recall).
PARTS = ("logits", "statistics", "features")


@dataclass(frozen=True)
class MetricOptions:
    """The settings of the metrics (defaults: torch-fidelity's, which are the papers').

    Attributes:
        is_splits: Inception Score splits (Salimans et al.: 10).
        kid_subsets: KID subsets (torch-fidelity: 100).
        kid_subset_size: images per KID subset (torch-fidelity: 1000); lowered to the smaller set's size when
            a set is smaller, and recorded in the result.
        prc_neighborhood: k of the k-NN balls of precision/recall (Kynkäänniemi et al.: 3).
        prc_batch_size: rows per block of the distance matrices.
        fid_method: route of :func:`gan_train.metrics.frechet.frechet_distance` (``None``: its default).
        rng_seed: seed of the IS shuffle and the KID subsets (torch-fidelity: 2020).
        device: where precision/recall computes its distances.
    """

    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prc_neighborhood: int = 3
    prc_batch_size: int = 10_000
    fid_method: str | None = None
    rng_seed: int = 2020
    device: Any = "cpu"


@dataclass(frozen=True)
class Metric:
    """A registered metric: its function and what it needs.

    Attributes:
        name: the name users type (``--metrics``).
        description: one line, for help texts and docs.
        needs: the parts of an Inception pass (:data:`PARTS`) it reads, of the generated images and (``reference``)
            of the reference images.
        reference: whether it compares with reference images.
        keys: the result keys its function returns.
        compute: ``compute(generated, reference, options)`` → ``{key: value}``.
    """

    name: str
    description: str
    needs: tuple[str, ...]
    reference: bool
    keys: tuple[str, ...]
    compute: Callable[[Any, Mapping[str, Any] | None, MetricOptions], dict[str, Any]]


#: The registry: metric name → :class:`Metric`, in registration order.
METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, description: str, *, needs: tuple[str, ...], reference: bool, keys: tuple[str, ...]
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Decorator: register ``compute(generated, reference, options)`` as the metric ``name``."""
    for part in needs:
        if part not in PARTS:
            raise ValueError(f"metric {name!r} needs {part!r}, which an Inception pass cannot keep ({PARTS})")

    def decorate(compute: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        if name in METRICS:
            raise ValueError(f"image metric {name!r} is registered twice")
        METRICS[name] = Metric(name, description, tuple(needs), reference, tuple(keys), compute)
        return compute

    return decorate


def metric_names() -> tuple[str, ...]:
    """The registered names, in registration order (``is``, ``fid``, ``kid``, ``prc``)."""
    return tuple(METRICS)


def get_metric(name: str) -> Metric:
    """The metric ``name``, or a one-line :class:`UserError` listing the valid names."""
    if name not in METRICS:
        raise unknown_name("image metric", name, metric_names())
    return METRICS[name]


def parse_metrics(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"is,fid"`` or ``["is", "fid"]`` → ``("is", "fid")``: known names, each once, in the order given.

    Raises:
        UserError: an unknown name (the valid ones listed), or no name at all.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise UserError(f"image metric names are text, got {item!r}; valid: {', '.join(metric_names())}")
        name = item.strip().lower()
        if name:
            get_metric(name)
            if name not in names:
                names.append(name)
    if not names:
        raise UserError(f"no image metric asked for; valid: {', '.join(metric_names())}")
    return tuple(names)


def parts_needed(names: Iterable[str], *, reference: bool = False) -> set[str]:
    """The parts of an Inception pass the metrics ``names`` read: of the generated images, or of the reference."""
    metrics = [get_metric(n) for n in names]
    return {part for m in metrics if m.reference or not reference for part in m.needs}


def needs_reference(names: Iterable[str]) -> bool:
    """Whether any of ``names`` compares with reference images."""
    return any(get_metric(n).reference for n in names)


def check_reference(names: Iterable[str], reference: Mapping[str, Any] | None) -> None:
    """A one-line :class:`UserError` unless ``reference`` holds what the metrics ``names`` compare with."""
    wanted = parts_needed(names, reference=True)
    if not wanted:
        return
    if reference is None:
        raise UserError(
            f"{', '.join(n for n in names if get_metric(n).reference)} need(s) reference statistics "
            "(see gan_train.metrics.reference.reference_statistics)"
        )
    if "statistics" in wanted and not ("mu" in reference and "sigma" in reference):
        raise UserError("FID needs reference statistics with 'mu' and 'sigma' (see reference_statistics)")
    if "features" in wanted and reference.get("features") is None:
        raise UserError("KID and precision/recall need the reference features (reference_statistics(features=True))")


def compute_metrics(
    names: Iterable[str],
    generated: Any,
    reference: Mapping[str, Any] | None = None,
    options: MetricOptions | None = None,
) -> dict[str, Any]:
    """The metrics ``names`` of the generated images' Inception pass, with how they were measured.

    Args:
        names: registered metric names.
        generated: an :class:`~gan_train.metrics.inception.InceptionFeatures` holding the parts the metrics need.
        reference: the reference images' ``{"mu", "sigma", "n", "split", "features"}`` (as
            :func:`gan_train.metrics.reference.reference_statistics` returns), for the metrics that compare.
        options: the metrics' settings.

    Returns:
        ``{"metrics", "n_samples", [ "ref_split", "ref_n" ], <each metric's keys and counts>}``.
    """
    names = parse_metrics(names)
    options = options or MetricOptions()
    check_reference(names, reference)
    result: dict[str, Any] = {"metrics": list(names), "n_samples": int(generated.n)}
    if needs_reference(names):
        n = reference.get("n")
        result["ref_split"] = reference.get("split")  # None: statistics given without saying where they came from
        result["ref_n"] = None if n is None else int(n)
    for name in names:
        result.update(get_metric(name).compute(generated, reference, options))
    return result


def _tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype) if torch.is_tensor(x) else torch.as_tensor(np.asarray(x), dtype=dtype)


def _features(what: str, x: Any, dtype: torch.dtype) -> torch.Tensor:
    if x is None:
        raise UserError(f"the {what} features were not kept (inception_features(features=True))")
    f = _tensor(x, dtype)
    if f.dim() != 2 or len(f) < 2:
        raise UserError(f"the {what} features must be (N >= 2, d), got shape {tuple(f.shape)}")
    return f


# ---------------------------------------------------------------------------------------------- the metrics


@register_metric(
    "is", "Inception Score, mean ± std over splits (Salimans et al. 2016)", needs=("logits",), reference=False,
    keys=("is_mean", "is_std"),
)  # fmt: skip
def inception_score_metric(generated: Any, reference: Any, options: MetricOptions) -> dict[str, Any]:
    """IS of the generated images' logits (:func:`gan_train.metrics.inception_score.inception_score`)."""
    from gan_train.metrics.inception_score import inception_score

    if generated.logits is None:
        raise UserError("the Inception logits were not kept (inception_features(logits=True))")
    mean, std = inception_score(generated.logits, splits=options.is_splits, rng_seed=options.rng_seed)
    return {"is_mean": mean, "is_std": std, "is_splits": int(options.is_splits)}


@register_metric(
    "fid", "Fréchet Inception Distance to the reference (Heusel et al. 2017)", needs=("statistics",), reference=True,
    keys=("fid",),
)  # fmt: skip
def frechet_inception_distance_metric(generated: Any, reference: Any, options: MetricOptions) -> dict[str, Any]:
    """FID between the Gaussians of the generated and reference pool features."""
    from gan_train.metrics.frechet import frechet_distance

    if generated.mu is None:
        raise UserError("the Inception feature statistics were not kept (inception_features(statistics=True))")
    fid = frechet_distance(
        generated.mu, generated.sigma, reference["mu"], reference["sigma"], method=options.fid_method
    )
    return {"fid": fid}


@register_metric(
    "kid", "Kernel Inception Distance, mean ± std over subsets (Bińkowski et al. 2018)", needs=("features",),
    reference=True, keys=("kid_mean", "kid_std"),
)  # fmt: skip
def kernel_inception_distance_metric(generated: Any, reference: Any, options: MetricOptions) -> dict[str, Any]:
    """KID by torch-fidelity's ``kid_features_to_metric`` on float64 features."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    gen = _features("generated", generated.features, torch.float64)
    ref = _features("reference", reference["features"], torch.float64)
    if gen.shape[1] != ref.shape[1]:
        raise UserError(f"KID: generated features are {gen.shape[1]}-d, reference features {ref.shape[1]}-d")
    size = min(int(options.kid_subset_size), len(gen), len(ref))
    if int(options.kid_subsets) < 1 or size < 2:
        raise UserError(f"KID needs kid_subsets >= 1 and subsets of >= 2 images, got {options.kid_subsets} and {size}")
    out = kid_features_to_metric(
        gen, ref, kid_subsets=int(options.kid_subsets), kid_subset_size=size, rng_seed=options.rng_seed, verbose=False
    )
    return {
        "kid_mean": float(out[KEY_METRIC_KID_MEAN]),
        "kid_std": float(out[KEY_METRIC_KID_STD]),
        "kid_subsets": int(options.kid_subsets),
        "kid_subset_size": size,
    }


@register_metric(
    "prc", "improved precision and recall (Kynkäänniemi et al. 2019)", needs=("features",), reference=True,
    keys=("precision", "recall"),
)  # fmt: skip
def precision_recall_metric(generated: Any, reference: Any, options: MetricOptions) -> dict[str, Any]:
    """Precision and recall by torch-fidelity's ``prc_features_to_metric`` (generated first, real second)."""
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    gen = _features("generated", generated.features, torch.float32)
    ref = _features("reference", reference["features"], torch.float32)
    if gen.shape[1] != ref.shape[1]:
        raise UserError(f"precision/recall: generated features are {gen.shape[1]}-d, reference {ref.shape[1]}-d")
    k = int(options.prc_neighborhood)
    if not 1 <= k < min(len(gen), len(ref)):
        raise UserError(
            f"precision/recall needs 1 <= prc_neighborhood < the images of each set ({len(gen)} generated, "
            f"{len(ref)} reference), got {k}"
        )
    device = torch.device(options.device)
    out = prc_features_to_metric(
        gen.to(device),
        ref.to(device),
        prc_neighborhood=k,
        prc_batch_size=int(options.prc_batch_size),
        save_cpu_ram=True,
        verbose=False,
    )
    return {
        "precision": float(out[KEY_METRIC_PRECISION]),
        "recall": float(out[KEY_METRIC_RECALL]),
        "prc_neighborhood": k,
    }
