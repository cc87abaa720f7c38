"""Translating a picture of any size with a CycleGAN generator, at the picture's own size.

The generator is fully convolutional, so a picture goes through whole where it fits the tile
limit, padded (by reflection) to sides that are multiples of 4 and cropped back: no squashing.

A larger picture goes through in pieces, and the pieces must agree. Plain tiling does not: each
InstanceNorm normalises by the mean and variance of its whole input, so a tile that used its own
statistics would come out in colours of its own, with seams. Here every norm uses the statistics
of the whole picture, exactly, and the result is the untiled one (to rounding):

- encoder (full and half resolution, three norms): overlapping tiles of the picture, three
  passes, each going one norm deeper: a pass records what the next norm sees over the tiles'
  cores (which cover the picture once), so that norm's statistics are the whole picture's
  before the next pass uses them. The third pass writes the encoder's output, a map at a
  quarter of the resolution, whole;
- residual blocks (a quarter of the resolution, where 3/4 of the work is): layer by layer on
  that stored map, in bands of rows; a norm's statistics come from the whole stored map;
- decoder (half and full resolution, two norms): overlapping tiles of the map, three passes
  as in the encoder, the last writing each tile's core into the output.

A tile's halo is wider than what its layers see, and tiles are cut on multiples of 4, so a
core's pixels are exactly those of an untiled pass; cores meet edge to edge, with no seam to
blend. Memory: the picture, the output and two quarter-resolution maps (``4 * ngf`` channels),
64 bytes a pixel at ngf 64 in bfloat16, plus one tile's activations; never the whole network's
activations at once.

The layers run one by one here (not through ``Generator.forward``) so that Stop is honoured
between layers, and each norm is computed the fast way: statistics in float32 from a
channels-last view, applied with ``batch_norm``'s fused kernel (the semantics of
``cyclegan.InstanceNorm``, with the statistics given or recorded).
"""

from __future__ import annotations

import copy as copying
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from studio.errors import UserError
from studio.tasks import Cancelled, Event, Preview, Progress
from studio_paint.cyclegan import Generator, InstanceNorm, ResnetBlock, is_upsampling

MIN_SIDE = 8  # the map after two stride-2 convolutions must be 2 wide for the blocks' padding
ENCODER_HALO = 8  # full-resolution pixels the encoder's tiles see beyond their core (needs 6)
DECODER_HALO = 4  # quarter-resolution pixels the decoder's tiles see beyond theirs (needs 3)
EDGE_MARGIN = 32  # working pixels of reflection around a picture: paint.monet streaks ~20 px
# in from the top and left edges without it; 16 left a thin line, 32 none (docs/models)
PREVIEW_SIDE = 512  # long side of preview images
LOAD_RATIO = 286 / 256  # the published recipe: pictures loaded at 286, cropped to 256

Stats = tuple[torch.Tensor, torch.Tensor]  # a norm's per-channel (mean, variance)


# ---------------------------------------------------------------------------------------------
# Working scale.


def load_size(train_size: int) -> int:
    """The short side training pictures had before they were cropped to ``train_size``."""
    return round(train_size * LOAD_RATIO)


def working_size(height: int, width: int, scale: str, train_size: int) -> tuple[int, int]:
    """The (height, width) to translate a ``height`` x ``width`` picture at.

    ``scale``: "auto" (the scale the model was trained at: the short side the training
    pictures had, ``train_size`` x 286/256, the long side at most four times that); "Nx"
    (N times auto's size, e.g. "2x" for finer detail and a lighter style); "full" (the
    picture's own pixels); or a whole number N, the short side in pixels.
    """
    s = scale.strip().lower()
    short, long_ = min(height, width), max(height, width)
    auto = min(load_size(train_size) / short, 4 * load_size(train_size) / long_)
    try:
        if s == "auto":
            factor = auto
        elif s in ("full", "original"):
            factor = 1.0
        elif s.endswith("x") and float(s[:-1]) > 0:
            factor = auto * float(s[:-1])
        elif s.isdigit() and int(s) > 0:
            factor = int(s) / short
        else:
            raise ValueError(s)
    except ValueError:
        raise UserError(f"--scale: {scale!r} is not auto, full, a short side in pixels (e.g. "
                        "512) or a multiple of the model's scale (e.g. 2x)") from None
    if not math.isfinite(factor) or factor * max(height, width) > 1e6:
        raise UserError(f"--scale: {scale!r} is too large")
    return max(1, round(height * factor)), max(1, round(width * factor))


