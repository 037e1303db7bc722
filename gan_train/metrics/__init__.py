"""Training metrics: W1 by exact assignment and the run log (:mod:`gan_train.metrics.log`); the image metrics
(IS, FID, KID, precision/recall) by name in :mod:`gan_train.metrics.registry`.

Names are imported lazily so that ``import gan_train.metrics`` costs nothing until one is used.
"""

from __future__ import annotations

from stability.util.lazy import lazy_exports

_EXPORTS = {
    "MetricsLog": "gan_train.metrics.log",
    "read_metrics": "gan_train.metrics.log",
    "w1_assignment": "gan_train.metrics.log",
    "optimal_matching": "gan_train.metrics.log",
    "frechet_distance": "gan_train.metrics.frechet",
    "frechet_distance_eigh": "gan_train.metrics.frechet",
    "frechet_distance_sqrtm": "gan_train.metrics.frechet",
    "frechet_distance_torch_fidelity": "gan_train.metrics.frechet",
    "load_inception": "gan_train.metrics.inception",
    "to_uint8": "gan_train.metrics.inception",
    "inception_features": "gan_train.metrics.inception",
    "inception_score": "gan_train.metrics.inception_score",
    "evaluate_generator": "gan_train.metrics.inception",
    "InceptionFeatures": "gan_train.metrics.inception",
    "reference_statistics": "gan_train.metrics.reference",
    "file_sha256": "gan_train.metrics.reference",
    "array_sha256": "gan_train.metrics.reference",
    "METRICS": "gan_train.metrics.registry",
    "MetricOptions": "gan_train.metrics.registry",
    "register_metric": "gan_train.metrics.registry",
    "get_metric": "gan_train.metrics.registry",
    "parse_metrics": "gan_train.metrics.registry",
    "compute_metrics": "gan_train.metrics.registry",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
