"""CIFAR-10 and MNIST loaders on tiny fake files in the real formats, and the device image stream."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_train.data import cifar10, mnist
from gan_train.data.images import IMAGE_DATASETS, DeviceImageStream, load_images
from stability.util.errors import UserError

PER_FILE = 20  # images per fake CIFAR batch file


def _spec_error(fn, *names: str) -> str:
    """Call ``fn``, expect a one-line UserError that mentions every one of ``names``."""
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, message
    for name in names:
        assert str(name) in message, f"{name!r} not in {message!r}"
    return message


# ---------------------------------------------------------------------------------------------- CIFAR-10 fakes


class _Py2Pickler(pickle._Pickler):
    """Writes byte strings as Python 2 ``str`` opcodes, as the cPickle files on the CIFAR page do."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _py2_pickle(obj) -> bytes:
    """A protocol-2 pickle like Python 2 + numpy 1.x wrote: py2 strings, ``numpy.core.multiarray``."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def _fake_batch(rng: np.random.Generator, name: str) -> dict:
    return {
        b"batch_label": f"fake {name}".encode(),
        b"labels": [int(v) for v in rng.integers(0, 10, PER_FILE)],
        b"data": rng.integers(0, 256, (PER_FILE, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(PER_FILE)],
    }


def _write_cifar_folder(root: Path, seed: int = 0) -> dict[str, dict]:
    folder = root / cifar10.FOLDER_NAME
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    batches = {}
    for name in (*cifar10.SPLIT_FILES["train"], *cifar10.SPLIT_FILES["test"]):
        batches[name] = _fake_batch(rng, name)
        (folder / name).write_bytes(_py2_pickle(batches[name]))
    meta = {b"num_cases_per_batch": PER_FILE, b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(_py2_pickle(meta))
    return batches


def _write_cifar_archive(folder: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=f"{cifar10.FOLDER_NAME}/{path.name}")


def _expected(batches: dict[str, dict], split: str) -> tuple[np.ndarray, np.ndarray]:
    names = cifar10.SPLIT_FILES[split]
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return data, labels


@pytest.fixture
def cifar_dir(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    return tmp_path, _write_cifar_folder(tmp_path)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- CIFAR-10 tests


def test_cifar_folder_round_trips_pixels(cifar_dir):
    root, batches = cifar_dir
    for split, n in (("train", 5 * PER_FILE), ("test", PER_FILE)):
        data, labels = _expected(batches, split)
        for where in (root, root / cifar10.FOLDER_NAME):  # the parent or the folder itself
            images, got_labels = cifar10.load_cifar10(where, split)
            assert images.dtype == np.uint8 and images.shape == (n, 3, 32, 32)
            assert got_labels.dtype == np.int64 and np.array_equal(got_labels, labels)
            assert np.array_equal(images.reshape(n, -1), data)
    images, _ = cifar10.load_cifar10(root)
    data, _ = _expected(batches, "train")
    i, c, y, x = 47, 2, 5, 31  # row-major channel-first: the value at c·1024 + y·32 + x of row i
    assert images[i, c, y, x] == data[i, c * 1024 + y * 32 + x]


def test_cifar_archive_verified_once_and_read_in_place(cifar_dir, tmp_path, monkeypatch):
    root, batches = cifar_dir
    archive = tmp_path / "packed" / cifar10.ARCHIVE_NAME
    _write_cifar_archive(root / cifar10.FOLDER_NAME, archive)
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", _md5(archive))
    calls = []
    real_hash = cifar10._hash_file
    monkeypatch.setattr(cifar10, "_hash_file", lambda path, *a: calls.append(path) or real_hash(path, *a))
    for split in ("train", "test"):
        images, labels = cifar10.load_cifar10(archive.parent, split)
        data, want_labels = _expected(batches, split)
        assert np.array_equal(images.reshape(len(data), -1), data) and np.array_equal(labels, want_labels)
    assert len(calls) == 1  # the second load reused the cached digest
    assert sorted(p.name for p in archive.parent.iterdir()) == [cifar10.ARCHIVE_NAME]  # nothing extracted
    st = archive.stat()
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    cifar10.load_cifar10(archive.parent, "test")
    assert len(calls) == 2  # a touched file is hashed again


def test_cifar_archive_with_wrong_md5_is_refused(cifar_dir, tmp_path):
    root, _ = cifar_dir
    archive = tmp_path / "packed" / cifar10.ARCHIVE_NAME
    _write_cifar_archive(root / cifar10.FOLDER_NAME, archive)
    _spec_error(lambda: cifar10.load_cifar10(archive.parent), archive, cifar10.CIFAR10_MD5, _md5(archive), "MD5")


def test_cifar_truncated_archive(cifar_dir, tmp_path, monkeypatch):
    root, _ = cifar_dir
    full = tmp_path / "full" / cifar10.ARCHIVE_NAME
    _write_cifar_archive(root / cifar10.FOLDER_NAME, full)
    cut = tmp_path / "cut" / cifar10.ARCHIVE_NAME
    cut.parent.mkdir()
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", _md5(cut))  # get past the checksum to the tar reader
    _spec_error(lambda: cifar10.load_cifar10(cut.parent), cut, "truncated")


def test_cifar_incomplete_folder_falls_back_to_archive(cifar_dir, tmp_path, monkeypatch):
    root, batches = cifar_dir
    _write_cifar_archive(root / cifar10.FOLDER_NAME, root / cifar10.ARCHIVE_NAME)
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", _md5(root / cifar10.ARCHIVE_NAME))
    (root / cifar10.FOLDER_NAME / "data_batch_2").unlink()
    images, _ = cifar10.load_cifar10(root)
    assert np.array_equal(images.reshape(5 * PER_FILE, -1), _expected(batches, "train")[0])


def _foreign_global_pickle() -> bytes:
    """A batch that would load fine if any global were allowed: its data is built by ``numpy.zeros``."""

    class Zeros:
        def __reduce__(self):
            return (np.zeros, ((PER_FILE, 3072), "uint8"))

    return pickle.dumps({b"data": Zeros(), b"labels": [0] * PER_FILE}, protocol=2)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda good: b"\x00not a pickle at all", id="garbage"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: b"", id="empty"),
        pytest.param(lambda good: _py2_pickle([1, 2, 3]), id="not-a-dict"),
        pytest.param(lambda good: _py2_pickle({b"data": np.zeros((20, 3072), np.uint8)}), id="no-labels"),
        pytest.param(
            lambda good: _py2_pickle({b"data": np.zeros((20, 1024), np.uint8), b"labels": [0] * 20}), id="bad-shape"
        ),
        pytest.param(
            lambda good: _py2_pickle({b"data": np.zeros((20, 3072), np.float32), b"labels": [0] * 20}), id="bad-dtype"
        ),
        pytest.param(
            lambda good: _py2_pickle({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 19}), id="few-labels"
        ),
        pytest.param(
            lambda good: _py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), id="bad-label"
        ),
        pytest.param(lambda good: _foreign_global_pickle(), id="foreign-global"),
    ],
)
def test_cifar_corrupt_batch_names_the_file(cifar_dir, content):
    root, _ = cifar_dir
    path = root / cifar10.FOLDER_NAME / "data_batch_3"
    path.write_bytes(content(path.read_bytes()))
    _spec_error(lambda: cifar10.load_cifar10(root), path)


def test_cifar_missing_files(cifar_dir, tmp_path):
    root, _ = cifar_dir
    (root / cifar10.FOLDER_NAME / "data_batch_4").unlink()
    _spec_error(lambda: cifar10.load_cifar10(root), "data_batch_4", cifar10.CIFAR10_URL, root)
    empty = tmp_path / "empty"
    empty.mkdir()
    _spec_error(
        lambda: cifar10.load_cifar10(empty), cifar10.ARCHIVE_NAME, cifar10.FOLDER_NAME, cifar10.CIFAR10_URL, empty
    )
    _spec_error(lambda: cifar10.load_cifar10(tmp_path / "nowhere"), tmp_path / "nowhere", cifar10.CIFAR10_URL)
    _spec_error(lambda: cifar10.load_cifar10(root, "valid"), "valid")


# ---------------------------------------------------------------------------------------------- MNIST


def _idx(magic: int, array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _write_mnist(root: Path, gz: bool, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", 30), ("test", 12)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for name, blob in zip(
            mnist.SPLIT_FILES[split], (_idx(mnist.IMAGES_MAGIC, images), _idx(mnist.LABELS_MAGIC, labels))
        ):
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (root / name).write_bytes(blob)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_round_trips_pixels(tmp_path, gz):
    written = _write_mnist(tmp_path, gz)
    for split, (want_images, want_labels) in written.items():
        images, labels = mnist.load_mnist(tmp_path, split)
        assert images.dtype == np.uint8 and images.shape == (len(want_images), 1, 28, 28)
        assert labels.dtype == np.int64 and np.array_equal(labels, want_labels)
        assert np.array_equal(images[:, 0], want_images)
        assert images.flags.writeable
    assert mnist.load_mnist(tmp_path)[0][7, 0, 13, 27] == written["train"][0][7, 13, 27]


def test_mnist_bad_files_name_the_file(tmp_path):
    _write_mnist(tmp_path / "plain", gz=False)
    _write_mnist(tmp_path / "gz", gz=True)
    images = tmp_path / "plain" / "train-images-idx3-ubyte"
    labels = tmp_path / "plain" / "train-labels-idx1-ubyte"
    good_images, good_labels = images.read_bytes(), labels.read_bytes()

    images.write_bytes(good_labels)  # a label file where images belong: magic 0x801
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain"), images, "0x00000801", "0x00000803")
    images.write_bytes(good_images[:-5])
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain"), images, "truncated")
    images.write_bytes(good_images[:10])
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain"), images, "header")
    images.write_bytes(good_images + b"\x00")
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain"), images, "longer")
    images.write_bytes(good_images)
    labels.write_bytes(_idx(mnist.LABELS_MAGIC, np.zeros(29, np.uint8)))
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain"), labels, "29 labels")
    labels.write_bytes(good_labels)
    assert len(mnist.load_mnist(tmp_path / "plain")[0]) == 30

    gz_images = tmp_path / "gz" / "t10k-images-idx3-ubyte.gz"
    blob = gz_images.read_bytes()
    gz_images.write_bytes(blob[: len(blob) // 2])
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz", "test"), gz_images, "truncated")
    gz_images.write_bytes(b"not gzip at all")
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz", "test"), gz_images)

    (tmp_path / "gz" / "train-labels-idx1-ubyte.gz").unlink()
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz"), "train-labels-idx1-ubyte", mnist.MNIST_URL)
    _spec_error(lambda: mnist.load_mnist(tmp_path / "nowhere"), tmp_path / "nowhere", mnist.MNIST_URL)
    _spec_error(lambda: mnist.load_mnist(tmp_path / "plain", "valid"), "valid")


def test_registry(tmp_path, cifar_dir):
    assert set(IMAGE_DATASETS) == {"cifar10", "mnist"}
    _write_mnist(tmp_path / "mnist", gz=True)
    images, _ = load_images("mnist", tmp_path / "mnist", "test")
    assert images.shape[1:] == IMAGE_DATASETS["mnist"].shape
    images, _ = load_images("cifar10", cifar_dir[0])
    assert images.shape[1:] == IMAGE_DATASETS["cifar10"].shape
    _spec_error(lambda: load_images("imagenet", tmp_path), "imagenet", "cifar10", "mnist")


# ---------------------------------------------------------------------------------------------- DeviceImageStream


def _tagged_images(n: int, shape=(3, 8, 8), seed: int = 0) -> np.ndarray:
    """Random uint8 images whose first two pixels spell their index."""
    images = np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    flat = images.reshape(n, -1)
    flat[:, 0], flat[:, 1] = np.arange(n) % 256, np.arange(n) // 256
    return images


def _indices(batch: torch.Tensor, scale: str = "tanh") -> list[int]:
    """The indices of a batch of tagged images (exact even with dequantisation: x < the next level)."""
    tags = batch.reshape(len(batch), -1)[:, :2].double()
    u = torch.floor((tags + 1) * 128 if scale == "tanh" else tags * 256).long()
    return (u[:, 0] + 256 * u[:, 1]).tolist()


def test_mappings_match_gulrajani_exactly():
    images = _tagged_images(64)
    images.reshape(64, -1)[:2, 2:] = [[0], [255]]  # both ends of the range
    u = torch.from_numpy(images).float()
    tanh = DeviceImageStream(images, 64, seed=3, dequantize=False, scale="tanh").next()
    assert torch.equal(tanh, 2 * ((u[_indices(tanh)] / 256.0) - 0.5))  # gan_cifar_resnet.py line 194, in float32
    sigmoid = DeviceImageStream(images, 64, seed=3, dequantize=False, scale="sigmoid").next()
    assert torch.equal(sigmoid, u[_indices(sigmoid, "sigmoid")] / 256.0)
    assert float(tanh.min()) == -1.0 and float(tanh.max()) == 127 / 128


@pytest.mark.parametrize("scale,level,low", [("tanh", 1 / 128, -1.0), ("sigmoid", 1 / 256, 0.0)])
def test_dequantisation_stays_within_one_level(scale, level, low):
    images = _tagged_images(256, shape=(3, 32, 32))
    flat = images.reshape(256, -1)
    flat[:64, 2:] = 0
    flat[64:128, 2:] = 255
    stream = DeviceImageStream(images, 128, seed=5, scale=scale)
    for _ in range(6):  # 6 · 128 · 3072 ≈ 2.4 M noise values
        x = stream.next()
        u = torch.from_numpy(images)[_indices(x, scale)].double()  # the images the batch was drawn from
        x = x.double()
        base = 2 * (u / 256 - 0.5) if scale == "tanh" else u / 256
        noise = x - base
        assert float(x.min()) >= low and float(x.max()) < 1.0
        assert float(noise.min()) >= 0.0 and float(noise.max()) < level
        assert float(noise.max()) > 0.999 * level and float(noise.min()) < 0.001 * level  # it fills the level
        assert abs(float(noise.mean()) - level / 2) < 0.002 * level


def test_same_seed_same_batches_other_seed_other_batches():
    images = _tagged_images(40)
    a, b, c = (DeviceImageStream(images, 8, seed=s) for s in (11, 11, 12))
    for _ in range(12):  # across two epoch boundaries
        xa, xb, xc = a.next(), b.next(), c.next()
        assert torch.equal(xa, xb)
        assert not torch.equal(xa, xc)


def test_each_epoch_covers_every_index_once():
    n, b = 53, 10  # 5 batches an epoch; 3 images are skipped each epoch
    stream = DeviceImageStream(_tagged_images(n), b, seed=0)
    assert stream.steps_per_epoch == 5
    epochs = []
    for _ in range(3):
        seen = [i for _ in range(5) for i in _indices(stream.next())]
        assert len(seen) == len(set(seen)) == 50 and set(seen) <= set(range(n))
        epochs.append(seen)
    assert stream.epoch == 2
    assert epochs[0] != epochs[1] != epochs[2]
    whole = DeviceImageStream(_tagged_images(50), b, seed=0)
    assert sorted(i for _ in range(5) for i in _indices(whole.next())) == list(range(50))


def test_ranks_draw_disjoint_slices_of_one_permutation():
    n, b, world = 47, 5, 3  # 3 steps an epoch
    images = _tagged_images(n)
    streams = [DeviceImageStream(images, b, seed=9, rank=r, world_size=world) for r in range(world)]
    single = DeviceImageStream(images, b * world, seed=9, dequantize=False)
    for _ in range(7):  # across two epoch boundaries
        parts = [_indices(s.next()) for s in streams]
        assert [i for p in parts for i in p] == _indices(single.next())  # rank r takes perm[pos + r·b : …]
    assert len({i for p in parts for i in p}) == b * world
    noise = lambda x: x + 1 - torch.floor((x + 1) * 128) / 128
    x0, x1 = (DeviceImageStream(images, b, seed=9, rank=r, world_size=2).next() for r in (0, 1))
    assert not torch.equal(noise(x0), noise(x1))  # each rank has its own dequantisation noise


@pytest.mark.parametrize("steps", [0, 3, 5, 7])  # 5 steps an epoch: before, inside and at an epoch boundary
@pytest.mark.parametrize("rank", [0, 1])
def test_resume_is_bitwise(steps, rank):
    images = _tagged_images(24)
    stream = DeviceImageStream(images, 2, seed=4, rank=rank, world_size=2)
    for _ in range(steps):
        stream.next()
    buffer = io.BytesIO()
    torch.save(stream.state_dict(), buffer)  # through a checkpoint file
    expected = [stream.next() for _ in range(9)]
    resumed = DeviceImageStream(images, 2, seed=999, rank=rank, world_size=2)
    resumed.next()
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    got = [resumed.next() for _ in range(9)]
    assert all(torch.equal(x, y) for x, y in zip(expected, got))
    assert resumed.epoch == stream.epoch


def test_stream_inputs_and_errors():
    images = _tagged_images(10)
    frozen = np.frombuffer(images.tobytes(), np.uint8).reshape(images.shape)  # read-only buffer
    a = DeviceImageStream(frozen, 5, seed=1).next()
    assert torch.equal(a, DeviceImageStream(torch.from_numpy(images), 5, seed=1).next())
    assert a.dtype == torch.float32 and a.shape == (5, 3, 8, 8)

    _spec_error(lambda: DeviceImageStream(images, 11, seed=0), "batch_size 11", "10 images")
    _spec_error(lambda: DeviceImageStream(images, 3, seed=0, rank=0, world_size=4), "10 images")
    _spec_error(lambda: DeviceImageStream(images, 1, seed=0, rank=0, world_size=11), "11 ranks", "10 images")
    _spec_error(lambda: DeviceImageStream(images, 1, seed=0, rank=2, world_size=2), "rank")
    _spec_error(lambda: DeviceImageStream(images, 0, seed=0), "batch_size")
    _spec_error(lambda: DeviceImageStream(images, 2, seed=0, scale="logit"), "logit", "tanh")
    _spec_error(lambda: DeviceImageStream(images.astype(np.float32), 2, seed=0), "uint8")
    state = DeviceImageStream(images, 2, seed=0).state_dict()
    _spec_error(lambda: DeviceImageStream(images, 5, seed=0).load_state_dict(state), "batch_size")
