"""Training data: the 2-D toy laws (:mod:`gan_train.data.toy`) and image sets held on the device.

Names are imported lazily so that ``import gan_train.data`` costs nothing until one is used.
"""

from __future__ import annotations

from stability.util.lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
