"""CIFAR-10 trainer speed against a plain PyTorch loop, and the Fréchet distance against scipy's sqrtm.

Part ``train``: generator iterations per second of ``gan_train.trainer.Trainer`` (WGAN-GP preset of the ResNet and of
the DCGAN: batch 64, 5 critic steps, the ResNet's generator batch 128) against a reference loop written below with
the same networks, optimiser and penalty: plain tensors, ``autograd.grad`` for the penalty, no logging, no
checkpoints, no divergence checks. The data is a fake CIFAR-10 folder in the real format (random pixels), so the
trainer reads it through its own loader. On CPU the widths are reduced (``--width``); ratio ≥ 1.0 is the goal.
On a GPU (``--device cuda --width 128``, optionally ``--amp bf16``) both loops run there, the timing is fenced by
``torch.cuda.synchronize`` and the peak memory of each is reported (``torch.cuda.max_memory_allocated``).
``--cuda-graph`` runs the trainer with ``cuda_graph=true`` (gan_train/graphed.py): the warm-up then covers the eager
iterations and the capture, so the timed iterations are replays (on a CPU the trainer says so and runs eagerly).

Part ``frechet``: FID from 2048-d statistics, the chosen route against ``scipy.linalg.sqrtm``
(``benchmarks/bench_frechet.py`` does the measuring; its figures are repeated here).

Usage: ``python benchmarks/bench_cifar.py [--json] [--parts train,frechet] [--width 32] [--iters 5]
[--device cuda] [--amp bf16] [--channels-last] [--cuda-graph]``
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_train.config import apply_overrides  # noqa: E402
from gan_train.graphed import WARMUP_ITERATIONS  # noqa: E402
from gan_train.nets import build_critic, build_generator  # noqa: E402
from gan_train.presets import get_preset  # noqa: E402
from gan_train.trainer import Trainer  # noqa: E402


def fake_cifar(root: Path, per_file: int) -> Path:
    """A ``cifar-10-batches-py/`` folder of random pixels in the real pickle format."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8), b"labels": [0] * per_file}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"x"] * 10}, protocol=2))
    return root


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_memory_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_mib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None


def trainer_rate(
    preset: str,
    data_dir: Path,
    width: int,
    iters: int,
    run_dir: Path,
    device: str = "cpu",
    amp: str = "off",
    channels_last: bool = False,
    cuda_graph: bool = False,
) -> tuple[float, float | None]:
    warm = 1 + (WARMUP_ITERATIONS + 1 if cuda_graph else 0)  # with a graph: its eager iterations and the capture
    config = apply_overrides(
        get_preset(preset).config(),
        [f"data_dir={data_dir}", f"width={width}", f"iterations={iters + warm}", f"checkpoint_every={iters + warm}",
         "log_every=1000000", "tensorboard=false", "progress=false", "keep_checkpoints=1", f"device={device}",
         f"amp={amp}", f"channels_last={str(channels_last).lower()}", f"cuda_graph={str(cuda_graph).lower()}"],
    )  # fmt: skip
    trainer = Trainer.create(config, run_dir)
    trainer.run(stop_at=warm)  # warm-up: allocator, first-call overheads (and the capture)
    _sync(device)
    _peak_memory_reset(device)
    start = time.perf_counter()
    trainer.run()  # to iters + warm; the end includes one checkpoint write, as a real run has
    _sync(device)
    return iters / (time.perf_counter() - start), _peak_memory_mib(device)


def reference_rate(
    preset: str, width: int, iters: int, device: str = "cpu", amp: str = "off"
) -> tuple[float, float | None]:
    """The same iteration as a plain loop: WGAN-GP, λ = 10, Adam, batch 64 (generator batch as the preset)."""
    config = apply_overrides(get_preset(preset).config(), [f"width={width}", "data_dir=x"])
    torch.manual_seed(0)
    G, D = build_generator(config).to(device), build_critic(config).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    images = torch.randint(0, 256, (5000, 3, 32, 32), dtype=torch.uint8, device=device)
    b, gb = config.batch_size, config.generator_batch
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=amp == "bf16")

    def iteration() -> None:
        for _ in range(config.n_critic):
            real = images[torch.randint(0, len(images), (b,), device=device)].float() / 128 - 1
            with torch.no_grad(), autocast:
                fake = G(torch.randn(b, config.latent_dim, device=device)).float()
            alpha = torch.rand(b, 1, 1, 1, device=device)
            x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            penalty = 10 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            with autocast:
                loss = D(fake).float().mean() - D(real).float().mean() + penalty
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        for p in D.parameters():
            p.requires_grad_(False)
        with autocast:
            loss_g = -D(G(torch.randn(gb, config.latent_dim, device=device))).float().mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)

    iteration()  # warm-up
    _sync(device)
    _peak_memory_reset(device)
    start = time.perf_counter()
    for _ in range(iters):
        iteration()
    _sync(device)
    return iters / (time.perf_counter() - start), _peak_memory_mib(device)


def part_train(
    width: int, iters: int, device: str = "cpu", amp: str = "off", channels_last: bool = False, cuda_graph: bool = False
) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = fake_cifar(Path(tmp) / "data", per_file=1000)
        for arch in ("resnet", "dcgan"):
            preset = f"cifar10-{arch}-wgan-gp"
            run = Path(tmp) / f"run-{arch}"
            ours, ours_mib = trainer_rate(preset, data, width, iters, run, device, amp, channels_last, cuda_graph)
            ref, ref_mib = reference_rate(preset, width, iters, device, amp)
            out[arch] = {"width": width, "device": device, "amp": amp, "channels_last": channels_last,
                         "cuda_graph": cuda_graph,
                         "trainer_it_per_s": ours,
                         "reference_it_per_s": ref, "ratio": ours / ref, "trainer_peak_mib": ours_mib,
                         "reference_peak_mib": ref_mib}  # fmt: skip
            memory = f", peak {ours_mib:.0f} / {ref_mib:.0f} MiB" if ours_mib is not None else ""
            graph = " cuda_graph" if cuda_graph else ""
            print(f"{arch:>6} width {width} {device} amp={amp}{graph}: trainer {ours:.3f} it/s, reference loop "
                  f"{ref:.3f} it/s, ratio {ours / ref:.2f}x{memory}", file=sys.stderr)  # fmt: skip
    return out


def part_frechet() -> dict:
    """Runs ``bench_frechet.py --json`` (the one Fréchet benchmark) and returns what it printed."""
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_frechet.py"), "--json"], capture_output=True, text=True
    )
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--parts", default="train,frechet")
    parser.add_argument("--width", type=int, default=32, help="network width on CPU (128 is the full size)")
    parser.add_argument("--iters", type=int, default=5, help="timed generator iterations per loop")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both loops run there)")
    parser.add_argument("--amp", default="off", choices=("off", "bf16"), help="autocast for both loops")
    parser.add_argument("--channels-last", action="store_true", help="the trainer's NHWC layout (the reference: NCHW)")
    parser.add_argument("--cuda-graph", action="store_true", help="the trainer's iteration as a CUDA graph replay")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    results = {}
    parts = args.parts.split(",")
    if "train" in parts:
        results["train"] = part_train(
            args.width, args.iters, args.device, args.amp, args.channels_last, args.cuda_graph
        )
    if "frechet" in parts:
        results["frechet"] = part_frechet()
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
