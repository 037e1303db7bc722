"""Downloads for real, offline: CIFAR-10, MNIST and the Inception weights fetched from an HTTP server on 127.0.0.1
started here (torchvision's and torch-fidelity's URLs pointed at it), with the wrong checksum, a connection cut
mid-file, and no server at all. Nothing in this file reaches beyond 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from test_image_data import _write_cifar_archive, _write_cifar_folder, _write_mnist
from test_image_metrics import FakeExtractor, random_inception_state_dict

from gan_train.data import cifar10, mnist
from gan_train.metrics import inception
from stability.cli import main
from stability.util.errors import UserError


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message, message
    return message


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Any connection beyond 127.0.0.1 fails the test."""
    real = socket.socket.connect

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a test tried to reach {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


class Server:
    """A threaded HTTP server on 127.0.0.1 serving ``routes``: path → (bytes, "full" | "cut"). A "cut" response
    announces the whole length and closes the connection after half of it, as a dropped download does."""

    def __init__(self):
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                body, mode = server.routes.get(self.path, (None, None))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body if mode == "full" else body[: len(body) // 2])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # torchvision's redirect probe reads the headers only
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def closed_port_url(path: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: what a machine without a network gets."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------------------------------------- CIFAR-10


@pytest.fixture
def cifar_tarball(tmp_path) -> tuple[bytes, dict]:
    """A fake ``cifar-10-python.tar.gz`` in the real format (pickled batches in cifar-10-batches-py/), trusted."""
    batches = _write_cifar_folder(tmp_path / "source")
    _write_cifar_archive(tmp_path / "source" / cifar10.FOLDER_NAME, tmp_path / "archive.tar.gz")
    return (tmp_path / "archive.tar.gz").read_bytes(), batches


def point_cifar_at(monkeypatch, server, blob, mode="full", md5sum=None):
    from torchvision.datasets import CIFAR10

    server.routes["/cifar-10-python.tar.gz"] = (blob, mode)
    monkeypatch.setattr(CIFAR10, "url", server.url("/cifar-10-python.tar.gz"))
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5sum or md5(blob))


def test_cifar_download_for_real_then_never_again(tmp_path, server, monkeypatch, cifar_tarball):
    blob, batches = cifar_tarball
    point_cifar_at(monkeypatch, server, blob)
    data = tmp_path / "data"
    data.mkdir()  # an empty data folder, as a user's
    with pytest.raises(UserError) as excinfo:  # not asked: nothing is fetched
        cifar10.load_cifar10(data)
    assert "--download" in one_line(excinfo) and server.requests == []
    images, labels = cifar10.load_cifar10(data, "test", download=True)
    assert np.array_equal(images.reshape(len(images), -1), batches["test_batch"][b"data"])
    assert np.array_equal(labels, batches["test_batch"][b"labels"])
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]  # no temp
    assert (data / "cifar-10-python.tar.gz").read_bytes() == blob
    fetched = len(server.requests)
    assert fetched >= 1
    cifar10.load_cifar10(data, "train", download=True)  # there already: no request
    assert len(server.requests) == fetched


@pytest.mark.parametrize("case", ["wrong-md5", "cut"])
def test_cifar_bad_download_is_refused_and_leaves_nothing(tmp_path, server, monkeypatch, cifar_tarball, case):
    blob, _ = cifar_tarball
    point_cifar_at(monkeypatch, server, blob, mode="cut" if case == "cut" else "full",
                   md5sum="0" * 32 if case == "wrong-md5" else None)  # fmt: skip
    data = tmp_path / "data"
    with pytest.raises(UserError) as excinfo:
        cifar10.load_cifar10(data, download=True)
    message = one_line(excinfo)
    got = md5(blob) if case == "wrong-md5" else md5(blob[: len(blob) // 2])
    assert "MD5" in message and got in message and "nothing was kept" in message
    assert leftovers(data) == []  # no archive, no half file, no staging folder


def test_cifar_offline_says_what_to_put_where(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", closed_port_url("/cifar-10-python.tar.gz"))
    with pytest.raises(UserError) as excinfo:
        cifar10.load_cifar10(tmp_path / "data", download=True)
    message = one_line(excinfo)
    assert "cannot download" in message and str(tmp_path / "data") in message and "cifar-10-batches-py" in message
    assert leftovers(tmp_path / "data") == []


def test_eval_download_option_fetches_the_reference(tmp_path, server, monkeypatch, cifar_tarball, capsys):
    blob, _ = cifar_tarball
    point_cifar_at(monkeypatch, server, blob)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"stand-in")
    monkeypatch.setattr(inception, "resolve_weights", lambda path=None, progress=True: weights)
    monkeypatch.setattr(inception, "build_inception", lambda path, device="cpu": FakeExtractor())
    monkeypatch.setenv("GANSTAB_CACHE", str(tmp_path / "cache"))
    np.save(tmp_path / "x.npy", np.zeros((6, 8, 8, 3), np.uint8) + np.arange(6, dtype=np.uint8)[:, None, None, None])
    argv = ["eval", str(tmp_path / "x.npy"), "--data-dir", str(tmp_path / "data"), "--metrics", "fid", "--ref",
            "test", "--no-progress"]  # fmt: skip
    (tmp_path / "data").mkdir()
    assert main(argv) == 2 and "--download" in capsys.readouterr().err and server.requests == []
    assert main([*argv, "--download"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["ref_split"] == "test" and record["ref_n"] == 20 and record["fid"] > 0


# ---------------------------------------------------------------------------------------------- MNIST


def test_mnist_download_for_real(tmp_path, server, monkeypatch):
    from torchvision.datasets import MNIST

    written = _write_mnist(tmp_path / "source", gz=True)
    raw = tmp_path / "source" / "MNIST" / "raw"
    resources = []
    for name, _ in MNIST.resources:
        blob = (raw / name).read_bytes()
        server.routes[f"/mnist/{name}"] = (blob, "full")
        resources.append((name, md5(blob)))
    monkeypatch.setattr(MNIST, "mirrors", [server.url("/mnist/")])
    monkeypatch.setattr(MNIST, "resources", resources)
    images, labels = mnist.load_mnist(tmp_path / "data", "test", download=True)
    assert np.array_equal(images[:, 0], written["test"][0]) and np.array_equal(labels, written["test"][1])
    assert not [p for p in (tmp_path / "data").rglob(".*")]  # the staging folder is gone
    monkeypatch.setattr(MNIST, "resources", [(n, "0" * 32) for n, _ in resources])  # now every MD5 is wrong
    with pytest.raises(UserError) as excinfo:
        mnist.load_mnist(tmp_path / "other", download=True)
    assert "cannot download MNIST" in one_line(excinfo) and "nothing was kept" in str(excinfo.value)
    assert leftovers(tmp_path / "other") == []


# ---------------------------------------------------------------------------------------------- Inception weights


@pytest.fixture(scope="module")
def weights_bytes(tmp_path_factory) -> bytes:
    buffer = io.BytesIO()
    torch.save(random_inception_state_dict(), buffer)
    return buffer.getvalue()


def point_weights_at(monkeypatch, tmp_path, url):
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(fe, "URL_INCEPTION_V3", url)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def test_weights_from_torch_fidelitys_download_and_cache(tmp_path, server, monkeypatch, weights_bytes):
    server.routes["/weights-inception-2015-12-05-6726825d.pth"] = (weights_bytes, "full")
    cache = point_weights_at(monkeypatch, tmp_path, server.url("/weights-inception-2015-12-05-6726825d.pth"))
    extractor = inception.load_inception(None, progress=False)
    assert extractor.features_list == ["2048", "logits_unbiased"]
    assert leftovers(cache) == ["weights-inception-2015-12-05-6726825d.pth"]  # where torch-fidelity keeps it
    assert (cache / "weights-inception-2015-12-05-6726825d.pth").read_bytes() == weights_bytes
    inception.load_inception("", progress=False)  # cached: no second request
    assert server.requests == ["/weights-inception-2015-12-05-6726825d.pth"]


@pytest.mark.parametrize("case", ["garbage", "cut"])
def test_a_bad_weights_download_is_refused_and_leaves_nothing(tmp_path, server, monkeypatch, weights_bytes, case):
    body = b"<html>rate limited</html>" * 100 if case == "garbage" else weights_bytes
    server.routes["/w.pth"] = (body, "full" if case == "garbage" else "cut")
    cache = point_weights_at(monkeypatch, tmp_path, server.url("/w.pth"))
    with pytest.raises(UserError) as excinfo:
        inception.load_inception(None, progress=False)
    message = one_line(excinfo)
    assert "is not the InceptionV3 weights" in message and "nothing was kept" in message
    assert leftovers(cache) == []


def test_weights_offline_say_which_file_to_put_where(tmp_path, monkeypatch):
    url = closed_port_url("/weights-inception-2015-12-05-6726825d.pth")
    cache = point_weights_at(monkeypatch, tmp_path, url)
    with pytest.raises(UserError) as excinfo:
        inception.load_inception(None, progress=False)
    message = one_line(excinfo)
    assert url in message and str(cache / "weights-inception-2015-12-05-6726825d.pth") in message
    assert "--inception-weights" in message and leftovers(cache) == []


def test_garbage_weights_are_refused_before_training_starts(tmp_path, capsys):
    data = tmp_path / "cifar"
    _write_cifar_folder(data)
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(b"\x00" * 1000)
    run = tmp_path / "run"
    sets = [f"data_dir={data}", "eval_every=2", f"inception_weights={garbage}", "progress=false", "iterations=2",
            "width=8", "batch_size=4", "n_critic=1", "tensorboard=false", "device=cpu"]  # fmt: skip
    argv = ["train", "--preset", "cifar10-dcgan-mu_mid", "--out", str(run)] + [w for s in sets for w in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(garbage) in err and "cannot be read as a PyTorch state dict" in err
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()  # no iteration ran


def test_train_download_option_fetches_the_training_set(tmp_path, server, monkeypatch, cifar_tarball, capsys):
    blob, _ = cifar_tarball
    point_cifar_at(monkeypatch, server, blob)
    sets = [f"data_dir={tmp_path / 'data'}", "width=8", "batch_size=4", "iterations=1", "n_critic=1",
            "checkpoint_every=1", "tensorboard=false", "progress=false", "device=cpu"]  # fmt: skip
    argv = ["train", "--preset", "cifar10-dcgan-mu_mid", "--out", str(tmp_path / "run")]
    argv += [w for s in sets for w in ("--set", s)]
    assert main(argv) == 2 and "--download" in capsys.readouterr().err and server.requests == []
    assert main([*argv, "--download"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["download"] is True and (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_5").is_file()
