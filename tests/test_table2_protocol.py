"""table2.md says per row how the numbers were measured (metric set, images, reference split and size, EMA) beside
the paper's values, with KID, precision/recall and the EMA generator's numbers when a run has them."""

from __future__ import annotations

import csv
import json

from gan_train.sweep import TABLE2, write_table


def fake_run(folder, records, ema=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"dataset": "cifar10", **({"ema": ema} if ema else {})}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def table_rows(path) -> dict[str, list[str]]:
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return {"header": header} | {
        cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])
    }


def test_each_row_states_its_protocol_beside_the_paper(tmp_path):
    fake_run(tmp_path / "wgan-gp", [
        {"iteration": 1000, "event": "eval", "fid": 99.0},  # an older evaluation: the table takes the last
        {"iteration": 2000, "event": "eval", "metrics": ["is", "fid"], "n_samples": 50000, "ref_split": "train",
         "ref_n": 50000, "is_mean": 7.123, "is_std": 0.0456, "fid": 18.04},
    ])  # fmt: skip
    fake_run(tmp_path / "mu_mid", [
        {"iteration": 2000, "event": "eval", "metrics": ["is", "fid", "kid", "prc"], "n_samples": 10000,
         "ref_split": "test", "ref_n": 10000, "is_mean": 7.5, "is_std": 0.1, "fid": 21.26, "kid_mean": 0.01234,
         "kid_std": 0.00056, "precision": 0.6, "recall": 0.45, "fid_ema": 17.0, "is_mean_ema": 7.9,
         "is_std_ema": 0.08},
    ], ema=0.999)  # fmt: skip
    write_table("resnet", ["wgan-gp", "mu_mid", "p_g"], tmp_path)  # p_g: never run
    rows = table_rows(tmp_path / "table2.md")
    assert rows["header"] == [
        "method", "iteration", "IS (ours)", "FID (ours)", "KID (ours)", "precision / recall (ours)", "IS (EMA)",
        "FID (EMA)", "KID (EMA)", "precision / recall (EMA)", "metrics", "images", "reference", "EMA", "IS (paper)",
        "FID (paper)",
    ]  # fmt: skip
    assert rows["wgan-gp"] == ["wgan-gp", "2000", "7.12 ± 0.05", "18.0", "–", "–", "–", "–", "–", "–", "is, fid",
                               "50,000", "train (50,000)", "no", "7.82 ± 0.09", "18.1"]  # fmt: skip
    assert rows["mu_mid"] == ["mu_mid", "2000", "7.50 ± 0.10", "21.3", "0.0123 ± 0.0006", "0.600 / 0.450",
                              "7.90 ± 0.08", "17.0", "–", "–", "is, fid, kid, prc", "10,000", "test (10,000)",
                              "β = 0.999", "7.86 ± 0.07", "16.4"]  # fmt: skip
    assert rows["p_g"][1:4] == ["–", "–", "–"] and rows["p_g"][-3:] == ["no", "7.63 ± 0.10", "20.9"]
    text = (tmp_path / "table2.md").read_text()
    assert "states neither its sample counts nor its reference split" in text
    saved = {r["method"]: r for r in csv.DictReader((tmp_path / "table2.csv").open())}
    assert saved["mu_mid"]["ref_split"] == "test" and saved["mu_mid"]["ema"] == "0.999"
    assert float(saved["mu_mid"]["fid_ema"]) == 17.0 and saved["wgan-gp"]["kid_mean"] == ""
    assert float(saved["p_g"]["paper_fid"]) == TABLE2["p_g"]["resnet"][2]


def test_without_kid_prc_or_ema_the_table_keeps_its_columns_few(tmp_path):
    record = {"iteration": 5, "event": "eval", "metrics": ["is", "fid"], "n_samples": 6, "ref_split": "train",
              "ref_n": 100, "is_mean": 1.0, "is_std": 0.0, "fid": 3.0}  # fmt: skip
    fake_run(tmp_path / "wgan-gp", [record])
    write_table("dcgan", ["wgan-gp"], tmp_path)
    rows = table_rows(tmp_path / "table2.md")
    assert rows["header"] == ["method", "iteration", "IS (ours)", "FID (ours)", "metrics", "images", "reference",
                              "EMA", "IS (paper)", "FID (paper)"]  # fmt: skip
    assert rows["wgan-gp"][4:8] == ["is, fid", "6", "train (100)", "no"]
