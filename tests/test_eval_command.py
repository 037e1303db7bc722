"""``ganstab eval`` on images made elsewhere: a folder of PNGs scores exactly as the same images in an array (any
layout, uint8 or float in [-1, 1]), and ambiguous or absurd input is one line, exit 2. A stand-in network replaces
Inception (no weights), the reference is a fake CIFAR-10 in the real format."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_image_data import _write_cifar_folder
from test_image_metrics import FakeExtractor

from gan_train.metrics import inception
from gan_train.metrics.samples import images_from_array
from stability.cli import main
from stability.util.errors import UserError


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """Inception replaced by a small fixed network; a dummy weights file keys the reference cache."""
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"stand-in")
    monkeypatch.setattr(inception, "resolve_weights", lambda path=None, progress=True: weights)
    monkeypatch.setattr(inception, "build_inception", lambda path, device="cpu": FakeExtractor())
    monkeypatch.setenv("GANSTAB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "cifar"
    _write_cifar_folder(data)
    return data


def images(n: int = 24, size: int = 16) -> np.ndarray:
    """uint8 N×H×W×3, as image tools write them."""
    return np.random.default_rng(7).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def run(argv, capsys) -> dict:
    assert main(["eval", *argv, "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def scores(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("source", "kind")}


def test_png_folder_scores_as_the_same_images_in_any_array_form(stand_in, tmp_path, capsys):
    hwc = images()
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(hwc):
        Image.fromarray(image).save(folder / f"img_{i:03d}.png")
    (folder / "notes.txt").write_text("not an image")  # ignored: PNGs only
    np.save(tmp_path / "nhwc.npy", hwc)
    np.savez(tmp_path / "nchw.npz", images=hwc.transpose(0, 3, 1, 2), labels=np.zeros(24))
    # floats in [-1, 1] that torch-fidelity's map (255·(x/2 + 1/2) of x clamped to [-1, 1], truncated) takes back to
    # the same bytes: x = 2(u + 1/2)/255 − 1 lands mid-level, and u = 255 at 1
    tanh = np.minimum((hwc.astype(np.float64) + 0.5) / 255 * 2 - 1, 1.0)
    np.save(tmp_path / "tanh.npy", tanh.astype(np.float32))
    common = ["--data-dir", str(stand_in), "--metrics", "is,fid,kid,prc", "--ref", "test", "--is-splits", "4"]

    png = run([str(folder), *common], capsys)
    assert png["kind"] == "images" and png["metrics"] == ["is", "fid", "kid", "prc"]
    assert (png["n_samples"], png["ref_split"], png["ref_n"]) == (24, "test", 20)  # the fake test batch: 20 images
    assert png["kid_subset_size"] == 20 and png["is_splits"] == 4 and png["fid"] > 0
    for name in ("nhwc.npy", "nchw.npz", "tanh.npy"):
        assert scores(run([str(tmp_path / name), *common], capsys)) == scores(png), name
    # the first 10 only: another record
    first = run([str(tmp_path / "nhwc.npy"), *common, "--n", "10"], capsys)
    assert first["n_samples"] == 10 and first["fid"] != png["fid"]
    # the train split is another reference
    train = run([str(folder), *common[:-4], "--ref", "train", "--is-splits", "4"], capsys)
    assert train["ref_split"] == "train" and train["ref_n"] == 100 and train["fid"] != png["fid"]


def test_ambiguous_or_absurd_input_is_one_line_exit_2(stand_in, tmp_path, capsys):
    hwc = images(12)
    cases = {
        "unit.npy": (hwc / 255.0, "could be in [0, 1] or [-1, 1]"),
        "square.npy": (np.zeros((4, 3, 8, 3), np.uint8), "could be N×C×H×W or N×H×W×C"),
        "grey.npy": (np.zeros((4, 1, 8, 8), np.uint8), "1-channel images"),
        "wide.npy": (hwc * 2.0 - 300.0, "outside [-1, 1]"),
        "ints.npy": (hwc.astype(np.int64), "uint8 or float"),
        "flat.npy": (hwc.reshape(12, -1), "4-D array"),
    }
    for name, (array, needle) in cases.items():
        np.save(tmp_path / name, array)
        assert main(["eval", str(tmp_path / name), "--metrics", "is", "--is-splits", "2"]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (name, err)
    np.save(tmp_path / "ok.npy", hwc)
    for argv, needle in (
        (["--n", "13"], "more images than"),
        (["--metrics", "is,fid,kid"], "fid, kid: the reference images need --data-dir"),
        (["--metrics", "is,kld"], "unknown image metric 'kld'"),
        (["--data-dir", str(tmp_path / "nowhere"), "--metrics", "fid"], "does not exist"),
        (["--checkpoint", "5"], "for run directories"),
        (["--device", "gpu0", "--metrics", "is"], "not a torch device: 'gpu0'"),
    ):
        assert main(["eval", str(tmp_path / "ok.npy"), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (argv, err)
    for bad in ("-5", "1e9", "abc"):  # argparse's range check: one line, exit 2, before anything is read
        with pytest.raises(SystemExit) as exited:
            main(["eval", str(tmp_path / "ok.npy"), "--n", bad])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and err.count("\n") == 1 and "--n" in err, err
    with pytest.raises(SystemExit) as exited:  # --out's argparse type (stability/util/checks.py)
        main(["eval", str(tmp_path / "ok.npy"), "--out", str(tmp_path / "scores.txt")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1 and "must end in .json" in err, err
    # a layout or scale given resolves the ambiguity
    assert run([str(tmp_path / "unit.npy"), "--metrics", "is", "--is-splits", "2", "--scale", "unit"], capsys)


def test_layout_and_scale_rules_on_arrays():
    u = images(3, 5)  # N×H×W×3 with H = W = 5: only axis 3 can be the channels
    assert images_from_array(u).shape == (3, 3, 5, 5)
    assert np.array_equal(images_from_array(u), images_from_array(u.transpose(0, 3, 1, 2)))
    square = np.zeros((2, 3, 4, 3), np.uint8)
    assert images_from_array(square, layout="nhwc").shape == (2, 3, 3, 4)
    with pytest.raises(UserError, match="could be N×C×H×W or N×H×W×C"):
        images_from_array(square)
    # 255·(x/2 + 1/2), truncated: −1 → 0, −0.5 → 63.75 → 63, 0 → 127.5 → 127, 1 → 255 (N×3×1×4: axis 1 is C)
    x = np.tile(np.array([-1.0, -0.5, 0.0, 1.0], np.float32), (1, 3, 1, 1))
    assert images_from_array(x)[0, :, 0].tolist() == [[0, 63, 127, 255]] * 3
    unit = np.tile(np.array([0.0, 0.5, 1.0, 0.25], np.float32), (1, 3, 1, 1))  # [0, 1]: ambiguous unless said
    assert images_from_array(unit, scale="unit")[0, 0, 0].tolist() == [0, 127, 255, 63]
    with pytest.raises(UserError, match="could be in"):
        images_from_array(unit)
