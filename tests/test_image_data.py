"""CIFAR-10 and MNIST through torchvision on tiny fake files in the real formats, and the device image stream."""

from __future__ import annotations

import gzip
import hashlib
import io
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
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


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


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fake_cifar_checksums(folder: Path) -> dict:
    """The class attributes that make torchvision's CIFAR10 take the fake files of ``folder`` for the real ones."""
    from torchvision.datasets import CIFAR10

    return {
        "train_list": [[name, _md5(folder / name)] for name, _ in CIFAR10.train_list],
        "test_list": [[name, _md5(folder / name)] for name, _ in CIFAR10.test_list],
        "meta": {**CIFAR10.meta, "md5": _md5(folder / CIFAR10.meta["filename"])},
    }


def trust_fake_cifar(folder: Path) -> None:
    """Let torchvision's CIFAR10 read the fake files of ``folder`` in this process (it checks every file's MD5 before
    unpickling it). The fakes are a function of their seed, so every test writing seed 0 trusts the same MD5s."""
    from torchvision.datasets import CIFAR10

    for name, value in fake_cifar_checksums(folder).items():
        setattr(CIFAR10, name, value)


def fake_cifar_prelude(folder: Path) -> str:
    """Python lines for a subprocess (a torchrun worker) that trust the fake files of ``folder`` as this one does."""
    return (
        "import torchvision.datasets\n"
        f"for _k, _v in {fake_cifar_checksums(folder / cifar10.FOLDER_NAME)!r}.items():\n"
        "    setattr(torchvision.datasets.CIFAR10, _k, _v)\n"
    )


def _write_cifar_folder(root: Path, seed: int = 0) -> dict[str, dict]:
    """A fake ``cifar-10-batches-py/`` of 20 images a batch in ``root``, trusted by torchvision in this process."""
    folder = root / cifar10.FOLDER_NAME
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    batches = {}
    for name in (*CIFAR_TRAIN, "test_batch"):
        batches[name] = _fake_batch(rng, name)
        (folder / name).write_bytes(_py2_pickle(batches[name]))
    meta = {b"num_cases_per_batch": PER_FILE, b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(_py2_pickle(meta))
    trust_fake_cifar(folder)
    return batches


def _write_cifar_archive(folder: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=f"{cifar10.FOLDER_NAME}/{path.name}")


def _expected(batches: dict[str, dict], split: str) -> tuple[np.ndarray, np.ndarray]:
    names = CIFAR_TRAIN if split == "train" else ("test_batch",)
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return data, labels


@pytest.fixture
def cifar_dir(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    return tmp_path, _write_cifar_folder(tmp_path)


# ---------------------------------------------------------------------------------------------- CIFAR-10 tests


def test_cifar_folder_round_trips_pixels(cifar_dir):
    root, batches = cifar_dir
    for split, n in (("train", 5 * PER_FILE), ("test", PER_FILE)):
        data, labels = _expected(batches, split)
        for where in (root, root / cifar10.FOLDER_NAME):  # the parent or the folder itself
            images, got_labels = cifar10.load_cifar10(where, split)
            assert images.dtype == np.uint8 and images.shape == (n, 3, 32, 32) and images.flags.c_contiguous
            assert got_labels.dtype == np.int64 and np.array_equal(got_labels, labels)
            assert np.array_equal(images.reshape(n, -1), data)
    images, _ = cifar10.load_cifar10(root)
    data, _ = _expected(batches, "train")
    i, c, y, x = 47, 2, 5, 31  # row-major channel-first: the value at c·1024 + y·32 + x of row i
    assert images[i, c, y, x] == data[i, c * 1024 + y * 32 + x]


def test_cifar_archive_alone_is_checked_and_unpacked_without_a_network(cifar_dir, tmp_path, monkeypatch, capsys):
    from torchvision.datasets import CIFAR10

    root, batches = cifar_dir
    archive = tmp_path / "packed" / CIFAR10.filename
    _write_cifar_archive(root / cifar10.FOLDER_NAME, archive)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    for split in ("train", "test"):
        images, labels = cifar10.load_cifar10(archive.parent, split)
        data, want_labels = _expected(batches, split)
        assert np.array_equal(images.reshape(len(data), -1), data) and np.array_equal(labels, want_labels)
    assert capsys.readouterr().err.count("unpacked 7 file(s)") == 1  # once: the second load read the folder
    assert sorted(p.name for p in archive.parent.iterdir()) == [cifar10.FOLDER_NAME, CIFAR10.filename]  # no temp


def test_cifar_archive_with_wrong_md5_is_refused(cifar_dir, tmp_path):
    from torchvision.datasets import CIFAR10

    root, _ = cifar_dir
    archive = tmp_path / "packed" / CIFAR10.filename
    _write_cifar_archive(root / cifar10.FOLDER_NAME, archive)
    _spec_error(lambda: cifar10.load_cifar10(archive.parent), archive, CIFAR10.tgz_md5, _md5(archive), "MD5")
    assert sorted(p.name for p in archive.parent.iterdir()) == [CIFAR10.filename]  # nothing unpacked


def test_cifar_incomplete_folder_is_completed_from_the_archive(cifar_dir, monkeypatch):
    from torchvision.datasets import CIFAR10

    root, batches = cifar_dir
    _write_cifar_archive(root / cifar10.FOLDER_NAME, root / CIFAR10.filename)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(root / CIFAR10.filename))
    (root / cifar10.FOLDER_NAME / "data_batch_2").unlink()
    images, _ = cifar10.load_cifar10(root)
    assert np.array_equal(images.reshape(5 * PER_FILE, -1), _expected(batches, "train")[0])
    assert (root / cifar10.FOLDER_NAME / "data_batch_2").is_file()


def _pickle_that_writes(marker: Path) -> bytes:
    """A batch whose unpickling would create ``marker``: proof that it was not unpickled."""

    class Opens:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps({"data": Opens(), "labels": [0] * PER_FILE}, protocol=2)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda good, marker: b"\x00not a pickle at all", id="garbage"),
        pytest.param(lambda good, marker: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good, marker: b"", id="empty"),
        pytest.param(lambda good, marker: _py2_pickle({b"data": np.zeros((20, 1024), np.uint8)}), id="other-data"),
        pytest.param(lambda good, marker: _pickle_that_writes(marker), id="code"),
    ],
)
def test_cifar_damaged_batch_is_refused_by_its_md5_before_unpickling(cifar_dir, tmp_path, content):
    root, _ = cifar_dir
    path = root / cifar10.FOLDER_NAME / "data_batch_3"
    marker = tmp_path / "unpickled"
    path.write_bytes(content(path.read_bytes(), marker))
    message = _spec_error(lambda: cifar10.load_cifar10(root), path, _md5(path), "MD5", "--download")
    assert "data_batch_3" in message and not marker.exists()