# ---------------------------------------------------------------------------------------------
# Precision.


_copies: dict[tuple[int, torch.dtype], Generator] = {}


def in_dtype(gen: Generator, dtype: torch.dtype) -> Generator:
    """``gen`` with its weights in ``dtype`` and channels-last: a copy, made once per generator
    unless ``gen`` is so already. (Weights in another dtype would be converted again at every
    layer of every tile, as autocast does; channels-first weights are cloned into
    channels-last at every convolution of a channels-last map.)"""
    weights = [m.weight for m in gen.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    if all(w.dtype == dtype and w.is_contiguous(memory_format=torch.channels_last)
           for w in weights):
        return gen
    key = (id(gen), dtype)
    found = _copies.get(key)
    if found is None or getattr(found, "_source", None) is not gen:
        _copies.clear()  # one generator at a time, as loading.py keeps them
        found = copying.deepcopy(gen).to(dtype=dtype, memory_format=torch.channels_last)
        found._source = gen
        _copies[key] = found
    return found


# ---------------------------------------------------------------------------------------------
# Statistics.


@dataclass
class Moments:
    """Per-channel count, mean and sum of squared deviations (float64), merged across pieces
    with Chan's formula."""

    count: int
    mean: torch.Tensor
    m2: torch.Tensor

    def merge(self, other: Moments) -> Moments:
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta.square() * (self.count * other.count / n)
        return Moments(n, mean, m2)

    def stats(self) -> Stats:
        """(mean, variance) as float32, what a norm takes."""
        return self.mean.float(), (self.m2 / self.count).float()


def moments(x: torch.Tensor, region: tuple[int, int, int, int] | None = None,
            pixels: int = 1 << 13) -> Moments:
    """The moments of a (1, C, H, W) map over ``region`` (top, bottom, left, right): each band
    of about ``pixels`` pixels in float32 with torch's fused batch-norm statistics kernel (two
    to three times faster here than float32 arithmetic), merged in float64. Small bands keep
    the kernel's running sums short: summed over whole maps, its float32 error (1e-4 of the
    variance) let tiled and whole translations of a picture differ by up to 26 levels of 255.
    (It takes bfloat16 too, 5x faster, but rounds the mean to bfloat16: 62 levels.)"""
    if region is not None:
        top, bottom, left, right = region
        x = x[:, :, top:bottom, left:right]
    h, w = x.shape[2:]
    rows = max(1, pixels // max(1, w))
    total: Moments | None = None
    for r in range(0, h, rows):
        band = x[:, :, r:r + rows]
        mean, var = torch.batch_norm_update_stats(band.float(), None, None, 0.0)
        n = band.shape[2] * w
        part = Moments(n, mean.double(), var.double() * n)
        total = part if total is None else total.merge(part)
    assert total is not None
    return total


def _add(found: list[Moments | None], k: int, part: Moments) -> None:
    found[k] = part if found[k] is None else found[k].merge(part)


# ---------------------------------------------------------------------------------------------
# Layers.


Recorder = Callable[[int, torch.Tensor], None]


def normalise(x: torch.Tensor, stats: Stats, eps: float = 1e-5) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) per channel, in x's dtype, with batch_norm's fused kernel."""
    mean, var = stats
    return F.batch_norm(x, mean.to(x.device), var.to(x.device), None, None, False, 0.0, eps)


def run_layers(layers: Sequence[nn.Module], x: torch.Tensor,
               stats: Sequence[Stats] | None = None, record: Recorder | None = None,
               should_stop: Callable[[], bool] = lambda: False) -> torch.Tensor:
    """``layers`` (a generator's ``model`` or a slice of it) applied to ``x``, one by one.
    ``stats``: each norm's (mean, var), in the order the input meets them, instead of the
    map's own; ``record(k, map)`` sees the input of norm k. Raises Cancelled between layers
    once ``should_stop()``."""
    k = 0

    def run(seq: Sequence[nn.Module], t: torch.Tensor) -> torch.Tensor:
        nonlocal k
        for layer in seq:
            if isinstance(layer, ResnetBlock):
                t = t + run(layer.conv_block, t)
            elif isinstance(layer, InstanceNorm):
                if record is not None:
                    record(k, t)
                t = normalise(t, stats[k] if stats is not None else moments(t).stats(),
                              layer.eps)
                k += 1
            else:
                t = layer(t)
            if should_stop():
                raise Cancelled()
        return t

    return run(layers, x)


def receptive_radius(n_blocks: int) -> int:
    """How far (in input pixels) an output pixel sees: 7x7 (3), two stride-2 3x3 (1 + 2), two
    3x3 per block at stride 4 (8 each), two transposed 3x3 (4 + 2), 7x7 (3)."""
    return 15 + 8 * n_blocks


@dataclass
class Parts:
    """A generator's layers in three parts: the encoder (``model[:10]``: pad, 7x7, two
    stride-2 convolutions, three norms), the residual blocks and the decoder."""

    encoder: list[nn.Module]
    blocks: list[ResnetBlock]
    decoder: list[nn.Module]

    @classmethod
    def of(cls, gen: Generator) -> Parts:
        layers = list(gen.model)
        blocks = [m for m in layers if isinstance(m, ResnetBlock)]
        return cls(layers[:10], blocks, layers[10 + len(blocks):])

    @property
    def channels(self) -> int:
        return self.encoder[7].out_channels


def _norm_positions(layers: Sequence[nn.Module]) -> list[int]:
    return [i for i, m in enumerate(layers) if isinstance(m, InstanceNorm)]


def _macs(layers: Sequence[nn.Module]) -> float:
    """Multiply-adds per input pixel of a run of layers (a quarter-resolution map's pixel
    counts 1/16 of one; the cost model behind the progress bar)."""
    total, area = 0.0, 1.0
    for m in (sub for layer in layers for sub in layer.modules()):
        if is_upsampling(m):  # a transposed 3x3 on the small map (a resized one: 4x4)
            taps = 9 if isinstance(m, nn.ConvTranspose2d) else 16
            total += m.in_channels * m.out_channels * taps * area
            area *= 4
        elif isinstance(m, nn.Conv2d):
            area /= m.stride[0] ** 2
            total += m.in_channels * m.out_channels * m.kernel_size[0] ** 2 * area
    return total


# ---------------------------------------------------------------------------------------------
# Geometry.


def pad_amounts(h: int, w: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding: a margin of EDGE_MARGIN pixels on each side (a
    quarter of the side at most), then what makes both sides multiples of 4 and at least
    MIN_SIDE, split evenly. The margin is cut away after translation, and with it the band of
    streaks a generator paints along a picture's edges."""
    def split(n: int) -> tuple[int, int]:
        margin = min(EDGE_MARGIN, n // 4)
        target = max(MIN_SIDE, -(-(n + 2 * margin) // 4) * 4)
        extra = target - n - 2 * margin
        return margin + extra // 2, margin + extra - extra // 2

    (top, bottom), (left, right) = split(h), split(w)
    return top, bottom, left, right


def pad(x: torch.Tensor, amounts: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad a (1, C, H, W) map by reflection (by repeating the edge where the picture is too
    small to reflect)."""
    top, bottom, left, right = amounts
    if not any(amounts):
        return x
    h, w = x.shape[2:]
    mode = "reflect" if max(top, bottom) < h and max(left, right) < w else "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode)


@dataclass(frozen=True)
class Tile:
    """A tile: its box and its core (top, bottom, left, right); cores cover the map once."""

    box: tuple[int, int, int, int]
    core: tuple[int, int, int, int]

    def local(self, scale: float = 1) -> tuple[int, int, int, int]:
        """The core inside the tile, on a map ``scale`` times the tile's resolution."""
        top, _, left, _ = self.box
        ct, cb, cl, cr = self.core
        return (round((ct - top) * scale), round((cb - top) * scale),
                round((cl - left) * scale), round((cr - left) * scale))


def _cuts(n: int, pieces: int, multiple: int) -> list[int]:
    """``pieces`` + 1 positions from 0 to ``n``, evenly spaced, on multiples of ``multiple``."""
    inner = [multiple * round(i * n / pieces / multiple) for i in range(1, pieces)]
    return sorted({0, n, *(c for c in inner if 0 < c < n)})


def plan_tiles(h: int, w: int, tile: int, halo: int, multiple: int = 4) -> list[Tile]:
    """Tiles of at most about ``tile`` x ``tile`` pixels (halo included) whose cores, cut on
    multiples of ``multiple``, cover an ``h`` x ``w`` map once."""
    core = tile - 2 * halo
    if core < multiple:
        raise UserError(f"--tile: {tile} px is too small (tiles need {2 * halo} px of margin)")
    rows = _cuts(h, -(-h // core), multiple)
    cols = _cuts(w, -(-w // core), multiple)
    tiles = []
    for top, bottom in zip(rows, rows[1:], strict=False):
        for left, right in zip(cols, cols[1:], strict=False):
            box = (max(0, top - halo), min(h, bottom + halo), max(0, left - halo),
                   min(w, right + halo))
            tiles.append(Tile(box, (top, bottom, left, right)))
    return tiles


def channels_last(x: torch.Tensor, dtype: torch.dtype | None = None,
                  device: str | None = None) -> torch.Tensor:
    """``x`` channels-last with the canonical strides, in ``dtype`` on ``device`` (copied
    unless it is so already). A one-image tensor's batch stride is free, and an odd one
    makes some layers fall back to the slower channels-first kernels."""
    dtype, device = dtype or x.dtype, device or x.device
    n, c, h, w = x.shape
    if (x.dtype == dtype and x.device == torch.device(device)
            and x.stride() == (c * h * w, 1, w * c, c)):
        return x
    out = torch.empty(x.shape, dtype=dtype, device=device, memory_format=torch.channels_last)
    return out.copy_(x)


def _crop(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    top, bottom, left, right = box
    return x[:, :, top:bottom, left:right]


# ---------------------------------------------------------------------------------------------
# Translating.


@dataclass
class Translation:
    """How a picture goes through a generator: on which device, in which precision, and from
    what size in pieces (``tile``: pictures up to ``tile`` x ``tile`` pixels go whole)."""

    gen: Generator
    device: str = "cpu"
    bf16: bool = False
    tile: int = 512
    should_stop: Callable[[], bool] = lambda: False
    dtype: torch.dtype = field(init=False)

    def __post_init__(self) -> None:
        self.dtype = torch.bfloat16 if self.bf16 else torch.float32
        self.net = in_dtype(self.gen, self.dtype)
        self.parts = Parts.of(self.net)

    # -- pieces of work --------------------------------------------------------------------

    def _on_device(self, x: torch.Tensor) -> torch.Tensor:
        return channels_last(x, self.dtype, self.device)

    def _run(self, layers: Sequence[nn.Module], x: torch.Tensor, **kw) -> torch.Tensor:
        with torch.inference_mode():
            return run_layers(layers, self._on_device(x), should_stop=self.should_stop, **kw)

    def whole(self, x: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) in [-1, 1] (H, W multiples of 4) through the generator at once;
        float32 on the CPU."""
        return self._run(self.net.model, x).float().cpu()

    def steps(self, x: torch.Tensor, label: str = "") -> Iterator[Event]:
        """Translate (1, 3, H, W) in [-1, 1] (multiples of 4), yielding Progress and Preview
        events; the result, uint8 (H, W, 3), is the generator's return value."""
        h, w = x.shape[2:]
        if h * w <= self.tile * self.tile:
            yield Progress(None, f"{label}painting {w}x{h}")
            return to_uint8(self.whole(x))
        pieces = self._in_pieces(x, label)
        del x  # the encoder lets go of the picture once it has its map
        return (yield from pieces)

    # -- in pieces -------------------------------------------------------------------------

    def _in_pieces(self, x: torch.Tensor, label: str) -> Iterator[Event]:
        h, w = x.shape[2:]
        enc, blocks, dec = self.parts.encoder, self.parts.blocks, self.parts.decoder
        enc_norms, dec_norms = _norm_positions(enc), _norm_positions(dec)
        etiles = plan_tiles(h, w, self.tile, ENCODER_HALO, 4)
        dtiles = plan_tiles(h // 4, w // 4, max(self.tile // 4, 4 * DECODER_HALO),
                            DECODER_HALO, 1)
        # work, in multiply-adds per pixel, for the progress bar
        area = h * w
        preview_work = _macs(self.net.model) * min(1.0, self.tile ** 2 / area)
        enc_work = [_macs(enc[:p]) for p in enc_norms]
        dec_work = [_macs(dec[:p]) / 16 for p in dec_norms] + [_macs(dec) / 16]
        total = preview_work + sum(enc_work) + _macs(blocks) / 16 + sum(dec_work)
        done = 0.0

        def progress(work: float, what: str) -> Progress:
            nonlocal done
            done += work
            return Progress(min(1.0, done / total), f"{label}{what}")

        # a quick look: the picture scaled down to the tile limit, whole
        f = min(1.0, self.tile / math.sqrt(area))
        sh, sw = max(MIN_SIDE, 4 * round(h * f / 4)), max(MIN_SIDE, 4 * round(w * f / 4))
        small = F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True,
                              align_corners=False).clamp_(-1, 1)
        canvas = _preview_canvas(self.whole(small))
        del small
        yield Preview(to_uint8(canvas), label)
        yield progress(preview_work, "a first look")

        # encoder: one pass per norm, then the quarter-resolution map
        stats: list[Stats] = []
        for n, upto in enumerate(enc_norms):
            found: list[Moments | None] = [None]
            last = n == len(enc_norms) - 1
            if last:
                fmap = torch.empty(1, self.parts.channels, h // 4, w // 4, dtype=self.dtype,
                                   device=self.device, memory_format=torch.channels_last)
            down = 2 ** sum(isinstance(m, nn.Conv2d) and m.stride[0] == 2 for m in enc[:upto])
            for i, t in enumerate(etiles):
                y = self._run(enc[:upto], _crop(x, t.box), stats=stats)
                _add(found, 0, moments(y, t.local(1 / down)))
                if last:
                    ct, cb, cl, cr = (c // 4 for c in t.core)
                    fmap[:, :, ct:cb, cl:cr] = _crop(y, t.local(1 / 4))
                del y
                yield progress(enc_work[n] * _tile_area(t) / area,
                               f"encoding, pass {n + 1} of {len(enc_norms)}, "
                               f"tile {i + 1} of {len(etiles)}")
            assert found[0] is not None
            stats.append(found[0].stats())
        del x  # the caller passed it on: the picture is in the map now
        self._apply_in_bands(fmap, stats[-1], relu=True)

        # residual blocks on the stored map, a band of rows at a time
        spare = torch.empty_like(fmap)
        rows = max(1, (self.tile // 4) ** 2 // max(1, w // 4) // 2)
        for b, block in enumerate(blocks):
            conv_a, conv_b = block.conv_block[1], block.conv_block[5]
            eps = block.conv_block[2].eps
            for r in range(0, h // 4, rows):  # spare = conv_a(fmap)
                spare[:, :, r:r + rows] = self._conv_band(conv_a, fmap, r, r + rows)
                yield progress(_macs([conv_a]) / 16 * rows / (h // 4),
                               f"block {b + 1} of {len(blocks)}")
            self._apply_in_bands(spare, self._map_moments(spare).stats(), relu=True, eps=eps)
            # spare = conv_b(spare), band by band in place: the band below still needs the
            # last input row of the band above, kept aside before it is overwritten
            above = None
            for r in range(0, h // 4, rows):
                out = self._conv_band(conv_b, spare, r, r + rows, above)
                above = spare[:, :, min(r + rows, h // 4) - 1:min(r + rows, h // 4)].clone()
                spare[:, :, r:r + rows] = out
                del out
                yield progress(_macs([conv_b]) / 16 * rows / (h // 4),
                               f"block {b + 1} of {len(blocks)}")
            stats_b = self._map_moments(spare).stats()
            for r in self._bands(spare):
                fmap[:, :, r] += normalise(spare[:, :, r], stats_b, eps)
        del spare

        # decoder: one pass per norm, the last writing the picture
        out = np.empty((h, w, 3), np.uint8)
        dstats: list[Stats] = []
        for n in range(len(dec_norms) + 1):
            last = n == len(dec_norms)
            layers = dec if last else dec[:dec_norms[n]]
            found = [None]
            up = 2 ** sum(is_upsampling(m) for m in layers)
            for i, t in enumerate(dtiles):
                y = self._run(layers, _crop(fmap, t.box), stats=dstats)
                if last:
                    ct, cb, cl, cr = (4 * c for c in t.core)
                    piece = _crop(y, t.local(4)).float().cpu()
                    out[ct:cb, cl:cr] = to_uint8(piece)
                    _paste_preview(canvas, piece, (ct, cb, cl, cr), (h, w))
                    yield Preview(to_uint8(canvas), label)
                else:
                    _add(found, 0, moments(y, t.local(up)))
                del y
                yield progress(dec_work[n] * _tile_area(t) * 16 / area,
                               f"painting, pass {n + 1} of {len(dec_norms) + 1}, "
                               f"tile {i + 1} of {len(dtiles)}")
            if not last:
                assert found[0] is not None
                dstats.append(found[0].stats())
        return out

    def _conv_band(self, conv: nn.Module, src: torch.Tensor, r0: int, r1: int,
                   above: torch.Tensor | None = None) -> torch.Tensor:
        """Rows [r0, r1) of ``conv(reflection_pad_1(src))``; ``above``: row r0 - 1 of src as
        it was (when src's rows above r0 have been overwritten)."""
        h = src.shape[2]
        r1 = min(r1, h)
        lo, hi = max(0, r0 - 1), min(h, r1 + 1)
        band = src[:, :, lo:hi]
        if above is not None and r0 > 0:
            band = torch.cat([above, src[:, :, r0:hi]], dim=2)
        top, bottom = int(r0 == 0), int(r1 == h)
        if band.shape[2] < 2:  # a map one row high: nothing to reflect
            band = F.pad(band, (1, 1, 0, 0), mode="reflect")
            band = F.pad(band, (0, 0, top, bottom), mode="replicate")
        else:
            band = F.pad(band, (1, 1, top, bottom), mode="reflect")
        with torch.inference_mode():
            y = conv(channels_last(band))
        if self.should_stop():
            raise Cancelled()
        return y

    def _bands(self, fmap: torch.Tensor) -> Iterator[slice]:
        """Bands of about 4 million values of a map's rows, checking for Stop between them."""
        rows = max(1, (1 << 22) // max(1, fmap.shape[1] * fmap.shape[3]))
        for r in range(0, fmap.shape[2], rows):
            if self.should_stop():
                raise Cancelled()
            yield slice(r, r + rows)

    def _map_moments(self, fmap: torch.Tensor) -> Moments:
        total: Moments | None = None
        for r in self._bands(fmap):
            part = moments(fmap[:, :, r])
            total = part if total is None else total.merge(part)
        assert total is not None
        return total

    def _apply_in_bands(self, fmap: torch.Tensor, stats: Stats, relu: bool,
                        eps: float = 1e-5) -> None:
        """fmap = relu(norm(fmap)), in place, a band of rows at a time."""
        for r in self._bands(fmap):
            band = normalise(fmap[:, :, r], stats, eps)
            fmap[:, :, r] = band.clamp_min_(0) if relu else band


def _tile_area(t: Tile) -> int:
    ct, cb, cl, cr = t.core
    return (cb - ct) * (cr - cl)


def _preview_canvas(low: torch.Tensor) -> torch.Tensor:
    h, w = low.shape[2:]
    f = min(1.0, PREVIEW_SIDE / max(h, w))
    if f < 1.0:
        low = F.interpolate(low, size=(max(1, round(h * f)), max(1, round(w * f))),
                            mode="bilinear", antialias=True, align_corners=False)
    return low.clone()


def _paste_preview(canvas: torch.Tensor, y: torch.Tensor, box: tuple[int, int, int, int],
                   size: tuple[int, int]) -> None:
    """Draw a finished piece (covering ``box`` of a picture of ``size``) into the canvas."""
    ch, cw = canvas.shape[2:]
    h, w = size
    top, bottom, left, right = box
    t0, b0 = round(top * ch / h), round(bottom * ch / h)
    l0, r0 = round(left * cw / w), round(right * cw / w)
    if b0 > t0 and r0 > l0:
        canvas[:, :, t0:b0, l0:r0] = F.interpolate(y, size=(b0 - t0, r0 - l0), mode="bilinear",
                                                   antialias=True, align_corners=False)


# ---------------------------------------------------------------------------------------------
# Pictures.


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1], channels-last (one copy)."""
    with warnings.catch_warnings():  # a read-only array (Pillow's) is only read here
        warnings.simplefilter("ignore", UserWarning)
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    return t.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [-1, 1] -> uint8 (H, W, 3), rounded."""
    y = x[0].float().clamp(-1, 1).add_(1).mul_(127.5).round_()
    return y.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) resized with Pillow (Lanczos down, bicubic up)."""
    if image.shape[:2] == (height, width):
        return image
    from PIL import Image

    down = height * width < image.shape[0] * image.shape[1]
    method = Image.Resampling.LANCZOS if down else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((width, height), method))


def blend(original: np.ndarray, painted: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` of the painted picture over the original (same size), as uint8."""
    if strength >= 1.0:
        return painted
    if strength <= 0.0:
        return original.copy()
    out = original.astype(np.float32)
    out *= 1.0 - strength
    out += painted.astype(np.float32) * strength
    return np.rint(out, out=out).astype(np.uint8)


def translate_image(image: np.ndarray, translation: Translation, work: tuple[int, int],
                    strength: float = 1.0, label: str = "") -> Iterator[Event]:
    """uint8 (H, W, 3) -> uint8 (H, W, 3): scaled to ``work`` (height, width), padded,
    translated, cropped, scaled back and blended with the original. A generator of events
    whose return value is the result."""
    h, w = image.shape[:2]
    amounts = pad_amounts(*work)
    # passed on without a name here, so that the tiles can let go of it when done with it
    y = yield from translation.steps(pad(to_tensor(resize(image, *work)), amounts), label)
    top, _, left, _ = amounts
    painted = y[top:top + work[0], left:left + work[1]]
    del y
    return blend(image, resize(np.ascontiguousarray(painted), h, w), strength)
