"""Generator and critic of a run, by architecture: MLPs for 2-D data, Gulrajani's DCGAN and ResNet for images.

* ``mlp``: :class:`models.mlp.MLP` (``gan_toy.py``: ``depth`` hidden layers of ``width`` units);
* ``dcgan``: ``gan_cifar.py`` (CIFAR-10, DIM = ``width``) or ``gan_mnist.py`` (MNIST) from
  :mod:`models.gulrajani_dcgan`;
* ``resnet``: ``gan_cifar_resnet.py`` from :mod:`models.resnet` (CIFAR-10).

A fixed generator (``fake`` / ``fake_images``, :mod:`gan_train.data.fixed`) replaces the network with a module
without parameters. MLPs take ``init`` (:data:`models.mlp.INITS`).

The critic optionally carries spectral normalisation on every linear and convolutional layer
(``torch.nn.utils.parametrizations.spectral_norm``, one power iteration per forward in training mode); weight
clipping is applied in place after each critic step (Arjovsky et al.).
"""

from __future__ import annotations

import torch
from torch import nn

from models.mlp import MLP


def build_generator(config) -> nn.Module:
    """G: R^latent_dim → data space (``(B, 2)`` or images ``(B, C, H, W)``)."""
    if config.fixed_generator:
        from gan_train.data.fixed import build_fixed_generator

        return build_fixed_generator(config)
    if config.arch == "mlp":
        return MLP(config.latent_dim, 2, config.width, config.depth, config.activation, config.init)
    if config.arch == "resnet":
        from models.resnet import ResNetGenerator

        return ResNetGenerator(z_dim=config.latent_dim, width=config.width)
    from models.gulrajani_dcgan import DCGANGenerator32, MNISTGenerator

    if config.dataset == "mnist":
        return MNISTGenerator(z_dim=config.latent_dim, width=config.width)
    return DCGANGenerator32(z_dim=config.latent_dim, width=config.width)


def build_critic(config) -> nn.Module:
    """D: data space → R (output shape ``(B,)``), spectrally normalised when configured."""
    if config.arch == "mlp":
        critic: nn.Module = MLP(2, 1, config.width, config.depth, config.activation, config.init)
    elif config.arch == "resnet":
        from models.resnet import ResNetCritic

        critic = ResNetCritic(width=config.width)
    else:
        from models.gulrajani_dcgan import DCGANCritic32, MNISTCritic

        critic = MNISTCritic(width=config.width) if config.dataset == "mnist" else DCGANCritic32(width=config.width)
    if config.spectral_norm:
        for module in critic.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                torch.nn.utils.parametrizations.spectral_norm(module)
    return critic


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to [−c, c] in place."""
    for parameter in module.parameters():
        parameter.clamp_(-c, c)


def architecture(config) -> dict:
    """What a checkpoint must match to be loaded into models built from ``config``."""
    keys = ("latent_dim", "width", "depth", "activation", "spectral_norm")
    if config.arch != "mlp":  # MLP runs keep their original key set, so older checkpoints still load
        keys = ("arch", "dataset", "latent_dim", "width", "spectral_norm")
    if config.fixed_generator:  # only then, for the same reason
        keys += ("fake", "fake_images")
    return {key: getattr(config, key) for key in keys}
