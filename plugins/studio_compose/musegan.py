"""MuseGAN, as David Foster's *Generative Deep Learning* builds it, in plain PyTorch.

Music is a tensor (batch, tracks, bars, steps, pitches) in [-1, 1]: +1 where a track's note
sounds at a step, -1 elsewhere. The generator takes four inputs:

- chords (z): one vector for the whole phrase, unrolled into one per bar by a temporal network;
- style (z): one vector for the whole phrase, shared by every track and bar;
- melody (tracks, z): per track, unrolled into one per bar by that track's temporal network;
- groove (tracks, z): per track, the same in every bar.

Each track has a bar generator that turns the four 32-d vectors of one bar into that bar's
(steps, pitches) roll. The critic is a Conv3D stack scored as a WGAN with gradient penalty.

Layer sizes follow the book; the numbers of bars, steps per bar and pitches are configurable:
steps per bar a multiple of 8, pitches a multiple of 12 (an octave, then the octaves).

How a bar generator's scores become the roll (``output``):

- ``"tanh"``, the book's: each pitch is on or off by itself (tanh of its score). A voice sounds
  no note where every pitch is below 0, so a silence is 84 decisions at once; a generator
  trained this way leaves many one-step holes in its voices.
- ``"softmax"``: each step of a voice is one choice among its pitches and silence. Silence is
  one more score, learned per track; the softmax picks, and the roll is ``2 p - 1`` per pitch
  (the chosen pitch near +1, the rest near -1, as in the data). The voice is monophonic by
  construction, and resting means beating every pitch's score, not all 84 at once.

``critic_chroma`` adds a chroma stream to the critic, as Dong & Yang's BinaryMuseGAN (2018)
added one to its discriminator: each track's pitch classes per beat, read by a small network
of their own, scored beside the book's Conv3D stack. The book's critic sees pitches one octave
window at a time; the stream hands it the harmony (which pitch classes sound together, and
in which key) directly.

``critic_contour`` adds a contour stream: each track's line step by step (whether it sounds, its
pitch, and how much it changes from the step before), read by a small 1-D convolution over
time. It hands the critic what the Conv3D stack sees only through octave windows and strided
steps: a voice's range and leaps, where its pitch changes and how long each pitch lasts (the
onset stream of BinaryMuseGAN reads the same changes), and which voice is above which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MuseGANConfig:
    n_tracks: int = 4
    n_bars: int = 2
    n_steps: int = 16  # per bar
    n_pitches: int = 84
    lowest_pitch: int = 24  # MIDI pitch of the first pitch row
    z_dim: int = 32
    output: str = "tanh"  # "tanh" (the book's) or "softmax" (see the module docstring)
    critic_chroma: bool = False  # the critic's chroma stream (see the module docstring)
    critic_contour: bool = False  # the critic's contour stream (see the module docstring)

    def __post_init__(self) -> None:
        if self.output not in ("tanh", "softmax"):
            raise ValueError(f"output must be 'tanh' or 'softmax', not {self.output!r}")
        if self.n_bars < 2:
            raise ValueError("n_bars must be at least 2")
        if self.n_steps % 8:
            raise ValueError(f"steps per bar must be a multiple of 8, not {self.n_steps}")
        if self.n_pitches % 12:
            raise ValueError(f"the pitch range must be whole octaves, not {self.n_pitches}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> MuseGANConfig:
        """The network's settings from a model card's config (which may say more, e.g.
        ``keys``)."""
        return cls(**{k: v for k, v in config.items() if k in cls.__dataclass_fields__})


class TemporalNetwork(nn.Module):
    """One z vector -> one vector per bar (two transposed convolutions along time)."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose1d(cfg.z_dim, 1024, 2), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.ConvTranspose1d(1024, cfg.z_dim, cfg.n_bars - 1), nn.BatchNorm1d(cfg.z_dim),
            nn.ReLU(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, z) -> (B, bars, z)
        return self.net(z[:, :, None]).transpose(1, 2)


# The book's convolutions each slide along one axis only, and the bar generator's have kernels
# equal to their strides. Written as matrix products on channels-last tensors they run several
# times faster on the CPU than torch's Conv3d/ConvTranspose2d, and so does the critic's
# gradient penalty (a second derivative). The weights keep the shapes torch's layers would have.


