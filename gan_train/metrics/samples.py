"""Images made by any tool, read for scoring: an ``.npy``/``.npz`` array or a folder of PNGs → uint8 (N, 3, H, W).

Arrays may be uint8 in either layout, N×C×H×W or N×H×W×C, or floats in [−1, 1] (a tanh generator's output).
Both are guessed from the data only where the guess cannot be wrong, and refused in one line otherwise:

- layout: C is the axis of size 3 (or 1, which is then refused: Inception reads RGB); an array where both axis 1
  and axis 3 could be C (e.g. N×3×H×3) is ambiguous and needs ``layout``;
- scale of floats: values below 0 mean [−1, 1] (``"tanh"``); floats all within [0, 1] could be either range and
  need ``scale`` (``"tanh"`` or ``"unit"``); values outside [−1, 1] are refused (for [0, 255] data: convert to
  uint8 first). Floats become uint8 by :func:`gan_train.metrics.inception.to_uint8`, the map a generator's
  samples take, so the same images score the same whichever way they come in.

PNGs are read in file-name order with Pillow (8-bit RGB only: grey, palette or alpha images are refused by name),
so a folder written from an array in order scores exactly as the array does.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from stability.util.errors import UserError, unknown_name

LAYOUTS = ("nchw", "nhwc")
SCALES = ("tanh", "unit")
#: The array an ``.npz`` must hold when it holds several (or pass ``key``).
NPZ_KEY = "images"


def _layout(shape: tuple[int, ...], layout: str | None, where: str) -> str:
    if layout is not None:
        if layout not in LAYOUTS:
            raise unknown_name("image layout", layout, LAYOUTS)
        return layout
    first, last = shape[1] in (1, 3), shape[3] in (1, 3)
    if first and last:
        raise UserError(
            f"{where}: shape {shape} could be N×C×H×W or N×H×W×C; say which with --layout nchw or --layout nhwc"
        )
    if not (first or last):
        raise UserError(f"{where}: shape {shape} has no channel axis of size 3 (N×3×H×W or N×H×W×3)")
    return "nchw" if first else "nhwc"


def _scale(array: np.ndarray, scale: str | None, where: str) -> str:
    if scale is not None and scale not in SCALES:
        raise unknown_name("image scale", scale, SCALES)
    if not np.isfinite(array).all():
        raise UserError(f"{where}: the images hold NaN or inf")
    low, high = float(array.min()), float(array.max())
    if scale is None:
        if low < 0:
            scale = "tanh"
        elif high <= 1:
            raise UserError(
                f"{where}: float images all within [{low:g}, {high:g}] could be in [0, 1] or [-1, 1]; "
                "say which with --scale unit or --scale tanh (or save them as uint8)"
            )
        else:
            scale = "tanh"  # refused just below, with the range it would need
    lo = -1.0 if scale == "tanh" else 0.0
    if low < lo or high > 1.0:
        hint = "; for [0, 255] data save uint8" if high > 2.0 else ""
        raise UserError(f"{where}: float images span [{low:g}, {high:g}], outside [{lo:g}, 1] ({scale}){hint}")
    return scale


def images_from_array(
    array: np.ndarray, *, layout: str | None = None, scale: str | None = None, where: str = "the array"
) -> np.ndarray:
    """An array of images as uint8 (N, 3, H, W), its layout and float range found or refused (see the module doc).

    Raises:
        UserError: not 4-D, not uint8 or float, no or an ambiguous channel axis, grey images, or floats whose
            range is ambiguous or outside [−1, 1].
    """
    from gan_train.metrics.inception import to_uint8

    array = np.asarray(array)
    if array.ndim != 4 or array.shape[0] == 0:
        raise UserError(f"{where}: images must be a non-empty 4-D array (N×3×H×W or N×H×W×3), got {array.shape}")
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"{where}: images must be uint8 or float in [-1, 1], got {array.dtype}")
    order = _layout(array.shape, layout, where)
    if order == "nhwc":
        array = array.transpose(0, 3, 1, 2)
    if array.shape[1] != 3:
        raise UserError(f"{where}: {array.shape[1]}-channel images; the Inception network reads RGB (3 channels)")
    if array.dtype != np.uint8:
        array = to_uint8(np.ascontiguousarray(array), _scale(array, scale, where)).numpy()
    return np.ascontiguousarray(array)


def read_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """The image array of an ``.npy``, or of an ``.npz`` (its only array, the one named ``images``, or ``key``).

    Read with ``allow_pickle=False``: a file holding Python objects is refused, never run.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            if key is not None:
                raise UserError(f"--key is for .npz files; {path} is a .npy holding one array")
            return np.load(path, mmap_mode="r", allow_pickle=False)
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            if key is None:
                key = names[0] if len(names) == 1 else NPZ_KEY if NPZ_KEY in names else None
            if key is None or key not in names:
                what = f"no array {key!r}" if key is not None else f"{len(names)} arrays"
                raise UserError(f"{path} holds {what} ({', '.join(names) or 'none'}); name one with --key NAME")
            return data[key]
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:160]
        raise UserError(f"{path} cannot be read as a numpy array ({type(exc).__name__}: {reason})") from None


def read_png_folder(folder: str | os.PathLike) -> np.ndarray:
    """The ``*.png`` files of ``folder`` (not its subfolders), in file-name order, as uint8 (N, 3, H, W).

    Raises:
        UserError: no PNG there, an unreadable one, one that is not 8-bit RGB, or sizes that differ (each named).
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not paths:
        raise UserError(f"{folder} holds no .png files (and no config.json: it is not a run directory either)")
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode != "RGB":
                    raise UserError(f"{path} is a {image.mode} image; the Inception network reads 8-bit RGB PNGs")
                pixels = np.asarray(image, dtype=np.uint8)
        except UserError:
            raise
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise UserError(f"{path} cannot be read as a PNG ({type(exc).__name__})") from None
        if images and pixels.shape != images[0].shape:
            raise UserError(f"{path} is {pixels.shape[1]}×{pixels.shape[0]}, {paths[0].name} is "
                            f"{images[0].shape[1]}×{images[0].shape[0]}: all images must have one size")  # fmt: skip
        images.append(pixels)
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))


def read_images(
    path: str | os.PathLike, *, key: str | None = None, layout: str | None = None, scale: str | None = None
) -> np.ndarray:
    """uint8 (N, 3, H, W) images from an ``.npy``/``.npz`` file or a folder of PNGs."""
    path = Path(path)
    if path.is_dir():
        if key is not None or layout is not None or scale is not None:
            raise UserError("--key, --layout and --scale are for arrays; PNGs are 8-bit RGB")
        return read_png_folder(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        raise UserError(f"{path}: expected a run directory, a checkpoint (.pt), an .npy/.npz array or a PNG folder")
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    return images_from_array(read_array(path, key), layout=layout, scale=scale, where=str(path))
