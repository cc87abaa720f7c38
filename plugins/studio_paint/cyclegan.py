"""CycleGAN in one file: the ResNet generator in the published layout and the PatchGAN critic.

The generator is one ``nn.Sequential`` named ``model`` whose indices are the official
implementation's (``resnet_9blocks`` / ``resnet_6blocks``, ../shared/FACTS.md), so the published
``.pth`` files load key for key once their stray InstanceNorm buffers are dropped:

    0 ReflectionPad(3) 1 Conv 7x7 3->ngf 2 norm 3 ReLU
    4 Conv 3x3 s2 ngf->2ngf 5 norm 6 ReLU  7 Conv 3x3 s2 2ngf->4ngf 8 norm 9 ReLU
    10.. n_blocks ResnetBlock(4ngf): conv_block = [pad, conv, norm, ReLU, pad, conv, norm]
    ConvT 4ngf->2ngf, norm, ReLU, ConvT 2ngf->ngf, norm, ReLU, pad(3), Conv 7x7 ngf->3, Tanh

The project's own models may take ``upsample="resize"``: each transposed convolution becomes a
``ResizeConv`` (nearest-neighbour 2x, then a 3x3 convolution; Odena et al. 2016, "Deconvolution
and Checkerboard Artifacts"), at the same index. A stride-2 transposed 3x3 convolution gives the
even and odd output pixels different sets of weights, which paints a fine checkerboard; a
resized convolution cannot, since every output pixel sees the same footprint.

Images are (B, 3, H, W) in [-1, 1]; H and W need not be square, only multiples of 4.

Every norm is an ``InstanceNorm`` (no affine, no running statistics). It can be told to use
given per-channel statistics instead of the input's own (``shared``) and to report the sums it
sees (``recorder``): that is how ``translate.py`` gives every tile of a large picture the
statistics of the whole picture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

UPSAMPLES = ("transpose", "resize")  # the published decoder, and the checkerboard-free one


class InstanceNorm(nn.InstanceNorm2d):
    """InstanceNorm2d(affine=False, track_running_stats=False), as published, plus two hooks:

    ``shared``: (mean, var), each (C,), used instead of the input's own statistics;
    ``recorder``: called with (sum, sum of squares, count) of the input per channel, over the
    region ``recorder_region`` (a (top, bottom, left, right) slice of the map, None for all).
    """

    def __init__(self, channels: int):
        super().__init__(channels, affine=False, track_running_stats=False)
        self.shared: tuple[torch.Tensor, torch.Tensor] | None = None
        self.recorder: Callable[[torch.Tensor, torch.Tensor, int], None] | None = None
        self.recorder_region: tuple[int, int, int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.recorder is not None:
            r = x if self.recorder_region is None else x[..., self.recorder_region[0]:
                                                           self.recorder_region[1],
                                                           self.recorder_region[2]:
                                                           self.recorder_region[3]]
            r = r.float()
            self.recorder(r.sum((0, 2, 3)), r.square().sum((0, 2, 3)),
                          r.shape[0] * r.shape[2] * r.shape[3])
        if self.shared is None:
            return super().forward(x)
        mean, var = self.shared
        shape = (1, -1, 1, 1)
        scale = torch.rsqrt(var.to(x.device, torch.float32) + self.eps).view(shape)
        return ((x.float() - mean.to(x.device, torch.float32).view(shape)) * scale).to(x.dtype)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), InstanceNorm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), InstanceNorm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


# nearest-neighbour 2x then a 3x3 convolution (zero padding 1), per axis: output pixel 2p sees
# K0 x[p-1] + (K1 + K2) x[p], pixel 2p+1 sees (K0 + K1) x[p] + K2 x[p+1]: one stride-2
# transposed convolution with the 4-tap kernel [K2, K1 + K2, K0 + K1, K0] (padding 1)
_RESIZE_TAPS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


class ResizeConv(nn.Conv2d):
    """Nearest-neighbour upsampling by 2, then a 3x3 convolution (zero padding 1). Its weight is
    that convolution's, (out, in, 3, 3); it runs as the equivalent stride-2 transposed 4x4
    convolution on the small map, 16 products per input pixel instead of 36 (exactly the same
    result; ``tests/test_paint_translate.py`` checks it against the two steps)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = _RESIZE_TAPS.to(self.weight.device, self.weight.dtype)
        kernel = torch.einsum("ak,oikl,bl->ioab", taps, self.weight, taps)
        return F.conv_transpose2d(x, kernel.contiguous(memory_format=torch.channels_last)
                                  if x.is_contiguous(memory_format=torch.channels_last)
                                  else kernel, self.bias, stride=2, padding=1)


