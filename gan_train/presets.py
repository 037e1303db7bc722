"""Named training presets: the 2-D experiments of Section 5.1 of ``003_…``, CIFAR-10 (Table 2) and MNIST.

``toy-{dataset}-{method}`` for the three toy sets and eleven methods. Shared
settings are those of Gulrajani et al.'s ``gan_toy.py`` (3 hidden ReLU layers of
512 units, batch 256, 5 critic steps per generator step, Adam(1e-4, β=(0.5,
0.9)); WGAN with clipping: RMSprop 5e-5, c = 0.01). Iterations follow Section
5.1 of ``003_…``: 8 Gaussians 30k, Swiss roll 100k, 25 Gaussians 200k generator
iterations; the anchor of μ_g,anc is A = (2, −1).

Toy penalty weights and initialisation follow the toy script that ``003_…``
used. Lines 211–213 say the experiments ran on igul222/improved_wgan_training
with only the loss changed; its ``gan_toy.py`` is the TensorFlow script.

* λ = 0.1 for WGAN-GP and WGAN-LP: ``LAMBDA = .1 # Smaller lambda makes things
  faster for toy tasks, but isn't necessary if you increase CRITIC_ITERS
  enough`` (the PyTorch port caogang/wgan-gp keeps ``LAMBDA = .1`` with the
  comment "Smaller lambda seems to help for toy tasks specifically"). The
  paper default λ = 10 is ``--set gp_lambda=10``.
* The SGP presets (p_g, p_d, μ_GP, μ_mid, μ_g,anc) change only the penalty term
  of WGAN-GP to the simple one, as ``003_…`` did, and keep its weight:
  0.1·E_μ[‖∇ₓD‖²], i.e. ρ = 0.2 in (ρ/2)·E_μ[‖∇ₓD‖²]. ``003_…`` gives no ρ
  for the toys.
* MaxGP/MaxAL get the same weight on (max‖∇ₓD‖ − 1)², ρ = 0.2, with MaxAL's
  multiplier starting at 0. ``001_…`` gives no toy weight.
* ``init="tflib"``: ``gan_toy.py`` builds its hidden layers with
  ``Linear(..., initialization='he')`` and its output layer with ``Linear``'s
  default ``'glorot'``, both uniform, with zero biases (:mod:`models.mlp`). The
  N(0, 0.02²) initialisation (``init="normal"``) is the PyTorch port's
  ``weights_init``, not Gulrajani's script, so no preset uses it.

Image presets keep λ = 10 and ρ = 20 (below).

Images: ``cifar10-{resnet,dcgan}-{method}`` and ``mnist-{method}`` with Gulrajani et al.'s published settings
(``igul222/improved_wgan_training``, which ``003_…`` line 211 says it used with only the loss changed):

* ResNet (``gan_cifar_resnet.py``): DIM 128, critic batch 64, generator batch 128 (``GEN_BS_MULTIPLE = 2``),
  5 critic steps, Adam(2e-4, β = (0, 0.9)) decayed linearly to 0, λ = 10;
* DCGAN (``gan_cifar.py``): DIM 128, batch 64, 5 critic steps, Adam(1e-4, β = (0.5, 0.9)), λ = 10;
* MNIST (``gan_mnist.py``): DIM 64, batch 50, 5 critic steps, Adam(1e-4, β = (0.5, 0.9)), λ = 10;
* 200k generator iterations for CIFAR-10 (``003_…`` line 226) and MNIST (line 217); the anchor of μ_g,anc is a
  fixed random image on CIFAR-10 ("fixed random pixels", line 226; seeded by ``anchor_seed`` and saved in the run
  directory) and gray pixels (0.5 on MNIST's [0, 1] scale) on MNIST;
* WGAN with clipping: RMSprop 5e-5, c = 0.01 (``gan_cifar.py`` MODE 'wgan'; its critic then also had BatchNorm,
  which ours does not: a stated deviation).

ρ of the SGP methods on images: ``003_…`` does not give it; as on the toys we keep WGAN-GP's weight,
10·E_μ[‖∇ₓD‖²], i.e. ρ = 20 ("only the loss function was modified", line 211).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_train.config import TrainConfig
from stability.util.errors import unknown_name

#: Generator iterations per data set (Section 5.1 of 003).
ITERATIONS = {"8gaussians": 30_000, "swissroll": 100_000, "25gaussians": 200_000}

#: Toy presets: the weights of gan_toy.py (LAMBDA = .1) by the config key each method reads, and its initialisation.
TOY_WEIGHTS = {"gp_lambda": 0.1, "rho": 0.2}
TOY_INIT = "tflib"

#: Method name → (overrides, one-line description), with the image presets' weights (λ = 10, ρ = 20).
METHODS: dict[str, tuple[dict[str, Any], str]] = {
    "wgan": (
        {"clip": 0.01, "optimizer": "rmsprop", "lr_d": 5e-5, "lr_g": 5e-5},
        "WGAN with weight clipping c=0.01, RMSprop 5e-5 (Arjovsky et al.)",
    ),
    "wgan-gp": ({"measure": "mu_gp", "form": "gp", "gp_lambda": 10.0}, "WGAN-GP: λ·E[(‖∇D‖−1)²] on μ_GP, λ=10"),
    "lp": ({"measure": "mu_gp", "form": "lp", "gp_lambda": 10.0}, "WGAN-LP: λ·E[max(0,‖∇D‖−1)²] on μ_GP, λ=10 (004)"),
    "maxgp": (
        {"measure": "mu_gp", "form": "maxgp", "rho": 20.0},
        "MaxGP: (ρ/2)(max‖∇D‖−1)² on μ_GP, ρ=20 (001 Eq. 12)",
    ),
    "maxal": (
        {"measure": "mu_gp", "form": "maxal", "rho": 20.0, "maxal_lambda0": 0.0},
        "MaxAL: augmented Lagrangian on max‖∇D‖, ρ=20, λ₀=0 (001 Eq. 13–14)",
    ),
    "sn": ({"spectral_norm": True}, "WGAN with spectral normalisation of the critic, Adam"),
    "p_g": ({"measure": "p_g", "form": "simple", "rho": 20.0}, "SGP on μ = p_g (x̂ = x_g), ρ=20"),
    "p_d": ({"measure": "p_d", "form": "simple", "rho": 20.0}, "SGP on μ = p_d (x̂ = x_d), ρ=20"),
    "mu_gp": ({"measure": "mu_gp", "form": "simple", "rho": 20.0}, "SGP on μ_GP (x̂ = αx_d + (1−α)x_g), ρ=20"),
    "mu_mid": ({"measure": "mu_mid", "form": "simple", "rho": 20.0}, "SGP on μ_mid (x̂ = (x_d + x_g)/2), ρ=20"),
    "mu_anchor": (
        {"measure": "mu_anchor", "form": "simple", "rho": 20.0, "anchor": [2.0, -1.0]},
        "SGP on μ_g,anc (x̂ = αA + (1−α)x_g, A=(2,−1)), ρ=20",
    ),
}


@dataclass(frozen=True)
class Preset:
    """A named configuration with a one-line description."""

    name: str
    description: str
    overrides: dict[str, Any]

    def config(self) -> TrainConfig:
        return TrainConfig(**self.overrides).validate()


def _build() -> dict[str, Preset]:
    presets = {}
    for dataset, iterations in ITERATIONS.items():
        for method, (overrides, text) in METHODS.items():
            name = f"toy-{dataset}-{method}"
            weights = {key: value for key, value in TOY_WEIGHTS.items() if key in overrides}
            values = {"dataset": dataset, "iterations": iterations, **overrides, **weights, "init": TOY_INIT}
            text = _toy_text(text, weights)
            presets[name] = Preset(name, f"{text}; {dataset}, {iterations // 1000}k generator iterations", values)
    return presets


def _toy_text(text: str, weights: dict[str, float]) -> str:
    """A method's description with the toy weight in place of the image one (λ=10 → λ=0.1, ρ=20 → ρ=0.2)."""
    if "gp_lambda" in weights:
        text = text.replace("λ=10", f"λ={weights['gp_lambda']:g}")
    if "rho" in weights:
        text = text.replace("ρ=20", f"ρ={weights['rho']:g}")
    return text + ", tflib init (gan_toy.py)"


