"""Gulrajani et al.'s image networks (models/resnet.py, models/gulrajani_dcgan.py).

Parameter counts are derived here by hand from the layer lists of gan_cifar_resnet.py, gan_cifar.py and gan_mnist.py
(improved_wgan_training); the forward passes are checked against references written from the source's TF ops
(strided-slice mean pooling, concat + depth_to_space upsampling, 'SAME' padding, conv2d_transpose as the adjoint of
conv2d). Forward/backward checks use tiny widths; full widths are only built for counts and initialisation.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.counting import total_parameter_count, trainable_parameter_count
from models.gulrajani_dcgan import (
    DCGANCritic32,
    DCGANGenerator32,
    MNISTCritic,
    MNISTGenerator,
    TFConv2d,
    TFDeconv2d,
    gulrajani_init_,
    tf_same_padding,
)
from models.resnet import ConvMeanPool, ResidualBlock, ResNetCritic, ResNetGenerator, UpsampleConv

TINY = 8

# ---------------------------------------------------------------------------------------------------------------------
# Parameter counts by hand. Every layer of the three scripts has a bias (tflib's default biases=True).


def conv(k: int, cin: int, cout: int) -> int:  # Conv2D / Deconv2D: k·k·cin·cout weights + cout biases
    return k * k * cin * cout + cout


def bn(c: int) -> int:  # Batchnorm: scale + offset per channel / feature
    return 2 * c


def linear(i: int, o: int) -> int:  # Linear: i·o weights + o biases
    return i * o + o


def resnet_generator_params(dim: int, z: int = 128, c: int = 3) -> int:
    up_block = (  # ResidualBlock(dim, dim, 3, resample='up'), lines 127-135
        conv(1, dim, dim)  # .Shortcut: UpsampleConv 1×1
        + bn(dim)  # .N1
        + conv(3, dim, dim)  # .Conv1: UpsampleConv 3×3
        + bn(dim)  # .N2
        + conv(3, dim, dim)  # .Conv2: Conv2D 3×3
    )
    return (
        linear(z, 4 * 4 * dim)  # Generator.Input
        + up_block  # Generator.1
        + up_block  # Generator.2
        + up_block  # Generator.3
        + bn(dim)  # Generator.OutputN
        + conv(3, dim, c)  # Generator.Output
    )


def resnet_critic_params(dim: int, c: int = 3) -> int:
    block1 = conv(1, c, dim) + conv(3, c, dim) + conv(3, dim, dim)  # Discriminator.1: Shortcut, Conv1, Conv2
    block2 = conv(1, dim, dim) + conv(3, dim, dim) + conv(3, dim, dim)  # Discriminator.2 ('down'): Shortcut, Conv1/2
    block3 = conv(3, dim, dim) + conv(3, dim, dim)  # Discriminator.3: identity shortcut, Conv1, Conv2
    block4 = conv(3, dim, dim) + conv(3, dim, dim)  # Discriminator.4
    return block1 + block2 + block3 + block4 + linear(dim, 1)  # + Discriminator.Output


def dcgan32_generator_params(dim: int, z: int = 128, c: int = 3) -> int:
    return (
        linear(z, 4 * 4 * 4 * dim)  # Generator.Input
        + bn(4 * 4 * 4 * dim)  # Generator.BN1 (axes [0]: per feature)
        + conv(5, 4 * dim, 2 * dim)  # Generator.2
        + bn(2 * dim)  # Generator.BN2
        + conv(5, 2 * dim, dim)  # Generator.3
        + bn(dim)  # Generator.BN3
        + conv(5, dim, c)  # Generator.5
    )


def dcgan32_critic_params(dim: int, c: int = 3) -> int:
    return (
        conv(5, c, dim)  # Discriminator.1
        + conv(5, dim, 2 * dim)  # Discriminator.2
        + conv(5, 2 * dim, 4 * dim)  # Discriminator.3
        + linear(4 * 4 * 4 * dim, 1)  # Discriminator.Output
    )


def mnist_generator_params(dim: int, z: int = 128) -> int:
    return (
        linear(z, 4 * 4 * 4 * dim)  # Generator.Input (no BN1 for MODE='wgan-gp')
        + conv(5, 4 * dim, 2 * dim)  # Generator.2
        + conv(5, 2 * dim, dim)  # Generator.3
        + conv(5, dim, 1)  # Generator.5
    )


def mnist_critic_params(dim: int) -> int:
    return conv(5, 1, dim) + conv(5, dim, 2 * dim) + conv(5, 2 * dim, 4 * dim) + linear(4 * 4 * 4 * dim, 1)


# (name, constructor(width), hand count(width), full width, hand total at full width written out)
NETS = [
    ("resnet_G", lambda w: ResNetGenerator(width=w), resnet_generator_params, 128, 1_204_483),
    ("resnet_D", lambda w: ResNetCritic(width=w), resnet_critic_params, 128, 1_053_825),
    ("dcgan32_G", lambda w: DCGANGenerator32(width=w), dcgan32_generator_params, 128, 5_179_907),
    ("dcgan32_D", lambda w: DCGANCritic32(width=w), dcgan32_critic_params, 128, 4_114_689),
    ("mnist_G", lambda w: MNISTGenerator(width=w), mnist_generator_params, 64, 1_554_177),
    ("mnist_D", lambda w: MNISTCritic(width=w), mnist_critic_params, 64, 1_030_145),
]


@pytest.mark.parametrize("name,make,count,full,total", NETS, ids=[n[0] for n in NETS])
def test_parameter_counts(name, make, count, full, total):
    assert count(full) == total  # the formula against the total worked out on paper
    assert total_parameter_count(make(full)) == total
    assert total_parameter_count(make(TINY)) == count(TINY)


def test_tiny_counts_written_out():
    # width 8, ResNet G: 16512 (linear) + 3·(72 + 16 + 584 + 16 + 584) + 16 + 219
    assert total_parameter_count(ResNetGenerator(width=8)) == 16512 + 3 * (72 + 16 + 584 + 16 + 584) + 16 + 219
    # width 8, ResNet D: (32 + 224 + 584) + (72 + 584 + 584) + 2·(584 + 584) + 9
    assert total_parameter_count(ResNetCritic(width=8)) == (32 + 224 + 584) + (72 + 584 + 584) + 2 * (584 + 584) + 9


def test_trainable_count_leaves_out_frozen_parameters_and_buffers():
    # Linear(3 → 4): 12 + 4; BatchNorm1d(4): 4 + 4 (its running mean/var/count are buffers); spectral norm on a
    # Linear(4 → 2): 8 + 2 (u, v are buffers). Freezing the BatchNorm takes its 8 out of the trainable count only.
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.utils.parametrizations.spectral_norm(nn.Linear(4, 2)))
    assert total_parameter_count(net) == trainable_parameter_count(net) == 16 + 8 + 10
    net[1].requires_grad_(False)
    assert total_parameter_count(net) == 34 and trainable_parameter_count(net) == 26


# ---------------------------------------------------------------------------------------------------------------------
# Shapes


def _shapes_of(module: nn.Module, layers: list[str], x: torch.Tensor) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    handles = [
        module.get_submodule(n).register_forward_hook(lambda m, i, o: out.append(tuple(o.shape))) for n in layers
    ]
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return out


def test_output_shapes():
    z = torch.randn(4, 128)
    w = TINY
    assert ResNetGenerator(width=w)(z).shape == (4, 3, 32, 32)
    assert DCGANGenerator32(width=w)(z).shape == (4, 3, 32, 32)
    assert MNISTGenerator(width=w)(z).shape == (4, 1, 28, 28)
    x32, x28 = torch.randn(4, 3, 32, 32), torch.randn(4, 1, 28, 28)
    for critic, x in [(ResNetCritic(width=w), x32), (DCGANCritic32(width=w), x32), (MNISTCritic(width=w), x28)]:
        assert critic(x).shape == (4,)
        assert torch.allclose(critic(x.flatten(1)), critic(x))  # the source's flat (N, C·H·W) input
    assert ResNetGenerator(z_dim=16, width=w, channels=1)(torch.randn(2, 16)).shape == (2, 1, 32, 32)
    assert ResNetCritic(width=w, channels=1)(torch.randn(2, 1, 32, 32)).shape == (2,)


def test_intermediate_shapes():
    w = TINY
    z = torch.randn(2, 128)
    assert _shapes_of(ResNetGenerator(width=w), ["blocks.0", "blocks.1", "blocks.2"], z) == [
        (2, w, 8, 8),
        (2, w, 16, 16),
        (2, w, 32, 32),
    ]
    x = torch.randn(2, 3, 32, 32)
    assert _shapes_of(ResNetCritic(width=w), ["blocks.0", "blocks.1", "blocks.2", "blocks.3"], x) == [
        (2, w, 16, 16),
        (2, w, 8, 8),
        (2, w, 8, 8),
        (2, w, 8, 8),
    ]
    assert _shapes_of(DCGANGenerator32(width=w), ["deconv2", "deconv3", "deconv5"], z) == [
        (2, 2 * w, 8, 8),
        (2, w, 16, 16),
        (2, 3, 32, 32),
    ]
    assert _shapes_of(DCGANCritic32(width=w), ["conv1", "conv2", "conv3"], x) == [
        (2, w, 16, 16),
        (2, 2 * w, 8, 8),
        (2, 4 * w, 4, 4),
    ]
    # MNIST: 8×8 deconv output, cropped to 7×7 before Generator.3, then 14, 28; critic 28 → 14 → 7 → 4
    assert _shapes_of(MNISTGenerator(width=w), ["deconv2", "deconv3", "deconv5"], z) == [
        (2, 2 * w, 8, 8),
        (2, w, 14, 14),
        (2, 1, 28, 28),
    ]
    assert _shapes_of(MNISTCritic(width=w), ["conv1", "conv2", "conv3"], torch.randn(2, 1, 28, 28)) == [
        (2, w, 14, 14),
        (2, 2 * w, 7, 7),
        (2, 4 * w, 4, 4),
    ]


def test_output_ranges():
    z = torch.randn(4, 128)
    g = ResNetGenerator(width=TINY)(z)
    assert g.abs().max() < 1
    m = MNISTGenerator(width=TINY)(z)
    assert m.min() > 0 and m.max() < 1


# ---------------------------------------------------------------------------------------------------------------------
# Normalisation


def _norm_layers(module: nn.Module) -> list[nn.Module]:
    kinds = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
    return [m for m in module.modules() if isinstance(m, kinds)]


def test_critics_have_no_normalisation():
    for critic in [ResNetCritic(width=TINY), DCGANCritic32(width=TINY), MNISTCritic(width=TINY)]:
        assert _norm_layers(critic) == []


def test_generator_batchnorm_layout():
    w = TINY
    res = _norm_layers(ResNetGenerator(width=w))  # N1, N2 of three blocks + OutputN
    assert len(res) == 7 and all(type(m) is nn.BatchNorm2d and m.num_features == w for m in res)
    dc = _norm_layers(DCGANGenerator32(width=w))
    assert [(type(m), m.num_features) for m in dc] == [
        (nn.BatchNorm1d, 4 * 4 * 4 * w),
        (nn.BatchNorm2d, 2 * w),
        (nn.BatchNorm2d, w),
    ]
    assert _norm_layers(MNISTGenerator(width=w)) == []
    for m in res + dc:  # tflib: batch statistics always, eps 1e-5, no moving averages in use
        assert m.eps == 1e-5 and not m.track_running_stats and m.running_mean is None


def test_batchnorm_uses_batch_statistics_in_eval_mode():
    g = ResNetGenerator(width=TINY)
    z = torch.randn(4, 128)
    with torch.no_grad():
        a = g.train()(z)
        b = g.eval()(z)
    assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------------------------------
# Per-sample critic gradients (what a gradient penalty needs)


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: ResNetCritic(width=TINY), (3, 3, 32, 32)),
        (lambda: DCGANCritic32(width=TINY), (3, 3, 32, 32)),
        (lambda: MNISTCritic(width=TINY), (3, 1, 28, 28)),
    ],
    ids=["resnet", "dcgan32", "mnist"],
)
def test_critic_input_gradient_is_per_sample(make, shape):
    critic = make()
    x = torch.randn(shape, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x)[0], x)
    assert grad[0].abs().sum() > 0
    assert torch.count_nonzero(grad[1:]) == 0


# ---------------------------------------------------------------------------------------------------------------------
# The source's TF ops, written out, against the modules


def _tf_same_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: int = 1) -> torch.Tensor:
    """tf.nn.conv2d(padding='SAME'): output ceil(n/s); total pad max((out−1)·s + k − n, 0), smaller half first."""
    k = w.shape[-1]
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        out = math.ceil(n / stride)
        total = max((out - 1) * stride + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w, b, stride)


def _tf_deconv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """tf.nn.conv2d_transpose(stride 2, 'SAME', output 2H×2W) = gradient of the SAME conv 2H → H w.r.t. its input.

    ``w`` has PyTorch's ConvTranspose2d layout (Cin, Cout, k, k), which is Conv2d's (out, in) layout of the forward
    convolution from Cout to Cin channels.
    """
    n, _, h, wd = x.shape
    probe = torch.zeros(n, w.shape[1], 2 * h, 2 * wd, requires_grad=True)
    with torch.enable_grad():
        (y,) = torch.autograd.grad(_tf_same_conv(probe, w, None, 2), probe, grad_outputs=x)
    return y if b is None else y + b.view(1, -1, 1, 1)


def _tf_mean_pool(x: torch.Tensor) -> torch.Tensor:  # the source's tf.add_n of four strided slices / 4
    return (x[:, :, ::2, ::2] + x[:, :, 1::2, ::2] + x[:, :, ::2, 1::2] + x[:, :, 1::2, 1::2]) / 4.0


def _tf_upsample(x: torch.Tensor) -> torch.Tensor:
    """tf.concat([x]*4, axis=1) → NHWC → tf.depth_to_space(2) → NCHW.

    depth_to_space: out[n, 2h+i, 2w+j, c] = in[n, h, w, (2i+j)·C + c].
    """
    n, c, h, w = x.shape
    y = torch.cat([x, x, x, x], dim=1).permute(0, 2, 3, 1)  # (N, H, W, 4C)
    y = y.reshape(n, h, w, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c)  # (N, 2H, 2W, C)
    return y.permute(0, 3, 1, 2)  # (N, C, 2H, 2W)


def _tf_bn(x: torch.Tensor, bnm: nn.Module) -> torch.Tensor:  # batch statistics, biased variance, eps 1e-5
    axes = [0, 2, 3] if x.dim() == 4 else [0]
    mean = x.mean(axes, keepdim=True)
    var = x.var(axes, unbiased=False, keepdim=True)
    shape = [1, -1] + [1] * (x.dim() - 2)
    return (x - mean) / torch.sqrt(var + 1e-5) * bnm.weight.view(shape) + bnm.bias.view(shape)


def _c(x: torch.Tensor, m: nn.Module, stride: int = 1) -> torch.Tensor:  # a TFConv2d's weights through _tf_same_conv
    return _tf_same_conv(x, m.weight, m.bias, stride)


def _randomise(module: nn.Module) -> nn.Module:  # nonzero biases and BN affine parameters, so that all of them count
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module


def _reference_resnet_generator(g: ResNetGenerator, z: torch.Tensor) -> torch.Tensor:
    out = F.linear(z, g.input.weight, g.input.bias).view(-1, g.width, 4, 4)
    for blk in g.blocks:  # ResidualBlock(..., resample='up')
        shortcut = _c(_tf_upsample(out), blk.shortcut.conv)
        h = F.relu(_tf_bn(out, blk.norm1))
        h = _c(_tf_upsample(h), blk.conv1.conv)
        h = F.relu(_tf_bn(h, blk.norm2))
        h = _c(h, blk.conv2)
        out = shortcut + h
    out = F.relu(_tf_bn(out, g.output_norm))
    return torch.tanh(_c(out, g.output))


def _reference_resnet_critic(d: ResNetCritic, x: torch.Tensor) -> torch.Tensor:
    b1, b2, b3, b4 = d.blocks
    out = _c(_tf_mean_pool(x), b1.shortcut.conv) + _tf_mean_pool(_c(F.relu(_c(x, b1.conv1)), b1.conv2.conv))
    shortcut = _tf_mean_pool(_c(out, b2.shortcut.conv))  # ConvMeanPool 1×1
    out = shortcut + _tf_mean_pool(_c(F.relu(_c(F.relu(out), b2.conv1)), b2.conv2.conv))
    for blk in (b3, b4):  # identity shortcut
        out = out + _c(F.relu(_c(F.relu(out), blk.conv1)), blk.conv2)
    out = F.relu(out).mean(dim=(2, 3))
    return F.linear(out, d.output.weight, d.output.bias).view(-1)


def _reference_dcgan32_generator(g: DCGANGenerator32, z: torch.Tensor) -> torch.Tensor:
    out = F.relu(_tf_bn(F.linear(z, g.input.weight, g.input.bias), g.bn1)).view(-1, 4 * g.width, 4, 4)
    out = F.relu(_tf_bn(_tf_deconv(out, g.deconv2.weight, g.deconv2.bias), g.bn2))
    out = F.relu(_tf_bn(_tf_deconv(out, g.deconv3.weight, g.deconv3.bias), g.bn3))
    return torch.tanh(_tf_deconv(out, g.deconv5.weight, g.deconv5.bias))


def _reference_mnist_generator(g: MNISTGenerator, z: torch.Tensor) -> torch.Tensor:
    out = F.relu(F.linear(z, g.input.weight, g.input.bias)).view(-1, 4 * g.width, 4, 4)
    out = F.relu(_tf_deconv(out, g.deconv2.weight, g.deconv2.bias))[:, :, :7, :7]
    out = F.relu(_tf_deconv(out, g.deconv3.weight, g.deconv3.bias))
    return torch.sigmoid(_tf_deconv(out, g.deconv5.weight, g.deconv5.bias))


def _reference_dcgan_critic(d: nn.Module, x: torch.Tensor) -> torch.Tensor:  # both DCGAN critics
    out = F.leaky_relu(_c(x, d.conv1, 2), 0.2)
    out = F.leaky_relu(_c(out, d.conv2, 2), 0.2)
    out = F.leaky_relu(_c(out, d.conv3, 2), 0.2)
    return F.linear(out.flatten(1), d.output.weight, d.output.bias).view(-1)


@pytest.mark.parametrize(
    "make,reference,shape",
    [
        (lambda: ResNetGenerator(width=TINY), _reference_resnet_generator, (4, 128)),
        (lambda: ResNetCritic(width=TINY), _reference_resnet_critic, (4, 3, 32, 32)),
        (lambda: DCGANGenerator32(width=TINY), _reference_dcgan32_generator, (4, 128)),
        (lambda: DCGANCritic32(width=TINY), _reference_dcgan_critic, (4, 3, 32, 32)),
        (lambda: MNISTGenerator(width=TINY), _reference_mnist_generator, (4, 128)),
        (lambda: MNISTCritic(width=TINY), _reference_dcgan_critic, (4, 1, 28, 28)),
    ],
    ids=["resnet_G", "resnet_D", "dcgan32_G", "dcgan32_D", "mnist_G", "mnist_D"],
)
def test_forward_matches_source_ops(make, reference, shape):
    net = _randomise(make())
    torch.manual_seed(2)
    x = torch.randn(shape)
    with torch.no_grad():
        assert torch.allclose(net(x), reference(net, x), atol=1e-5, rtol=1e-4)


def test_up_shortcut_is_nearest_neighbour_then_conv():
    torch.manual_seed(0)
    blk = _randomise(ResidualBlock(TINY, TINY, 3, resample="up", normalize=True))
    x = torch.randn(2, TINY, 4, 4)
    up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # (2, C, 8, 8), each pixel a 2×2 cell
    manual = F.conv2d(up, blk.shortcut.conv.weight, blk.shortcut.conv.bias)  # 1×1 conv
    with torch.no_grad():
        assert torch.allclose(blk.shortcut(x), manual, atol=1e-6)
        # the source's four-copies + depth_to_space is exactly nearest-neighbour upsampling
        assert torch.equal(_tf_upsample(x), up)
        assert torch.equal(_tf_upsample(x), F.interpolate(x, scale_factor=2, mode="nearest"))
    assert isinstance(blk.conv1, UpsampleConv) and blk.conv1.conv.kernel_size == (3, 3)


def test_resample_kinds_and_shortcuts():
    down = ResidualBlock(TINY, 2 * TINY, 3, resample="down")
    assert isinstance(down.shortcut, ConvMeanPool) and down.shortcut.conv.kernel_size == (1, 1)
    assert down.conv1.out_channels == TINY and down.conv2.conv.out_channels == 2 * TINY  # conv_1 keeps in channels
    assert isinstance(ResidualBlock(TINY, TINY, 3).shortcut, nn.Identity)
    assert isinstance(ResidualBlock(TINY, 2 * TINY, 3).shortcut, TFConv2d)
    x = torch.randn(2, TINY, 8, 8)
    assert down(x).shape == (2, 2 * TINY, 4, 4)
    with pytest.raises(ValueError):
        ResidualBlock(TINY, TINY, 3, resample="sideways")
    # every shortcut and every residual conv has a bias (biases=True throughout)
    for net in [ResNetGenerator(width=TINY), ResNetCritic(width=TINY)]:
        assert all(m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear))


# ---------------------------------------------------------------------------------------------------------------------
# TF 'SAME' padding and conv2d_transpose


def test_tf_same_padding_values():
    assert tf_same_padding(32, 5, 2) == (1, 2)
    assert tf_same_padding(28, 5, 2) == (1, 2)
    assert tf_same_padding(14, 5, 2) == (1, 2)
    assert tf_same_padding(7, 5, 2) == (2, 2)
    assert tf_same_padding(8, 3, 1) == (1, 1)
    assert tf_same_padding(8, 1, 1) == (0, 0)


def test_stride2_conv_windows_are_tf_same():
    conv5 = TFConv2d(1, 1, 5, stride=2, bias=False)
    nn.init.ones_(conv5.weight)
    for n, first, last in [(32, range(0, 4), range(29, 32)), (7, range(0, 3), range(4, 7))]:
        x = torch.randn(1, 1, n, n, requires_grad=True)
        y = conv5(x)
        for (i, j), rows in [((0, 0), first), ((-1, -1), last)]:
            (g,) = torch.autograd.grad(y[0, 0, i, j], x, retain_graph=True)
            seen = g[0, 0].abs().sum(dim=1).nonzero().flatten().tolist()
            assert seen == list(rows)


def test_deconv_is_adjoint_of_same_conv_and_differs_from_symmetric_padding():
    torch.manual_seed(0)
    de = TFDeconv2d(6, 4, 5, bias=False)
    x = torch.randn(2, 6, 5, 5)
    y = torch.randn(2, 4, 10, 10)
    # <deconv(x), y> = <x, conv_same(y)> with the same weights: TF's conv2d_transpose is conv2d's input gradient
    with torch.no_grad():
        lhs = (de(x) * y).sum()
        rhs = (x * _tf_same_conv(y, de.weight, None, 2)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-5, atol=1e-4)
    # ConvTranspose2d(5, 2, padding=2, output_padding=1) has the shapes but is the same map shifted by one pixel
    sym = F.conv_transpose2d(x, de.weight, stride=2, padding=2, output_padding=1)
    with torch.no_grad():
        ours = de(x)
    assert sym.shape == ours.shape == (2, 4, 10, 10)
    assert torch.allclose(ours[..., 1:, 1:], sym[..., :-1, :-1], atol=1e-5)
    assert not torch.allclose(ours, sym, atol=1e-3)


# ---------------------------------------------------------------------------------------------------------------------
# tflib initialisation


def _check_uniform(t: torch.Tensor, stdev: float) -> None:
    bound = stdev * math.sqrt(3)
    assert t.abs().max() <= bound * (1 + 1e-6)
    assert t.abs().max() > 0.95 * bound
    assert abs(t.std().item() / stdev - 1) < 0.03


def test_gulrajani_init_rules():
    torch.manual_seed(0)
    d = ResNetCritic(width=128)
    conv_he = d.blocks[2].conv1  # 3×3, 128 → 128, he_init: fan_in = fan_out = 1152
    _check_uniform(conv_he.weight, math.sqrt(4 / (1152 + 1152)))
    short = d.blocks[1].shortcut.conv  # 1×1 shortcut, he_init=False: fan_in = fan_out = 128
    _check_uniform(short.weight, math.sqrt(2 / (128 + 128)))
    assert all(torch.count_nonzero(m.bias) == 0 for m in d.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    g = DCGANGenerator32(width=128)
    # Deconv2D 512 → 256, k 5: fan_in = 512·25/4 = 3200, fan_out = 256·25 = 6400, he_init
    _check_uniform(g.deconv2.weight, math.sqrt(4 / (3200 + 6400)))
    # Linear 128 → 8192, initialization=None → glorot: std √(2 / (in + out))
    _check_uniform(g.input.weight, math.sqrt(2 / (128 + 8192)))
    assert torch.equal(g.bn1.weight, torch.ones(8192)) and torch.equal(g.bn1.bias, torch.zeros(8192))
    c = DCGANCritic32(width=128)
    # Conv2D 128 → 256, k 5, stride 2: fan_in = 128·25 = 3200, fan_out = 256·25/4 = 1600
    _check_uniform(c.conv2.weight, math.sqrt(4 / (3200 + 1600)))
    # ResNet generator output conv: he_init=False, fan_in = 128·9, fan_out = 3·9
    _check_uniform(ResNetGenerator(width=128).output.weight, math.sqrt(2 / (1152 + 27)))
    with pytest.raises(TypeError):
        gulrajani_init_(nn.Sequential(nn.Conv2d(1, 1, 3)))