def resize_from_transpose(weight: torch.Tensor) -> torch.Tensor:
    """The ResizeConv weight (out, in, 3, 3) closest to a published transposed convolution's
    (in, out, 3, 3), as 4-tap kernels in the least-squares sense: how a model trained with
    ``upsample="transpose"`` starts a run with ``"resize"``."""
    place = torch.zeros(4, 3)  # the transposed 3x3 as a 4-tap kernel: [W0, W1, W2, 0]
    place[:3] = torch.eye(3)
    fit = torch.linalg.pinv(_RESIZE_TAPS) @ place  # (3, 3): taps of the resize kernel
    return torch.einsum("ka,ioab,lb->oikl", fit, weight.float(), fit).to(weight.dtype)


def is_upsampling(m: nn.Module) -> bool:
    """A decoder layer that doubles the map's size (either kind)."""
    return isinstance(m, nn.ConvTranspose2d | ResizeConv)


class Generator(nn.Module):
    """The ResNet generator (``model.0`` .. ``model.{n_blocks + 18}``)."""

    def __init__(self, ngf: int = 64, n_blocks: int = 9, upsample: str = "transpose"):
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample {upsample!r}: use one of {', '.join(UPSAMPLES)}")
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7),
                                   InstanceNorm(ngf), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                       InstanceNorm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # two upsamplings by 2
            up = (ResizeConv(ngf * mult, ngf * mult // 2) if upsample == "resize" else
                  nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                     output_padding=1))
            layers += [up, InstanceNorm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def norms(self) -> list[InstanceNorm]:
        """Every norm layer, in the order the input meets them."""
        return [m for m in self.modules() if isinstance(m, InstanceNorm)]


class Discriminator(nn.Module):
    """The 70x70 PatchGAN (n_layers 3): a grid of real/fake scores, one per overlapping patch."""

    def __init__(self, ndf: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, True)]
        for mult_in, mult_out, stride in ((1, 2, 2), (2, 4, 2), (4, 8, 1)):
            layers += [nn.Conv2d(ndf * mult_in, ndf * mult_out, 4, stride=stride, padding=1),
                       InstanceNorm(ndf * mult_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * 8, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gen: torch.Generator | None = None, std: float = 0.02) -> None:
    """The published init: conv weights from N(0, std), biases 0."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.zero_()


def expected_shapes(ngf: int = 64, n_blocks: int = 9, upsample: str = "transpose"
                    ) -> dict[str, tuple[int, ...]]:
    """Every key of a generator's state dict and its shape (what an import must provide)."""
    return {k: tuple(v.shape)
            for k, v in Generator(ngf, n_blocks, upsample).state_dict().items()}


def is_stray_norm_buffer(key: str) -> bool:
    """The InstanceNorm buffers old checkpoints carry (the official loader deletes them too)."""
    return key.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")


def infer_shape(keys_shapes: dict[str, tuple[int, ...]]) -> tuple[int, int]:
    """(ngf, n_blocks) of a generator state dict in the published layout."""
    first = keys_shapes.get("model.1.weight")
    if first is None or len(first) != 4:
        raise ValueError("not a CycleGAN ResNet generator (no model.1.weight of shape "
                         "[ngf, 3, 7, 7])")
    blocks = {int(k.split(".")[1]) for k in keys_shapes if ".conv_block." in k}
    return int(first[0]), len(blocks)


def lsgan_loss(score: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss against 1 (real) or 0 (fake)."""
    target = torch.ones_like(score) if real else torch.zeros_like(score)
    return F.mse_loss(score.float(), target.float())
