"""Neural style transfer (Gatys, Ecker and Bethge 2016) on a VGG19-shaped feature network.

The network is torchvision's VGG19 ``features`` in layout and keys (``features.{i}.weight`` and
``.bias``; convs at 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34, each followed by
a ReLU; max-pools at 4, 9, 18, 27, 36), so the ImageNet weights load as they are. Without them
a copy with random weights drawn from a fixed seed stands in, and the softmax transform of Wang,
Li and Vasconcelos (CVPR 2021, "SWAG") is applied to its activations before the losses: a
softmax over all of a layer's activations, which spreads out the peaky responses whose Gram
matrices describe a painting poorly. Its temperature matters on this network: at 1 (the
paper's) the optimiser satisfies the transformed Gram matrices with changes too small to see,
at 3 (the default here) the picture is repainted. So does the pooling: with max pooling the
random network copied a painting's palette in a fine stipple; with average pooling (Gatys et
al.'s advice, ``paint.style``'s default) it paints brush strokes and, for The Starry Night,
the sky's swirling dabs (looked at on four photo and painting pairs, session 17).

Images are (B, 3, H, W) floats in [0, 1]; the network normalises them with the ImageNet mean
and std itself. Losses are relative (see ``Targets``), so the same content and style weights
suit every network and picture.

``Stylist`` runs the optimisation one step at a time: coarse-to-fine over several sizes, L-BFGS
or Adam on the pixels, several style pictures blended by weight, a total-variation term, colour
kept from the photo if asked.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# torchvision's VGG19 `features`: the index of each conv (its ReLU is at +1) and each pool
CONV_INDEX = {
    "conv1_1": 0, "conv1_2": 2,
    "conv2_1": 5, "conv2_2": 7,
    "conv3_1": 10, "conv3_2": 12, "conv3_3": 14, "conv3_4": 16,
    "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25,
    "conv5_1": 28, "conv5_2": 30, "conv5_3": 32, "conv5_4": 34,
}
POOL_INDEX = {"pool1": 4, "pool2": 9, "pool3": 18, "pool4": 27, "pool5": 36}
WIDTHS = {"1": 64, "2": 128, "3": 256, "4": 512, "5": 512}  # conv channels per block
N_LAYERS = 37  # modules in `features`

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
RANDOM_SEED = 0  # the offline network's weights: the same on every machine
MIN_SIDE = 16  # px: the least a picture needs to pass VGG's first four pools


def layer_index(name: str) -> int:
    """The index in ``features`` of a layer named as in the papers: conv4_2, relu4_2, pool4."""
    name = name.strip().lower()
    if name in CONV_INDEX:
        return CONV_INDEX[name]
    if name.startswith("relu") and "conv" + name[4:] in CONV_INDEX:
        return CONV_INDEX["conv" + name[4:]] + 1
    if name in POOL_INDEX:
        return POOL_INDEX[name]
    raise ValueError(f"unknown VGG19 layer {name!r} (use e.g. relu1_1, conv4_2, pool3)")


def parse_layers(text: str, what: str) -> tuple[str, ...]:
    """A comma-separated list of layer names, checked."""
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"--{what}-layers: name at least one layer (e.g. relu4_2)")
    for n in names:
        layer_index(n)
    return names


class VGG19Features(nn.Module):
    """torchvision's ``vgg19().features`` (same modules, indices and keys), cut after
    ``depth`` modules; ``pool="avg"`` swaps its max-pools for average pools as Gatys et al.
    suggest (the weights are the same)."""

    def __init__(self, depth: int = N_LAYERS, pool: str = "max"):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        by_index = {i: name for name, i in CONV_INDEX.items()}
        pools = set(POOL_INDEX.values())
        for i in range(N_LAYERS):
            if i in by_index:
                width = WIDTHS[by_index[i][4]]
                layers.append(nn.Conv2d(channels, width, 3, padding=1))
                channels = width
            elif i in pools:
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            else:
                layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers[:depth])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, image: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """The activations after each module in ``taps`` (indices), in that order."""
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        wanted = set(taps)
        last = max(wanted)
        found: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                found[i] = x
            if i == last:
                break
        return [found[i] for i in taps]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the full ``features`` state dict and its shape (what an import must give)."""
    return {k: tuple(v.shape) for k, v in VGG19Features().state_dict().items()}


