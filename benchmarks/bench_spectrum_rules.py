"""What a ``ganstab spectrum`` selection rule costs on a small DCGAN: products and seconds of LR against LM (issue 26).

Issue 26 saw the default ``--which LR`` spectrum of a 39k-parameter DCGAN run past 120 s where ``--which LM`` took
7 s. This script builds the field of the same kind of game (``cifar10-dcgan-mu_gp`` at width 4: n = 42,460, 4,585 ψ
and 37,875 θ, random weights, random images in [-1, 1] as the data points: the cost of a product does not depend on
their values) and counts, in one run, the Jacobian products and seconds of top-k eigenvalues under each rule; the
baseline is ``LM`` with ARPACK's default basis, written here. It also times one product, the number behind the cost
note ``ganstab spectrum`` prints before a long run (:func:`gan_train.spectra.cost.cost_note`), and prints that note,
so its lower bound (ncv products) can be compared with what ARPACK then took.

Why LR costs more: ARPACK's implicit restarts find the eigenvalues of largest magnitude fastest; those of largest
real part lie inside a spectrum of much larger magnitudes, so the default LR basis is max(8k, 120) vectors
(:func:`stability.analysis.arpack.default_ncv`, chosen on the toy runs where ARPACK's own 2k + 1 took 39,010
products for top-20 LR), and its first Arnoldi factorisation alone is ncv products.

Measured on this 2-core CPU (``PYTHONPATH=. python benchmarks/bench_spectrum_rules.py``), 2026-12-03, n = 42,460,
16 samples, one product 0.056 s (traced products): LM (ncv 41) 122 products in 8.7 s; LR (ncv 160, the default)
415 products in 30.4 s, 3.5× LM; LR with ncv 80: 386 in 27.7 s (3.2×); LR with ncv 41: 419 in 26.9 s (3.1×). So on
this game LR needs about 3.4× LM's products whatever the basis. The whole default command (``ganstab spectrum RUN
--checkpoints last``, LR and the GD radii) took 89.7 s on a trained run of this size: LR 36 s (409 products), the
simultaneous GD radius 16 s (297), the alternating one 30 s (594); its cost note, printed first, said at least 34 s.
Before the traced products of ``stability/autodiff/linearize.py`` a product took 0.17 s here and LR alone 79 s.

Usage::

    PYTHONPATH=. python benchmarks/bench_spectrum_rules.py                # 16 samples, k = 20
    PYTHONPATH=. python benchmarks/bench_spectrum_rules.py --samples 64   # the preset's batch size, as the issue ran
"""

from __future__ import annotations

import argparse
import time

import torch

from gan_train.config import apply_overrides
from gan_train.nets import build_critic, build_generator
from gan_train.penalty import CriticPenalty
from gan_train.presets import get_preset
from gan_train.spectra.checkpoints import RunCheckpoint
from gan_train.spectra.cost import cost_note, seconds_per_product
from gan_train.spectra.field import SampleSet, run_field
from stability.analysis.arpack import default_ncv
from stability.analysis.spectrum import top_eigenvalues


def dcgan_field(width: int, samples: int, seed: int = 0):
    """The flow's field of a ``cifar10-dcgan-mu_gp`` game of ``width`` at random weights over random images."""
    config = apply_overrides(get_preset("cifar10-dcgan-mu_gp").config(), [f"width={width}", "data_dir=unused"])
    torch.manual_seed(seed)
    critic, generator = build_critic(config), build_generator(config)
    penalty = CriticPenalty.from_config(config)
    draw = torch.Generator().manual_seed(seed)
    x = torch.rand(samples, 3, 32, 32, generator=draw, dtype=torch.float64) * 2 - 1
    z = torch.randn(samples, config.latent_dim, generator=draw, dtype=torch.float64)
    alpha = penalty.measure.alpha.sample(samples, generator=draw, dtype=torch.float64).reshape(samples)
    checkpoint = RunCheckpoint(None, 0, None, config, critic, generator, penalty, config.lr_d, config.lr_g)
    return run_field(checkpoint, SampleSet(x, z, alpha, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    field_ = dcgan_field(args.width, args.samples)
    n, k = field_.size, args.k
    product = seconds_per_product(field_)
    print(f"n = {n:,} ({field_.n_psi:,} ψ), {args.samples} samples, one product {product:.3f} s")
    note = cost_note(n, k, ("LR",), product, None, field_.dtype.itemsize, gd=True)  # the default command's note
    print(note or "(no cost note: a short run)")
    rows = [("LM", None), ("LR", None), ("LR", 80), ("LR", 2 * k + 1)]
    baseline = None
    print(f"{'rule':<4} {'ncv':>5} {'products':>8} {'seconds':>8} {'vs LM':>6}  converged")
    for which, ncv in rows:
        start = time.perf_counter()
        spectrum = top_eigenvalues(field_, k=k, which=which, ncv=ncv, maxiter=400)
        seconds = time.perf_counter() - start
        baseline = baseline or seconds
        used = ncv or default_ncv(n, k, which, field_.dtype.itemsize)
        print(f"{which:<4} {used:>5} {spectrum.products:>8} {seconds:>8.1f} {seconds / baseline:>5.1f}x  "
              f"{spectrum.converged}")  # fmt: skip


if __name__ == "__main__":
    main()
