"""Reference statistics: the Inception feature mean and covariance of a data split (FID), and optionally the
features themselves (KID, precision/recall), cached.

Computing them means one pass of the whole split (CIFAR-10: ``train``, 50,000 images, or ``test``, 10,000)
through InceptionV3, so :func:`reference_statistics` does it once and keeps the result in
``CACHE_DIR/inception_ref_<data>_<weights>.npz`` (written with
:func:`stability.util.atomic.atomic_save`, so a killed run never leaves half a
file), keyed by the sha256 of the data and of the weights file. The full key is
stored inside the file as well and checked on load, together with the format,
the network, the layer and the shapes; a cache that is stale (another key inside)
or corrupt (unreadable, fields missing, non-finite) is recomputed with a note to stderr, and so is one without
the features when they are asked for (the float32 features of 50,000 images take 400 MB, so they are computed
and kept only for the metrics that read them).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_train.metrics.inception import EXTRACTOR_NAME, POOL_FEATURES, inception_features
from stability.util.atomic import atomic_save, ensure_directory, remove_stale_temporaries
from stability.util.errors import UserError

#: Version of the cache file's layout; a file of another version is recomputed.
CACHE_FORMAT = 1
_CHUNK = 1 << 22  # 4 MiB per hash update
_HEX = re.compile(r"[0-9a-f]{16,}")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes, read in chunks (e.g. of the Inception weights file)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"cannot checksum {path}: no such file")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(arr: Any) -> str:
    """sha256 (hex) of an array: a header ``dtype shape`` then its bytes in C order, in chunks.

    The header makes the same bytes in another layout (say (N, 32, 32, 3) against (N, 3, 32, 32))
    a different key. Works on numpy arrays and CPU or GPU tensors without a full copy where the
    array is C-contiguous (otherwise one leading-axis chunk at a time is copied).
    """
    if torch.is_tensor(arr):
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr)
    digest = hashlib.sha256(f"{arr.dtype.str} {tuple(arr.shape)}\n".encode())
    if arr.size == 0:
        return digest.hexdigest()
    if arr.flags.c_contiguous:
        flat = memoryview(arr.reshape(-1).view(np.uint8))
        for start in range(0, len(flat), _CHUNK):
            digest.update(flat[start : start + _CHUNK])
    else:
        rows = max(1, _CHUNK // max(1, arr[0].nbytes if arr.ndim > 1 else arr.itemsize))
        for start in range(0, len(arr), rows):
            digest.update(np.ascontiguousarray(arr[start : start + rows]).tobytes())
    return digest.hexdigest()


def _checksum(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise UserError(
            f"{name} must be a lowercase hex digest (at least 16 digits, e.g. from array_sha256/file_sha256), "
            f"got {value!r}"
        )
    return value


def cache_path(cache_dir: str | os.PathLike, data_checksum: str, weights_checksum: str) -> Path:
    """Where the statistics for this data and these weights are cached."""
    return Path(cache_dir) / f"inception_ref_{data_checksum[:16]}_{weights_checksum[:16]}.npz"


def _note(message: str) -> None:
    print(f"ganstab: note: {message}", file=sys.stderr)


def _read_cache(path: Path, key: dict[str, str], features: bool) -> dict[str, Any] | None:
    """The cached statistics (and features, if asked for), or ``None`` (with a note) when the file is stale or
    corrupt or lacks the features asked for."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if features and "features" not in data.files:
                _note(f"cached reference statistics {path} lack the features KID and precision/recall need; computing")
                return None
            fields = {name: data[name] for name in data.files if name != "features" or features}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        _note(f"cached reference statistics {path} are corrupt ({type(exc).__name__}); recomputing them")
        return None
    need = ("format", "mu", "sigma", "n", *key)
    lacking = [name for name in need if name not in fields]
    if lacking:
        _note(f"cached reference statistics {path} are corrupt (no {', '.join(lacking)}); recomputing them")
        return None
    if int(fields["format"]) != CACHE_FORMAT:
        _note(
            f"cached reference statistics {path} have format {int(fields['format'])}, not {CACHE_FORMAT}; recomputing"
        )
        return None
    for name, want in key.items():
        if str(fields[name]) != want:
            _note(f"cached reference statistics {path} are stale ({name} differs); recomputing them")
            return None
    mu, sigma, n = fields["mu"], fields["sigma"], int(fields["n"])
    shapes_ok = mu.ndim == 1 and sigma.shape == (len(mu), len(mu)) and n >= 2
    kept = fields.get("features")
    if kept is not None and (kept.shape != (n, len(mu)) or not np.isfinite(kept).all()):
        shapes_ok = False
    if not shapes_ok or not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        _note(f"cached reference statistics {path} are corrupt (bad shapes or values); recomputing them")
        return None
    out = {"mu": mu.astype(np.float64), "sigma": sigma.astype(np.float64), "n": n}
    if features:
        out["features"] = torch.from_numpy(kept.astype(np.float32, copy=False))
    return out


