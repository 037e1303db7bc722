"""The Table 2 sweep of ``003_…``: CIFAR-10 methods one after another, resumable, with a paper-vs-ours table.

Each method is a preset ``cifar10-{arch}-{method}`` trained in ``OUT/{method}/``. A run whose final checkpoint
exists is skipped; an interrupted one is resumed from its newest checkpoint; so rerunning the same command after a
kill does nothing twice. ``table2.md`` and ``table2.csv`` put the last IS ± std and FID of each run (from its
``metrics.jsonl`` eval records) beside the values reported in Table 2 of ``003_…`` (lines 236–244), and
``fid.png``/``fid.pdf`` plot FID against iteration. ``--print-commands`` prints one ``ganstab train`` line per
method for a cluster instead of training.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gan_train.config import TrainConfig, apply_overrides
from gan_train.presets import IMAGE_METHODS, get_preset
from stability.util.atomic import atomic_save, atomic_write, ensure_directory
from stability.util.errors import UserError, unknown_name
from stability.util.tables import markdown_table

#: Table 2 of ``003_…``: method → (IS mean, IS std, FID) under DCGAN and ResNet; ``None`` where not reported
#: (WGAN failed on the ResNet, footnote 3).
TABLE2: dict[str, dict[str, tuple[float, float, float] | None]] = {
    "wgan": {"dcgan": (5.64, 0.09, 48.7), "resnet": None},
    "wgan-gp": {"dcgan": (6.48, 0.10, 35.0), "resnet": (7.82, 0.09, 18.1)},
    "p_g": {"dcgan": (6.46, 0.09, 38.0), "resnet": (7.63, 0.10, 20.9)},
    "p_d": {"dcgan": (6.33, 0.07, 38.9), "resnet": (7.63, 0.09, 20.3)},
    "mu_gp": {"dcgan": (6.40, 0.08, 35.4), "resnet": (7.60, 0.09, 18.3)},
    "mu_mid": {"dcgan": (6.60, 0.07, 33.9), "resnet": (7.86, 0.07, 16.4)},
    "mu_anchor": {"dcgan": (6.45, 0.07, 33.7), "resnet": (7.36, 0.09, 22.4)},
}

#: The methods of Table 2, in its order.
TABLE2_METHODS = tuple(TABLE2)


def sweep_settings(
    arch: str,
    methods: Sequence[str] | None,
    iterations: int | None,
    data_dir: str,
    inception_weights: str | None,
    extra: Sequence[str] = (),
) -> list[tuple[str, list[str]]]:
    """``(method, --set assignments)`` per method, validated now so that a typo fails before hours of training."""
    if arch not in ("resnet", "dcgan"):
        raise unknown_name("architecture", arch, ("resnet", "dcgan"))
    methods = list(methods or TABLE2_METHODS)
    for method in methods:
        if method not in IMAGE_METHODS:
            raise unknown_name("method", method, IMAGE_METHODS)
    out = []
    for method in methods:
        sets = [f"data_dir={data_dir}"]
        if iterations is not None:
            sets.append(f"iterations={iterations}")
        if inception_weights:
            sets.append(f"inception_weights={inception_weights}")
        sets += list(extra)
        apply_overrides(get_preset(f"cifar10-{arch}-{method}").config(), sets)  # raises on bad input
        out.append((method, sets))
    return out


def print_commands(arch: str, settings: list[tuple[str, list[str]]], out: Path, nproc: int = 1, nnodes: int = 1) -> str:
    """One shell line per method: ``ganstab train`` on one process, or a ``torchrun`` launch line.

    With ``nproc`` > 1 (processes per node, one per GPU) or ``nnodes`` > 1 the
    line starts ``torchrun`` (see :mod:`gan_train.distributed`: the batch stays
    global, each process takes its shard). Multi-node lines carry the
    rendezvous placeholders ``$NODE_RANK`` and ``$MASTER:29500`` to fill in on
    each node.
    """
    if nproc < 1 or nnodes < 1:
        raise UserError(f"--nproc and --nnodes must be at least 1, got {nproc} and {nnodes}")
    launcher = "ganstab"
    if nproc > 1 or nnodes > 1:
        rendezvous = "--standalone"  # one node: torchrun picks a free local port
        if nnodes > 1:  # left unquoted on purpose: the shell of each node fills them in
            rendezvous = f"--nnodes={nnodes} --node_rank=$NODE_RANK --rdzv_backend=c10d --rdzv_endpoint=$MASTER:29500"
        launcher = f"torchrun --nproc_per_node={nproc} {rendezvous} -m stability.cli"
    lines = []
    for method, sets in settings:
        words = ["train", "--preset", f"cifar10-{arch}-{method}", "--out", str(out / method)]
        for s in sets:
            words += ["--set", s]
        lines.append(f"{launcher} {shlex.join(words)}")
    return "\n".join(lines)


def sweep_configs(arch: str, settings: list[tuple[str, list[str]]]) -> list[TrainConfig]:
    """The resolved config of each method of :func:`sweep_settings`, in order."""
    return [apply_overrides(get_preset(f"cifar10-{arch}-{method}").config(), sets) for method, sets in settings]


def run_sweep(arch: str, settings: list[tuple[str, list[str]]], out: Path, progress: bool = True) -> dict[str, Any]:
    """Train (or resume, or skip) each method, then write the table and the plot.

    Every method is planned before any trains (:func:`gan_train.run_dir.plan_run`): a run begun, or finished, with
    other settings (``--set lr_d=…`` on a rerun) is refused naming the key, as ``train --resume`` refuses it, instead
    of being skipped or resumed with its old values.
    """
    from gan_train import checkpoint as ckpt
    from gan_train.run_dir import plan_run
    from gan_train.trainer import Trainer

    plans = []
    for (method, _), config in zip(settings, sweep_configs(arch, settings)):
        plan = plan_run(out / method, config, keep=("device",))  # resumed when the folder holds the run, else started
        found = ckpt.list_checkpoints(out / method) if plan.resume else []
        plans.append((method, plan, bool(found) and found[-1][0] >= config.iterations))
    ensure_directory(out)
    done: dict[str, str] = {}
    for method, plan, finished in plans:
        if finished:
            done[method] = "skipped (finished)"
            continue
        with Trainer.open(plan) as trainer:  # releases the run's lock when done (or stopped)
            trainer.run()
        done[method] = "resumed" if plan.resume else "trained"
    table = write_table(arch, [m for m, _ in settings], out)
    return {"runs": done, **table}


def _last_eval(run_dir: Path) -> tuple[dict | None, list[tuple[int, float]]]:
    from gan_train.metrics.log import read_metrics

    evals = [r for r in read_metrics(run_dir) if r.get("event") == "eval"]
    curve = [(int(r["iteration"]), float(r["fid"])) for r in evals if "fid" in r]
    return (evals[-1] if evals else None), curve


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _ema(run_dir: Path) -> float:
    """The run's EMA β (its config.json's ``ema``; 0 when off or absent)."""
    import json

    try:
        return float(json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("ema") or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


#: The values of an evaluation record that the table shows, for the generator and (suffix ``_ema``) its EMA.
_VALUES = ("is_mean", "is_std", "fid", "kid_mean", "kid_std", "precision", "recall")


def _row(method: str, arch: str, out: Path) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    last, curve = _last_eval(out / method)
    last = last or {}
    paper = TABLE2.get(method, {}).get(arch)
    names = last.get("metrics") or [n for n, key in (("is", "is_mean"), ("fid", "fid")) if key in last]
    row = {"method": method, "iteration": last.get("iteration")}
    row |= {key: last.get(key) for key in _VALUES}
    row |= {f"{key}_ema": last.get(f"{key}_ema") for key in _VALUES}
    row |= {
        "metrics": ",".join(names) or None,
        "n_samples": last.get("n_samples"),
        "ref_split": last.get("ref_split"),
        "ref_n": last.get("ref_n"),
        "ema": _ema(out / method) or None,
        "paper_is_mean": paper[0] if paper else None,
        "paper_is_std": paper[1] if paper else None,
        "paper_fid": paper[2] if paper else None,
    }
    return row, curve


def _mean_std(r: dict[str, Any], key: str, std: str, digits: int, suffix: str = "") -> str:
    mean = r[f"{key}{suffix}"]
    return "–" if mean is None else f"{_fmt(mean, digits)} ± {_fmt(r[f'{std}{suffix}'], digits)}"


def _cells(r: dict[str, Any], suffix: str, kid: bool, prc: bool) -> list[str]:
    """IS, FID and (when any run has them) KID and precision/recall of the generator, or of its EMA (``_ema``)."""
    cells = [_mean_std(r, "is_mean", "is_std", 2, suffix), _fmt(r[f"fid{suffix}"], 1)]
    if kid:
        cells.append(_mean_std(r, "kid_mean", "kid_std", 4, suffix))
    if prc:
        p, q = r[f"precision{suffix}"], r[f"recall{suffix}"]
        cells.append("–" if p is None else f"{_fmt(p, 3)} / {_fmt(q, 3)}")
    return cells


def write_table(arch: str, methods: Sequence[str], out: Path) -> dict[str, Any]:
    """``table2.md``, ``table2.csv`` and the FID-against-iteration plot of the runs in ``out``.

    Each row says how its numbers were measured — the metric set, the generated images, the reference split and
    its size, whether the generator's weights were averaged (EMA) — beside the values of Table 2 of ``003_…``,
    whose text states neither its sample counts nor its reference split. KID, precision/recall and the EMA's
    numbers get columns when a run has them.
    """
    rows, curves = [], {}
    for method in methods:
        row, curves[method] = _row(method, arch, out)
        rows.append(row)
    kid = any(r["kid_mean"] is not None or r["kid_mean_ema"] is not None for r in rows)
    prc = any(r["precision"] is not None or r["precision_ema"] is not None for r in rows)
    ema = any(r[f"{key}_ema"] is not None for r in rows for key in _VALUES)
    values = ["IS", "FID"] + (["KID"] if kid else []) + (["precision / recall"] if prc else [])
    header = ["method", "iteration", *(f"{v} (ours)" for v in values)]
    header += [f"{v} (EMA)" for v in values] if ema else []
    header += ["metrics", "images", "reference", "EMA", "IS (paper)", "FID (paper)"]
    cells = []
    for r in rows:
        line = [r["method"], r["iteration"] or "–", *_cells(r, "", kid, prc)]
        line += _cells(r, "_ema", kid, prc) if ema else []
        reference = (
            "–" if r["ref_split"] is None else f"{r['ref_split']} ({r['ref_n']:,})" if r["ref_n"] else r["ref_split"]
        )
        line += [
            (r["metrics"] or "–").replace(",", ", "),
            f"{r['n_samples']:,}" if r["n_samples"] else "–",
            reference,
            f"β = {r['ema']:g}" if r["ema"] else "no",
            f"{_fmt(r['paper_is_mean'])} ± {_fmt(r['paper_is_std'])}" if r["paper_is_mean"] else "–",
            _fmt(r["paper_fid"], 1),
        ]
        cells.append(line)
    lines = [f"# Table 2 of Kim et al. (003), {arch}: ours beside the paper's", "", markdown_table(header, cells)]
    lines += [
        "",
        "Ours: the last evaluation of each run (eval_every); images: generated images scored; reference: the CIFAR-10 "
        "split FID/KID/precision-recall compare with, and its size (FID and KID are biased by both counts); EMA: the "
        "β of the averaged generator. The paper (003, Table 2) states neither its sample counts nor its reference "
        "split. '–': not evaluated or not recorded.",
    ]
    atomic_write(out / "table2.md", "\n".join(lines) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["method"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "table2.csv", buffer.getvalue())
    _plot(curves, arch, out)
    return {"rows": rows}


def _plot(curves: dict[str, list[tuple[int, float]]], arch: str, out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for method, curve in curves.items():
        if curve:
            ax.plot(*zip(*curve), marker="o", markersize=3, label=method)
    ax.set_xlabel("generator iteration")
    ax.set_ylabel("FID")
    ax.set_title(f"CIFAR-10, {arch}: FID against iteration")
    if any(curves.values()):
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no evaluations yet (set eval_every and inception_weights)", ha="center",
                transform=ax.transAxes)  # fmt: skip
    for suffix in ("png", "pdf"):
        atomic_save(out / f"fid.{suffix}", lambda h, s=suffix: fig.savefig(h, format=s, dpi=120))


def check_out(out: str | None) -> Path:
    if not out:
        raise UserError("--out DIR is required")
    return Path(out)