def test_cifar_missing_files(cifar_dir, tmp_path):
    from torchvision.datasets import CIFAR10

    root, _ = cifar_dir
    (root / cifar10.FOLDER_NAME / "data_batch_4").unlink()
    _spec_error(lambda: cifar10.load_cifar10(root), "data_batch_4", CIFAR10.url, root, "--download")
    empty = tmp_path / "empty"
    empty.mkdir()
    _spec_error(lambda: cifar10.load_cifar10(empty), CIFAR10.filename, cifar10.FOLDER_NAME, CIFAR10.url, empty)
    _spec_error(lambda: cifar10.load_cifar10(tmp_path / "nowhere"), tmp_path / "nowhere", CIFAR10.url)
    _spec_error(lambda: cifar10.load_cifar10(root, "valid"), "valid")


# ---------------------------------------------------------------------------------------------- MNIST


def _idx(magic: int, array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _write_mnist(root: Path, gz: bool, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four IDX files of a fake MNIST (30 train, 12 test images) in ``root/MNIST/raw``, where torchvision reads."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", 30), ("test", 12)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for name, blob in zip(mnist.SPLIT_FILES[split], (_idx(0x803, images), _idx(0x801, labels))):
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (raw / name).write_bytes(blob)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mnist_round_trips_pixels(tmp_path, gz):
    written = _write_mnist(tmp_path, gz)
    for where in (tmp_path, tmp_path / "MNIST", tmp_path / "MNIST" / "raw"):
        for split, (want_images, want_labels) in written.items():
            images, labels = mnist.load_mnist(where, split)
            assert images.dtype == np.uint8 and images.shape == (len(want_images), 1, 28, 28)
            assert labels.dtype == np.int64 and np.array_equal(labels, want_labels)
            assert np.array_equal(images[:, 0], want_images)
    assert mnist.load_mnist(tmp_path)[0][7, 0, 13, 27] == written["train"][0][7, 13, 27]
    if gz:  # unpacked beside the .gz files, nothing else left behind
        names = sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir())
        assert names == sorted([*mnist.raw_names(), *(n + ".gz" for n in mnist.raw_names())])


def test_mnist_bad_files_name_the_file(tmp_path):
    _write_mnist(tmp_path / "plain", gz=False)
    raw = tmp_path / "plain" / "MNIST" / "raw"
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    good_images, good_labels = images.read_bytes(), labels.read_bytes()
    load = lambda: mnist.load_mnist(tmp_path / "plain")  # noqa: E731
    for bad in (good_labels, good_images[:-5], good_images[:10], good_images + b"\x00" * 784):
        images.write_bytes(bad)  # a label file where images belong, truncated (body, header), one image too long
        _spec_error(load, images, "replace it")
    images.write_bytes(good_images)
    labels.write_bytes(_idx(0x801, np.zeros(29, np.uint8)))
    _spec_error(load, labels, "29 labels")
    labels.write_bytes(_idx(0x801, np.full(30, 10, np.uint8)))
    _spec_error(load, labels, "outside 0..9")
    labels.write_bytes(good_labels)
    assert len(load()[0]) == 30

    _write_mnist(tmp_path / "gz", gz=True)
    gz_images = tmp_path / "gz" / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    blob = gz_images.read_bytes()
    gz_images.write_bytes(blob[: len(blob) // 2])
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz", "test"), gz_images, "truncated")
    assert not list((tmp_path / "gz" / "MNIST" / "raw").glob(".*"))  # the staging folder is gone


def test_mnist_missing_files_say_where_they_belong(tmp_path):
    _write_mnist(tmp_path / "gz", gz=True)
    raw = tmp_path / "gz" / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz"), "train-labels-idx1-ubyte", raw, "--download")
    _spec_error(lambda: mnist.load_mnist(tmp_path / "nowhere"), tmp_path / "nowhere")
    _spec_error(lambda: mnist.load_mnist(tmp_path / "gz", "valid"), "valid")
    flat = tmp_path / "flat"  # the files straight in the folder, as ganstab read them before torchvision
    flat.mkdir()
    for path in raw.iterdir():
        path.rename(flat / path.name)
    _spec_error(lambda: mnist.load_mnist(flat), flat / "MNIST" / "raw", "move", "t10k-images-idx3-ubyte")


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