class Upsample(nn.Module):
    """ConvTranspose2d with kernel == stride == ``factor`` along one axis of (N, steps,
    pitches, C), then BatchNorm and ReLU (or nothing, for the last layer)."""

    def __init__(self, c_in: int, c_out: int, factor: int, axis: int, last: bool = False):
        super().__init__()
        self.factor, self.axis = factor, axis
        kernel = (factor, 1) if axis == 1 else (1, factor)
        self.weight = nn.Parameter(torch.empty(c_in, c_out, *kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.norm = None if last else nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, s, p, c = x.shape
        c_out = self.weight.shape[1]
        w = self.weight.reshape(c, c_out, self.factor).transpose(1, 2).reshape(c, -1)
        y = (x.reshape(-1, c) @ w).view(n, s, p, self.factor, c_out)
        if self.axis == 1:  # new steps: (s, factor) -> s * factor
            y = y.transpose(2, 3).reshape(n, s * self.factor, p, c_out)
        else:
            y = y.reshape(n, s, p * self.factor, c_out)
        y = y + self.bias
        if self.norm is None:
            return y
        return F.relu(self.norm(y.reshape(-1, c_out)).view_as(y))


class BarGenerator(nn.Module):
    """The four vectors of one bar and one track (4 * z) -> that bar's roll (steps, pitches)."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.cfg = cfg
        width = 512 * (cfg.n_steps // 8)  # the book's Dense 1024 at 16 steps
        self.fc = nn.Sequential(nn.Linear(4 * cfg.z_dim, width), nn.BatchNorm1d(width), nn.ReLU())
        # (steps/8, 1, 512) -> (steps, octaves, 256) -> (steps, pitches, 1)
        self.convs = nn.Sequential(
            Upsample(512, 512, 2, axis=1), Upsample(512, 256, 2, axis=1),
            Upsample(256, 256, 2, axis=1), Upsample(256, 256, cfg.n_pitches // 12, axis=2),
            Upsample(256, 1, 12, axis=2, last=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4z) -> (N, steps, pitches) scores, before the output activation."""
        h = self.fc(x).view(-1, 512, self.cfg.n_steps // 8, 1).permute(0, 2, 3, 1)
        return self.convs(h)[..., 0]


class VoiceOutput(nn.Module):
    """A track's (..., pitches) scores -> its roll in [-1, 1], as ``cfg.output`` says."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.kind = cfg.output
        if self.kind == "softmax":  # each track's score for sounding no note
            self.silence = nn.Parameter(torch.zeros(cfg.n_tracks))

    def forward(self, scores: torch.Tensor, track: int) -> torch.Tensor:
        if self.kind == "tanh":
            return torch.tanh(scores)
        silence = self.silence[track].to(scores.dtype).expand(*scores.shape[:-1], 1)
        p = torch.softmax(torch.cat([scores, silence], dim=-1).float(), dim=-1)[..., :-1]
        return (2 * p - 1).to(scores.dtype)


class Generator(nn.Module):
    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.cfg = cfg
        self.chords_over_time = TemporalNetwork(cfg)
        self.melody_over_time = nn.ModuleList(TemporalNetwork(cfg) for _ in range(cfg.n_tracks))
        self.bar_generators = nn.ModuleList(BarGenerator(cfg) for _ in range(cfg.n_tracks))
        self.output = VoiceOutput(cfg)

    def forward(self, chords: torch.Tensor, style: torch.Tensor, melody: torch.Tensor,
                groove: torch.Tensor) -> torch.Tensor:
        """chords, style (B, z); melody, groove (B, tracks, z) -> (B, tracks, bars, steps,
        pitches) in [-1, 1]."""
        b, bars = chords.shape[0], self.cfg.n_bars
        chords_t = self.chords_over_time(chords)  # (B, bars, z)
        tracks = []
        for k, bar_gen in enumerate(self.bar_generators):
            melody_t = self.melody_over_time[k](melody[:, k])  # (B, bars, z)
            per_bar = torch.cat([
                chords_t, style[:, None].expand(-1, bars, -1), melody_t,
                groove[:, k, None].expand(-1, bars, -1)], dim=-1)  # (B, bars, 4z)
            scores = bar_gen(per_bar.reshape(b * bars, -1))
            tracks.append(self.output(scores, k).view(b, bars, self.cfg.n_steps,
                                                      self.cfg.n_pitches))
        return torch.stack(tracks, dim=1)


class AxisConv(nn.Module):
    """Conv3d sliding along one axis of (N, bars, steps, pitches, C), channels last, then
    LeakyReLU. ``same`` pads as Keras does (the extra cell at the end)."""

    def __init__(self, c_in: int, c_out: int, axis: int, kernel: int, stride: int = 1,
                 same: bool = False):
        super().__init__()
        self.axis, self.kernel, self.stride, self.same = axis, kernel, stride, same
        shape = [1, 1, 1]
        shape[axis - 1] = kernel
        self.weight = nn.Parameter(torch.empty(c_out, c_in, *shape))
        self.bias = nn.Parameter(torch.zeros(c_out))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            size = x.shape[self.axis]
            total = max((-(-size // self.stride) - 1) * self.stride + self.kernel - size, 0)
            pad = [0] * 2 * (x.dim() - self.axis)
            pad[-2:] = [total // 2, total - total // 2]
            x = F.pad(x, pad)
        windows = x.unfold(self.axis, self.kernel, self.stride)  # (..., C, kernel)
        w = self.weight.reshape(self.weight.shape[0], -1)
        y = windows.flatten(-2) @ w.t() + self.bias
        return F.leaky_relu(y, 0.2)


class ChromaStream(nn.Module):
    """(B, tracks, bars, steps, pitches) -> a score from each track's pitch classes per beat:
    a 1x1 convolution reads each beat's (tracks x 12) chroma, a second one each bar's four
    beats, a dense layer the bars together. Its last layer starts at zero, so adding the
    stream to a trained critic leaves that critic's scores as they were."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.beat = cfg.n_steps // 4  # steps per beat: four beats to the bar
        self.beats = nn.Conv1d(cfg.n_tracks * 12, 128, 1)
        self.bars = nn.Conv1d(128, 128, 4, stride=4)
        self.fc = nn.Linear(128 * cfg.n_bars, 256)
        self.out = nn.Linear(256, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, bars, steps, pitches = x.shape
        sounding = (x + 1) / 2  # 1 where a note sounds
        chroma = sounding.reshape(b, t, bars, 4, self.beat, pitches // 12, 12).sum((4, 5))
        h = (chroma / self.beat).permute(0, 1, 4, 2, 3).reshape(b, t * 12, bars * 4)
        h = F.leaky_relu(self.beats(h), 0.2)
        h = F.leaky_relu(self.bars(h), 0.2)
        h = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        return self.out(h)[:, 0]


class ContourStream(nn.Module):
    """(B, tracks, bars, steps, pitches) -> a score from each track's line: per step, how much
    it sounds, its pitch (0 at the lowest row, 1 at the top; the mean of the sounding rows) and
    how much its roll changed since the step before (0 while a pitch is held, 1 at a new pitch,
    0.5 between a note and a rest). Its last layer starts at zero, as the chroma stream's
    does."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        steps = cfg.n_bars * cfg.n_steps
        self.register_buffer("rows", torch.arange(cfg.n_pitches) / (cfg.n_pitches - 1),
                             persistent=False)
        self.convs = nn.Sequential(
            nn.Conv1d(3 * cfg.n_tracks, 64, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(64, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.fc = nn.Linear(128 * (steps // 4), 256)
        self.out = nn.Linear(256, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3 * tracks, time): every track's sounding, then pitch, then change rows."""
        b, t = x.shape[:2]
        roll = ((x + 1) / 2).reshape(b, t, -1, x.shape[-1])  # (B, tracks, time, pitches)
        amount = roll.sum(-1)
        # exact for one sounding pitch, fading to 0 with the sound: no steep slope near silence
        # (the gradient penalty samples mixes of real and generated rolls there)
        pitch = (roll * self.rows).sum(-1) / amount.float().clamp(min=1)
        change = F.pad((roll[:, :, 1:] - roll[:, :, :-1]).abs().sum(-1) / 2, (1, 0))
        return torch.cat([amount.clamp(max=1), pitch, change.clamp(max=1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.features(x))
        h = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        return self.out(h)[:, 0]


def harden(x: torch.Tensor, output: str) -> torch.Tensor:
    """A generated roll made hard, as ``data.decode`` reads it (each step's likeliest pitch, or
    silence; for tanh, each pitch above 0), with the soft roll's gradient (straight-through, as
    BinaryMuseGAN's deterministic binary neurons)."""
    p = (x + 1) / 2
    if output == "softmax":
        silence = 1 - p.sum(-1, keepdim=True)
        hard = F.one_hot(torch.cat([p, silence], -1).argmax(-1), p.shape[-1] + 1)[..., :-1]
    else:
        hard = p > 0.5
    return 2 * (hard.to(p.dtype) + p - p.detach()) - 1


def shifted_products(a: torch.Tensor, b: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """(..., pitches) x2 -> (..., hi - lo + 1): for each interval d from lo to hi,
    sum over p of a[p] * b[p + d]. For one-hot rolls, 1 at the interval from a's note to b's."""
    n = a.shape[-1]
    out = []
    for d in range(lo, hi + 1):
        out.append((a[..., :n - d] * b[..., d:]).sum(-1) if d >= 0
                   else (a[..., -d:] * b[..., :n + d]).sum(-1))
    return torch.stack(out, -1)


MOVES = (-12, 12)  # semitones a voice moves by, each its own channel (further: one more)
SPACING = (-12, 24)  # semitones from a voice down to the one below it (below 0: they cross)
N_MOVES = MOVES[1] - MOVES[0] + 2  # channels per voice: each interval, and "further"
N_SPACING = SPACING[1] - SPACING[0] + 2  # channels per neighbouring pair, likewise


def line_channels(tracks: int) -> int:
    """How many channels ``line_features`` gives (its default spans): sounding per track, each
    track's moves, each neighbouring pair's spacing."""
    return tracks * (1 + N_MOVES) + (tracks - 1) * N_SPACING


def _roll(x: torch.Tensor) -> torch.Tensor:
    """(B, tracks, bars, steps, pitches) in [-1, 1] -> (B, tracks, time, pitches) in [0, 1]."""
    return ((x.float() + 1) / 2).reshape(*x.shape[:2], -1, x.shape[-1])


def _intervals(a: torch.Tensor, b: torch.Tensor, span: tuple[int, int]) -> torch.Tensor:
    """(..., pitches) x2 -> (..., channels): ``shifted_products`` from a's note to b's over
    ``span``, and one channel more where both sound but further apart."""
    products = shifted_products(a, b, *span)
    both = a.sum(-1).clamp(max=1) * b.sum(-1).clamp(max=1)
    further = (both - products.sum(-1)).clamp(min=0)
    return torch.cat([products, further[..., None]], -1)


def _drift(roll: torch.Tensor, lag: int, span: tuple[int, int]) -> torch.Tensor:
    """(B, tracks, time, pitches) -> (B, tracks * channels, time): ``drift_features``."""
    drift = F.pad(_intervals(roll[:, :, :-lag], roll[:, :, lag:], span), (0, 0, lag, 0))
    return drift.permute(0, 1, 3, 2).flatten(1, 2)


def line_features(x: torch.Tensor, moves: tuple[int, int] = MOVES,
                  spacing: tuple[int, int] = SPACING) -> torch.Tensor:
    """(B, tracks, bars, steps, pitches) -> (B, channels, time): per step, whether each track
    sounds; each track's move from the step before, one channel per interval from
    ``moves[0]`` to ``moves[1]`` semitones (0: it holds) and one for any interval further out;
    then each pair of neighbouring tracks' spacing (the upper voice down to the lower, below 0
    where they cross) in the same way. Built from ``shifted_products``, so any key reads alike.
    On one-hot rolls each group of channels is one-hot where both notes sound."""
    roll = _roll(x)
    apart = _intervals(roll[:, 1:], roll[:, :-1], spacing)  # nothing moves into the first step
    return torch.cat([roll.sum(-1).clamp(max=1), _drift(roll, 1, moves),
                      apart.permute(0, 1, 3, 2).flatten(1, 2)], 1)


def drift_features(x: torch.Tensor, lag: int, span: tuple[int, int] = MOVES) -> torch.Tensor:
    """(B, tracks, bars, steps, pitches) -> (B, tracks * channels, time): per step, the
    interval each track has moved since ``lag`` steps before (0 for a held note, and for a line
    that came back), one channel per interval in ``span`` and one for further out, as the moves
    of ``line_features`` are at a lag of one step. Over a beat or half a bar it tells a line
    that goes somewhere from one that turns about one pitch."""
    return _drift(_roll(x), lag, span)


def harmony_features(x: torch.Tensor) -> torch.Tensor:
    """(B, tracks, bars, steps, pitches) -> (B, pairs * 12, time): per step, for every pair of
    tracks (i, j), i < j, in the order of ``itertools.combinations``, the interval class (0-11
    semitones, octaves folded) from track j's pitch class up to track i's; all 0 where either
    rests. The same in every key. Pitches need not be whole octaves: the rows are folded from
    the lowest one."""
    t = x.shape[1]
    roll = _roll(x)
    pad = -roll.shape[-1] % 12
    chroma = F.pad(roll, (0, pad)).unflatten(-1, (-1, 12)).sum(-2)  # (B, tracks, time, 12)
    out = []
    for i in range(t):
        for j in range(i + 1, t):
            out += [(chroma[:, j] * chroma[:, i].roll(-k, -1)).sum(-1) for k in range(12)]
    return torch.stack(out, 1)


class LineCritic(nn.Module):
    """(B, tracks, bars, steps, pitches) -> a logit: do these voices move and stand apart as the
    real ones do?

    Read per step: whether each voice sounds; the interval it moves by from the step before
    (0 while it holds; -12..+12 semitones, or further); and the interval between each pair of
    neighbouring voices (-12..+24 semitones, below 0 where they cross, or further), all as
    ``shifted_products`` of the rolls, so any key reads alike and a note's gradient points to
    its neighbours. A 1-D convolution reads them along time. The book's critic collapses each
    step's pitches before it looks along time, and the gradient penalty holds it to a slope of
    1, so it barely tells a stepwise line from a leaping one; this one is trained as a plain
    classifier (logistic loss, no gradient penalty; an R1 penalty with ``--line-r1``) on
    hardened rolls (``harden``), and its loss joins the generator's (``compose.train
    --line-weight``). It is used in training only."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        steps = cfg.n_bars * cfg.n_steps
        self.convs = nn.Sequential(
            nn.Conv1d(line_channels(cfg.n_tracks), 128, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv1d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(128 * (steps // 4), 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return line_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(self.features(x)).flatten(1))[:, 0]


class Critic(nn.Module):
    """(B, tracks, bars, steps, pitches) -> a score per sample (higher: more like real)."""

    def __init__(self, cfg: MuseGANConfig):
        super().__init__()
        self.cfg = cfg
        bars, steps, pitches = 1, 2, 3  # axes of the channels-last tensor
        self.convs = nn.Sequential(
            AxisConv(cfg.n_tracks, 128, bars, 2), AxisConv(128, 128, bars, cfg.n_bars - 1),
            AxisConv(128, 128, pitches, 12, 12), AxisConv(128, 128, pitches, cfg.n_pitches // 12,
                                                          cfg.n_pitches // 12),
            AxisConv(128, 128, steps, 2, 2), AxisConv(128, 128, steps, 2, 2),
            AxisConv(128, 256, steps, 4, 2, same=True), AxisConv(256, 512, steps, 3, 2, same=True),
        )
        steps_left = -(-(cfg.n_steps // 4) // 4)  # two halvings, then two 'same' halvings
        self.fc = nn.Linear(512 * steps_left, 1024)
        self.out = nn.Linear(1024, 1)
        self.chroma = ChromaStream(cfg) if cfg.critic_chroma else None
        self.contour = ContourStream(cfg) if cfg.critic_contour else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x.permute(0, 2, 3, 4, 1))
        h = F.leaky_relu(self.fc(h.flatten(1)), 0.2)
        score = self.out(h)[:, 0]
        for stream in (self.chroma, self.contour):
            if stream is not None:
                score = score + stream(x)
        return score


@dataclass
class Inputs:
    """The generator's four inputs for a batch: what a user re-rolls one at a time."""

    chords: torch.Tensor  # (B, z)
    style: torch.Tensor  # (B, z)
    melody: torch.Tensor  # (B, tracks, z)
    groove: torch.Tensor  # (B, tracks, z)

    @classmethod
    def sample(cls, cfg: MuseGANConfig, batch: int, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Inputs:
        def z(*shape: int) -> torch.Tensor:
            return torch.randn(batch, *shape, generator=generator).to(device)

        return cls(z(cfg.z_dim), z(cfg.z_dim), z(cfg.n_tracks, cfg.z_dim),
                   z(cfg.n_tracks, cfg.z_dim))

    def __iter__(self):
        return iter((self.chords, self.style, self.melody, self.groove))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
