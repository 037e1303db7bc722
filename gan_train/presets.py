"""Named training presets: the 2-D experiments of Section 5.1 of ``003_…``.

``toy-{dataset}-{method}`` for the three toy sets and eleven methods. Shared
settings are those of Gulrajani et al.'s ``gan_toy.py`` (3 hidden ReLU layers of
512 units, batch 256, 5 critic steps per generator step, Adam(1e-4, β=(0.5,
0.9)); WGAN with clipping: RMSprop 5e-5, c = 0.01). Iterations follow Section
5.1 of ``003_…``: 8 Gaussians 30k, Swiss roll 100k, 25 Gaussians 200k generator
iterations; the anchor of μ_g,anc is A = (2, −1).

Penalty weights. WGAN-GP and WGAN-LP use λ = 10 (Gulrajani et al.'s paper
default; their toy script used λ = 0.1, ``--set gp_lambda=0.1`` reproduces it).
The SGP presets (p_g, p_d, μ_GP, μ_mid, μ_g,anc) change only the penalty term of
WGAN-GP to the simple one, as ``003_…`` did, keeping the weight: 10·E_μ[‖∇ₓD‖²],
i.e. ρ = 20 in (ρ/2)·E_μ[‖∇ₓD‖²]. MaxGP/MaxAL use ρ = 20, the same weight on
(max‖∇ₓD‖ − 1)², with the Lagrange multiplier of MaxAL starting at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gan_train.config import TrainConfig
from stability.spec.errors import unknown_name

#: Generator iterations per data set (Section 5.1 of 003).
ITERATIONS = {"8gaussians": 30_000, "swissroll": 100_000, "25gaussians": 200_000}

#: Method name → (overrides, one-line description).
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
    "mu_g_anc": (
        {"measure": "mu_g_anc", "form": "simple", "rho": 20.0, "anchor": [2.0, -1.0]},
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
            values = {"dataset": dataset, "iterations": iterations, **overrides}
            presets[name] = Preset(name, f"{text}; {dataset}, {iterations // 1000}k generator iterations", values)
    return presets


#: All presets by name.
PRESETS: dict[str, Preset] = _build()


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise unknown_name("preset", name, list(PRESETS))
    return PRESETS[name]