#: Image architectures: (arch, dataset) → (settings, source line).
IMAGE_SETTINGS: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("resnet", "cifar10"): (
        {"width": 128, "batch_size": 64, "gen_batch_size": 128, "lr_d": 2e-4, "lr_g": 2e-4, "beta1": 0.0,
         "beta2": 0.9, "lr_decay": True},
        "Gulrajani's CIFAR-10 ResNet (gan_cifar_resnet.py)",
    ),
    ("dcgan", "cifar10"): (
        {"width": 128, "batch_size": 64, "lr_d": 1e-4, "lr_g": 1e-4, "beta1": 0.5, "beta2": 0.9},
        "Gulrajani's CIFAR-10 DCGAN (gan_cifar.py)",
    ),
    ("dcgan", "mnist"): (
        {"width": 64, "batch_size": 50, "lr_d": 1e-4, "lr_g": 1e-4, "beta1": 0.5, "beta2": 0.9},
        "Gulrajani's MNIST DCGAN (gan_mnist.py)",
    ),
}  # fmt: skip

#: Methods run on images (Table 2 of 003 and the other seeds' methods); MNIST has the SGP study of 003 §5.1.
IMAGE_METHODS = ("wgan", "wgan-gp", "p_g", "p_d", "mu_gp", "mu_mid", "mu_anchor", "lp", "maxgp", "maxal", "sn")
MNIST_METHODS = ("wgan-gp", "p_g", "p_d", "mu_gp", "mu_mid", "mu_anchor")


def _image_presets() -> dict[str, Preset]:
    presets = {}
    for (arch, dataset), (settings, source) in IMAGE_SETTINGS.items():
        for method in MNIST_METHODS if dataset == "mnist" else IMAGE_METHODS:
            overrides, text = METHODS[method]
            overrides = dict(overrides)
            if "anchor" in overrides:
                overrides["anchor"] = [0.5] if dataset == "mnist" else []  # gray pixels / a seeded random image
            name = f"{dataset}-{arch}-{method}" if dataset == "cifar10" else f"mnist-{method}"
            values = {
                "dataset": dataset,
                "arch": arch,
                "latent_dim": 128,
                "iterations": 200_000,
                "n_critic": 5,
                "w1_every": 0,
                "plot_every": 0,
                "checkpoint_every": 5000,
                "data_dir": "data",
                **settings,
                **overrides,
            }
            presets[name] = Preset(name, f"{text}; {source}, 200k generator iterations", values)
    return presets


#: All presets by name.
PRESETS: dict[str, Preset] = {**_build(), **_image_presets()}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise unknown_name("preset", name, list(PRESETS))
    return PRESETS[name]