def random_weights(net: VGG19Features, seed: int = RANDOM_SEED) -> VGG19Features:
    """Fill every conv from N(0, 2 / fan_in) (He et al.) drawn from ``seed``, biases 0: a
    response keeps about the size of its input from layer to layer."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2 / fan_in))
                m.bias.zero_()
    return net


def depth_for(layers: Sequence[str]) -> int:
    """Modules needed to compute all of ``layers``."""
    return max(layer_index(n) for n in layers) + 1


# ---------------------------------------------------------------------------------------------
# Losses.


def rows(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H * W, C): one row per place. A view (no copy) for a channels-last
    tensor, which is what the network gives when it runs channels-last."""
    return f.permute(0, 2, 3, 1).reshape(f.shape[0], -1, f.shape[1])


def softmax_transform(r: torch.Tensor, temperature: float = 1.0, scaled: bool = True
                      ) -> torch.Tensor:
    """SWAG: a softmax over all of a picture's activations in a layer (``rows``: every place
    and channel) divided by ``temperature``, times their count so that they average 1
    (``scaled``; without, the Gram matrix needs that count squared: ``gram(r, count)``)."""
    flat = r.reshape(r.shape[0], -1)
    soft = torch.softmax(flat if temperature == 1 else flat / temperature, 1)
    return (soft * flat.shape[1] if scaled else soft).view(r.shape)


def divide_taps(net: VGG19Features, taps: Sequence[int], by: float) -> VGG19Features:
    """``net`` (changed in place) computing the activations at ``taps`` divided by ``by`` and
    every other activation as before: a ReLU, a pool and a bias-scaled convolution are
    positively homogeneous, so each convolution before a tap is scaled by 1 / ``by`` and the
    next one scaled back. The softmax transform's division by its temperature then costs no
    pass over the activations (and none back)."""
    convs = [i for i, m in enumerate(net.features) if isinstance(m, nn.Conv2d)]
    wanted = set(taps)
    scale_in = 1.0  # the scale of what the next convolution reads
    with torch.no_grad():
        for k, i in enumerate(convs):
            nxt = convs[k + 1] if k + 1 < len(convs) else len(net.features)
            tapped = any(i < t < nxt for t in wanted)
            scale_out = 1 / by if tapped else 1.0
            conv = net.features[i]
            conv.weight.mul_(scale_out / scale_in)
            conv.bias.mul_(scale_out)
            scale_in = scale_out
    return net


class _Gram(torch.autograd.Function):
    """G = R^T R / n, whose gradient is R (dG + dG^T) / n: one product of the rows with a
    small C x C matrix, where autograd's would be two large products and their sum (a
    strided addition of two row-sized tensors that alone took 9 % of a style step)."""

    @staticmethod
    def forward(ctx, r: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(r)
        return torch.bmm(r.transpose(1, 2), r).float() / r.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (r,) = ctx.saved_tensors
        sym = ((grad + grad.transpose(1, 2)) / r.shape[1]).to(r.dtype)
        return torch.bmm(r, sym)


def gram(r: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """(B, C, C) channel correlations of ``rows`` over places, divided by the number of
    places, times ``scale`` squared (the rows' own scale, kept out of them: a pass over the
    rows less); products in the rows' dtype, the result float32."""
    g = _Gram.apply(r)
    return g if scale == 1.0 else g * (scale * scale)


def squared_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (x.float() - target.float()).pow(2).sum()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (in [0, 1] units)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.float().pow(2).mean() + dy.float().pow(2).mean()


# ---------------------------------------------------------------------------------------------
# Colour.

_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436],
                     [0.615, -0.51499, -0.10001]])


def to_yuv(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _YUV.to(image), image)


