"""Training data: the 2-D toy laws (:mod:`gan_train.data.toy`) and image sets held on the device.

Names are imported lazily so that ``import gan_train.data`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DATASETS": "gan_train.data.toy",
    "Dataset": "gan_train.data.toy",
    "DataStream": "gan_train.data.toy",
    "data_law": "gan_train.data.toy",
    "get_dataset": "gan_train.data.toy",
    "IMAGE_DATASETS": "gan_train.data.images",
    "DeviceImageStream": "gan_train.data.images",
    "ImageDataset": "gan_train.data.images",
    "get_image_dataset": "gan_train.data.images",
    "load_images": "gan_train.data.images",
    "load_cifar10": "gan_train.data.cifar10",
    "load_mnist": "gan_train.data.mnist",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gan_train.data' has no attribute {name!r}")