def _batches(images: Any, batch_size: int):
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        yield chunk if torch.is_tensor(chunk) else torch.from_numpy(np.ascontiguousarray(chunk))


def reference_statistics(
    images_uint8: Any,
    extractor: torch.nn.Module,
    cache_dir: str | os.PathLike,
    data_checksum: str,
    weights_checksum: str,
    *,
    batch_size: int = 100,
    progress: bool = True,
    features: bool = False,
    split: str | None = None,
) -> dict[str, Any]:
    """Mean and covariance of the 2048-d Inception features of ``images_uint8`` (and the features), cached on disk.

    Args:
        images_uint8: the reference images (a split of the data set), uint8 (N, 3, H, W), numpy array or tensor.
        extractor: from :func:`gan_train.metrics.inception.load_inception`.
        cache_dir: folder of the cache (created if needed).
        data_checksum: :func:`array_sha256` of ``images_uint8``.
        weights_checksum: :func:`file_sha256` of the Inception weights file.
        batch_size: images per network pass.
        features: keep the features themselves too (float32, N × 2048), for KID and precision/recall.
        split: the name of the split the images are (``"train"``, ``"test"``), recorded in the result.

    Returns:
        ``{"mu", "sigma", "n", "split", "path", "from_cache"}`` and, with ``features``, ``"features"`` (a float32
        tensor): usable as ``reference_stats`` of :func:`gan_train.metrics.inception.evaluate_generator`.
    """
    key = {
        "data_checksum": _checksum("data_checksum", data_checksum),
        "weights_checksum": _checksum("weights_checksum", weights_checksum),
        "extractor": EXTRACTOR_NAME,
        "feature_layer": POOL_FEATURES,
    }
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    images = images_uint8 if torch.is_tensor(images_uint8) else np.asarray(images_uint8)
    is_uint8 = images.dtype == torch.uint8 if torch.is_tensor(images) else images.dtype == np.uint8
    if not is_uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise UserError(
            f"reference images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}; "
            "convert them with to_uint8"
        )
    folder = ensure_directory(cache_dir)  # an unwritable cache is a write failure (WriteError, exit 4)
    path = cache_path(folder, key["data_checksum"], key["weights_checksum"])
    if path.exists():
        cached = _read_cache(path, key, features)
        if cached is not None:
            return {**cached, "split": split, "path": path, "from_cache": True}
    feats = inception_features(
        extractor,
        _batches(images, int(batch_size)),
        total=len(images),
        statistics=True,
        logits=False,
        features=features,
        progress=progress,
        desc=f"Inception reference statistics ({split or 'reference'} split)",
    )
    remove_stale_temporaries(folder)
    import torch_fidelity

    def write(handle: Any) -> None:
        np.savez(
            handle,
            format=np.int64(CACHE_FORMAT),
            mu=feats.mu,
            sigma=feats.sigma,
            n=np.int64(feats.n),
            torch_fidelity_version=np.str_(torch_fidelity.__version__),
            split=np.str_(split or ""),
            **({"features": feats.features.numpy()} if features else {}),
            **{name: np.str_(value) for name, value in key.items()},
        )

    atomic_save(path, write)
    out = {"mu": feats.mu, "sigma": feats.sigma, "n": feats.n, "split": split, "path": path, "from_cache": False}
    if features:
        out["features"] = feats.features
    return out