def from_yuv(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_YUV).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The picture's luminance repeated in three channels (what luminance-only transfer
    stylises)."""
    y = to_yuv(image)[:, :1]
    return y.expand(-1, 3, -1, -1).clone()


def with_colour_of(stylised: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """``stylised``'s luminance with ``photo``'s chroma (U, V), both at ``stylised``'s size."""
    if photo.shape[-2:] != stylised.shape[-2:]:
        photo = resize(photo, stylised.shape[-2:])
    y = to_yuv(stylised)[:, :1]
    uv = to_yuv(photo)[:, 1:]
    return from_yuv(torch.cat([y, uv], 1)).clamp(0, 1)


def match_colours(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``source`` with its colours moved so that their mean and covariance are ``target``'s
    (the linear colour transfer of Gatys et al. 2017, via matrix square roots)."""
    src = source[0].flatten(1).double()
    tgt = target[0].flatten(1).double()
    mu_s, mu_t = src.mean(1, keepdim=True), tgt.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64) * 1e-5
    cov_s = torch.cov(src) + eye
    cov_t = torch.cov(tgt) + eye
    a = _sqrtm(cov_t) @ torch.linalg.inv(_sqrtm(cov_s))
    out = a @ (src - mu_s) + mu_t
    return out.view_as(source[0]).unsqueeze(0).to(source.dtype).clamp(0, 1)


def _sqrtm(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


# ---------------------------------------------------------------------------------------------
# Pictures as tensors.


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(image, np.uint8)).permute(2, 0, 1)[None].float() / 255


def to_image(t: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    a = t[0].detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return a.permute(1, 2, 0).contiguous().numpy()


def resize(t: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bicubic (antialiased when shrinking) to (h, w), clamped to [0, 1]."""
    h, w = int(size[0]), int(size[1])
    if tuple(t.shape[-2:]) == (h, w):
        return t
    shrink = h < t.shape[-2] or w < t.shape[-1]
    return F.interpolate(t.float(), size=(h, w), mode="bicubic", align_corners=False,
                         antialias=shrink).clamp(0, 1)


def fit(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is ``long_side`` (never below 1 px)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


# ---------------------------------------------------------------------------------------------
# The optimisation.


@dataclass
class Settings:
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.0
    softmax: bool = True  # SWAG's transform before the losses
    temperature: float = 3.0  # the softmax's
    optimizer: str = "lbfgs"  # or "adam"
    lr: float | None = None  # None: 1 for L-BFGS, 0.02 for Adam
    init: str = "content"  # or "noise"
    colour: str = "style"  # "style", "luminance" (luminance-only transfer) or "match"
    style_scale: float = 1.0  # the painting's long side relative to the picture's
    sizes: list[int] = field(default_factory=lambda: [512])  # long sides, coarse to fine
    steps: list[int] = field(default_factory=lambda: [200])  # per size
    bf16: bool = True  # bfloat16 autocast and channels-last convolutions
    preview_every: int = 10


@dataclass
class Targets:
    """What one scale's losses compare with. Each layer's loss is divided by a scale so that
    the weights mean the same for every network and picture: a content layer's squared error
    by the spread of the photo's features there (their squared distance from their mean), a
    style layer's by how far the photo's Gram matrix is from the painting's. So the style
    loss starts at 1 from the photo and falls towards 0 as the painting's statistics are
    matched."""

    content: list[torch.Tensor]
    spread: list[torch.Tensor]
    grams: list[torch.Tensor]
    distance: list[torch.Tensor]


@dataclass
class Step:
    """One optimisation step: where it is and how it went."""

    scale: int  # index into the sizes
    step: int  # steps done at this size
    done: int  # steps done in all
    total: int
    loss: float
    content: float
    style: float
    image: torch.Tensor | None = None  # the current picture (1, 3, h, w), on preview steps


class Stylist:
    """Repaints ``photo`` with the style of ``styles`` (blended by ``weights``) through
    ``net``: call ``run()`` and iterate its steps. ``photo`` and the styles are (1, 3, H, W) in
    [0, 1] at any size; the result comes out at the size of the last scale."""

    def __init__(self, net: VGG19Features, photo: torch.Tensor, styles: Sequence[torch.Tensor],
                 weights: Sequence[float], settings: Settings,
                 generator: torch.Generator | None = None, device: str = "cpu"):
        if len(styles) != len(weights) or not styles:
            raise ValueError("give one weight per style picture")
        total = float(sum(weights))
        if total <= 0 or any(w < 0 for w in weights):
            raise ValueError("style weights must be positive")
        self.net = net.to(device).eval().requires_grad_(False)
        self.settings = settings
        self.device = device
        self.photo = photo
        self.styles = list(styles)
        self.weights = [w / total for w in weights]
        self.generator = generator
        self.content_taps = [layer_index(n) for n in settings.content_layers]
        self.style_taps = [layer_index(n) for n in settings.style_layers]
        if settings.colour == "match":  # the paintings in the photo's colours
            self.styles = [match_colours(s, photo) for s in self.styles]
        self.image: torch.Tensor | None = None
        self.temperature = settings.temperature
        if settings.bf16:  # a bfloat16 copy: autocast would convert every weight every step
            net = copy.deepcopy(self.net)
            if settings.softmax and settings.temperature != 1:  # the temperature in the weights
                divide_taps(net, self.content_taps + self.style_taps, settings.temperature)
                self.temperature = 1.0
            self.net = net.to(dtype=torch.bfloat16, memory_format=torch.channels_last)

    # -- pieces ---------------------------------------------------------------------------

    def _autocast(self):
        dev = torch.device(self.device).type
        return torch.autocast(dev, dtype=torch.bfloat16, enabled=self.settings.bf16)

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(self.device)
        if self.settings.colour == "luminance":
            x = luminance(x)
        if self.settings.bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _features(self, image: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """Each tap's activations as ``rows`` (SWAG-transformed if set, without the count
        that makes them average 1: ``_gram`` puts it back), in the compute dtype. The
        content loss is relative, so it needs no scale."""
        with self._autocast():
            feats = [rows(f) for f in self.net(image, taps)]
        if self.settings.softmax:
            return [softmax_transform(f, self.temperature, scaled=False) for f in feats]
        return feats

    def _gram(self, f: torch.Tensor) -> torch.Tensor:
        return gram(f, f.shape[1] * f.shape[2] if self.settings.softmax else 1.0)

    def _targets(self, size: tuple[int, int]) -> Targets:
        """The photo's content features at ``size`` and the blended style Gram matrices, each
        painting scaled so its long side is ``style_scale`` times the picture's; and the
        scales that make each layer's loss relative (see ``Targets``)."""
        s = self.settings
        with torch.no_grad():
            photo = self._prepare(resize(self.photo, size))
            taps = self.content_taps + self.style_taps
            order = sorted(set(taps), key=taps.index)
            feats = dict(zip(order, self._features(photo, order), strict=True))
            content = [feats[i].detach() for i in self.content_taps]
            spread = [(f.float() - f.float().mean()).pow(2).sum().clamp_min(1e-12)
                      for f in content]
            long_side = round(max(size) * s.style_scale)
            grams: list[torch.Tensor] = [torch.zeros(())] * len(self.style_taps)
            for style, w in zip(self.styles, self.weights, strict=True):
                h, w_ = fit(style.shape[-2], style.shape[-1], long_side)
                if min(h, w_) < MIN_SIDE:  # VGG's four pools need 16 px
                    h, w_ = fit(style.shape[-2], style.shape[-1],
                                math.ceil(long_side * MIN_SIDE / min(h, w_)))
                sf = self._features(self._prepare(resize(style, (h, w_))), self.style_taps)
                grams = [g + w * self._gram(f) for g, f in zip(grams, sf, strict=True)]
            distance = []
            for i, g in zip(self.style_taps, grams, strict=True):
                d = squared_error(self._gram(feats[i]), g)
                distance.append(torch.maximum(d, 1e-4 * g.pow(2).sum()).clamp_min(1e-12))
        return Targets(content, spread, [g.detach() for g in grams], distance)

    def _losses(self, x: torch.Tensor, t: Targets
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.settings
        taps = self.content_taps + self.style_taps
        order = sorted(set(taps), key=taps.index)
        feats = dict(zip(order, self._features(self._prepare(x), order), strict=True))
        c = sum(squared_error(feats[i], f) / d for i, f, d in
                zip(self.content_taps, t.content, t.spread, strict=True)) / len(t.content)
        st = sum(squared_error(self._gram(feats[i]), g) / d for i, g, d in
                 zip(self.style_taps, t.grams, t.distance, strict=True)) / len(t.grams)
        total = s.content_weight * c + s.style_weight * st
        if s.tv_weight > 0:
            total = total + s.tv_weight * total_variation(x)
        return total, c.detach(), st.detach()

    def _start(self, size: tuple[int, int]) -> torch.Tensor:
        if self.image is not None:  # the previous scale's result, enlarged
            return resize(self.image, size)
        photo = resize(self.photo, size)
        if self.settings.init == "noise":
            noise = torch.rand(photo.shape, generator=self.generator)
            return noise
        return photo.clone()

    def output(self, image: torch.Tensor | None = None,
               full_size: tuple[int, int] | None = None) -> torch.Tensor:
        """The current picture as the user sees it: enlarged to ``full_size`` if given, with
        the photo's colours put back in luminance mode (from the photo at that size)."""
        x = self.image if image is None else image
        if x is None:
            raise RuntimeError("nothing painted yet")
        x = x.detach().float().cpu()
        if full_size is not None:
            x = resize(x, full_size)
        if self.settings.colour == "luminance":
            return with_colour_of(x, self.photo)
        return x.clamp(0, 1)

    # -- the loop ---------------------------------------------------------------------------

    def _optimizer(self, x: torch.Tensor, scale: float = 1.0) -> torch.optim.Optimizer:
        s = self.settings
        if s.optimizer == "lbfgs":  # one evaluation per call, its history kept between calls
            return torch.optim.LBFGS([x], lr=(s.lr or 1.0) * scale, max_iter=1,
                                     history_size=50)
        return torch.optim.Adam([x], lr=(s.lr or 0.02) * scale)

    def run(self) -> Iterator[Step]:
        """Optimise scale by scale; a Step after each evaluation, with the picture every
        ``preview_every`` steps and at the end of each scale. A step whose loss is over twice
        the best so far (or not a number) means the optimiser overshot: the best picture is
        taken back and the optimiser starts afresh from it with half the step size."""
        s = self.settings
        total = sum(s.steps)
        done = 0
        h0, w0 = self.photo.shape[-2:]
        for k, (long_side, n_steps) in enumerate(zip(s.sizes, s.steps, strict=True)):
            size = fit(h0, w0, long_side)
            targets = self._targets(size)
            x = self._start(size).to(self.device).requires_grad_(True)
            best_x = x.detach().clone()
            best = [math.inf]
            seen: list[torch.Tensor] = []
            opt = self._optimizer(x)
            restarts = 0

            def closure(x=x, best_x=best_x, best=best, seen=seen, targets=targets):
                x.grad = None
                loss, c, st = self._losses(x, targets)
                loss.backward()
                x.grad = x.grad.contiguous()  # L-BFGS views it flat
                seen[:] = [loss.detach(), c, st]
                value = float(loss.detach())
                if value < best[0]:
                    best[0] = value
                    best_x.copy_(x.detach())
                return loss

            for i in range(n_steps):
                opt.step(closure)
                with torch.no_grad():
                    x.clamp_(0, 1)
                done += 1
                loss, c, st = (float(v) for v in seen)
                if not math.isfinite(loss) or loss > 2 * best[0] + 1e-6:
                    restarts += 1
                    if restarts > 20:
                        raise FloatingPointError("the optimisation keeps diverging; lower "
                                                 "--lr or the style weight")
                    with torch.no_grad():
                        x.copy_(best_x)
                    opt = self._optimizer(x, 0.5 ** restarts)
                self.image = x.detach()
                show = (i + 1) % max(1, s.preview_every) == 0 or i + 1 == n_steps
                if i + 1 == n_steps:
                    self.image = best_x.clone()
                yield Step(k, i + 1, done, total, loss, c, st,
                           self.output().cpu() if show else None)
            self.image = best_x.cpu()
