"""Johnson et al.'s feed-forward style network (the PyTorch examples' ``TransformerNet``): one
pass paints a photo in the one style it was trained on.

    conv 9x9 3->w, conv 3x3 s2 w->2w, conv 3x3 s2 2w->4w      (ReflectionPad, InstanceNorm, ReLU)
    n_blocks residual blocks of 4w (conv, norm, ReLU, conv, norm, + input)
    nearest x2 + conv 3x3 4w->2w, nearest x2 + conv 3x3 2w->w (norm, ReLU)
    conv 9x9 w->3

At w = 32 and 5 blocks it is the published network (1,679,235 parameters; keys ``conv1.conv``,
``in1``, ``res1.conv1`` ... as in the examples). Pictures are (B, 3, H, W) in [0, 1] in and out
(the examples use 0..255 and leave the output unbounded; here a sigmoid keeps it in range,
which keeps a loss network with the softmax transform from seeing extreme values).
Any size works: each side is padded to a multiple of 4 and cropped back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from studio_paint.kinds import FAST_STYLE

ARCHITECTURE = FAST_STYLE


@dataclass
class FastStyleConfig:
    width: int = 32  # channels of the first conv (the published 32)
    n_blocks: int = 5  # residual blocks (the published 5)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FastStyleConfig:
        return cls(**{k: int(d[k]) for k in ("width", "n_blocks") if k in d})


class ConvLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest-neighbour x2, then a conv (no checkerboard, unlike a transposed conv)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class TransformerNet(nn.Module):
    def __init__(self, cfg: FastStyleConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or FastStyleConfig()
        w = cfg.width
        self.conv1 = ConvLayer(3, w, 9)
        self.in1 = nn.InstanceNorm2d(w, affine=True)
        self.conv2 = ConvLayer(w, 2 * w, 3, 2)
        self.in2 = nn.InstanceNorm2d(2 * w, affine=True)
        self.conv3 = ConvLayer(2 * w, 4 * w, 3, 2)
        self.in3 = nn.InstanceNorm2d(4 * w, affine=True)
        for i in range(cfg.n_blocks):
            self.add_module(f"res{i + 1}", ResidualBlock(4 * w))
        self.deconv1 = UpsampleConvLayer(4 * w, 2 * w, 3)
        self.in4 = nn.InstanceNorm2d(2 * w, affine=True)
        self.deconv2 = UpsampleConvLayer(2 * w, w, 3)
        self.in5 = nn.InstanceNorm2d(w, affine=True)
        self.deconv3 = ConvLayer(w, 3, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % 4, -w % 4
        if ph or pw:  # two stride-2 convs and two x2 upsamplings: sides must divide by 4
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > 4 else "replicate")
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(self.cfg.n_blocks):
            y = getattr(self, f"res{i + 1}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return torch.sigmoid(self.deconv3(y)[..., :h, :w].float())


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def expected_shapes(cfg: FastStyleConfig) -> dict[str, tuple[int, ...]]:
    """Every key of the network's state dict and its shape (what a model file must hold)."""
    return {k: tuple(v.shape) for k, v in TransformerNet(cfg).state_dict().items()}


def infer_config(shapes: dict[str, tuple[int, ...]]) -> FastStyleConfig:
    """The config of a state dict in this layout, read from its shapes."""
    first = shapes.get("conv1.conv.weight")
    if first is None or len(first) != 4:
        raise ValueError("not a fast style network (no conv1.conv.weight)")
    blocks = {k.split(".")[0] for k in shapes if k.startswith("res")}
    return FastStyleConfig(width=int(first[0]), n_blocks=len(blocks))
