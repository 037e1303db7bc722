"""The experiments of the seed papers, one small module each, in a registry like the penalty measures'.

:data:`EXPERIMENTS` maps each name to an :class:`ExperimentEntry`: the module that runs it, the paper, section and
figure it reproduces, and its default number of seeds. Reading the registry imports nothing heavy (``ganstab
experiment list`` and ``ganstab --help`` stay fast); :meth:`ExperimentEntry.load` imports the module, whose
docstring cites the seed text line by line and lists every deviation from the paper.

Every experiment runs through :func:`gan_train.experiments.base.run_experiment`: the runs are the trainer's own
(:class:`gan_train.trainer.Trainer` on a :class:`gan_train.config.TrainConfig`), each finished seed is kept in its own
file so that a rerun skips it, and the outputs are the figures (PNG and PDF), ``results.md`` and ``results.json``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from stability.util.errors import unknown_name


@dataclass(frozen=True)
class ExperimentEntry:
    """One registered experiment.

    Attributes:
        name: the command-line name, e.g. ``"kim-2d"``.
        module: the module under ``gan_train.experiments`` that defines it.
        source: paper, section and figure, e.g. ``"003 §5.1, Fig. 4"``.
        summary: one line for ``ganstab experiment list``.
        default_seeds: seeds when ``--seeds`` is not given (the paper's count where it gives one).
    """

    name: str
    module: str
    source: str
    summary: str
    default_seeds: int

    def load(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.module}")


EXPERIMENTS: dict[str, ExperimentEntry] = {
    entry.name: entry
    for entry in (
        ExperimentEntry(
            "kim-2d",
            "kim_2d",
            "003 §5.1, Fig. 4",
            "8/25 Gaussians and Swiss roll × WGAN, WGAN-GP and the five SGP measures: samples over critic contours, "
            "W1 and mode coverage (median over seeds)",
            5,
        ),
        ExperimentEntry(
            "petzka-toys",
            "petzka_toys",
            "004 §6, Figs. 3–5, 10–11",
            "WGAN-GP against WGAN-LP on the Swiss roll: critic level sets, critic loss and W1 against iteration "
            "(median and quartiles)",
            20,
        ),
        ExperimentEntry(
            "zhou-two-points",
            "zhou_two_points",
            "001 §5.1, Fig. 1",
            "two real and two fake points, critic alone under GP, LP, MaxGP, MaxAL, SN and the Lipschitz-GAN "
            "objective: angle between ∇D and the optimal-transport direction",
            5,
        ),
        ExperimentEntry(
            "zhou-gaussians",
            "zhou_gaussians",
            "002 Figs. 1–2, 000 Fig. 3 and App. A",
            "two real Gaussians against one fixed fake Gaussian, each Lipschitz-GAN loss with and without the "
            "constraint, and LSGAN: gradient fields at the fake samples",
            3,
        ),
        ExperimentEntry(
            "zhou-images",
            "zhou_images",
            "001 Fig. 2, 000 Figs. 4, 17, 18, 002 Fig. 3",
            "ten CIFAR-10 images against ten noise images, critic alone: gradient paths beside optimal-transport "
            "targets, cosine per method",
            1,
        ),
        ExperimentEntry(
            "zhou-offset",
            "zhou_offset",
            "000 Fig. 5, 002 Fig. 5",
            "the mean critic value during training under the WGAN loss against a Lipschitz-GAN loss",
            5,
        ),
    )
}


def get_experiment(name: str) -> ExperimentEntry:
    if name not in EXPERIMENTS:
        raise unknown_name("experiment", name, list(EXPERIMENTS))
    return EXPERIMENTS[name]
