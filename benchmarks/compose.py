"""Speed of Compose: bars generated per second, a WGAN-GP training step, and WAV rendering
(times real time), each beside a baseline measured in the same run.

The baseline for the network is the same MuseGAN written with torch's own layers (Conv3d in the
critic, ConvTranspose2d in the bar generators), loaded with the same weights: the studio's
layers are those convolutions rewritten as matrix products on channels-last tensors. The
training step is also timed with bfloat16 autocast, as ``compose.train`` runs it where the CPU
has AVX512-BF16, with the line critic (``--line-weight``) trained beside the critic, and with
line matching (``--match-weight``, ``--crossing-weight``, ``--motion-weight``) in the
generator's loss. The baseline for rendering is real time (1.0x): the built-in synthesiser, and
FluidSynth where it is installed. Medians over ``--runs``. Prints JSON.

    python benchmarks/compose.py [--runs 5] [--model compose.chorales]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio_compose.data import decode
from studio_compose.musegan import (
    AxisConv,
    Critic,
    Generator,
    Inputs,
    LineCritic,
    MuseGANConfig,
    Upsample,
    harden,
)
from studio_compose.score import Score
from studio_compose.synth import find_fluidsynth, find_soundfont, render_wav
from studio_compose.train import gradient_penalty, line_loss, match_features, match_loss


class TorchUpsample(nn.Module):
    """The baseline: ``Upsample`` as torch's ConvTranspose2d (channels first)."""

    def __init__(self, up: Upsample):
        super().__init__()
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, S, P, C) in and out
        stride = (self.up.factor, 1) if self.up.axis == 1 else (1, self.up.factor)
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), self.up.weight, self.up.bias,
                               stride=stride)
        if self.up.norm is not None:
            y = F.relu(F.batch_norm(y, self.up.norm.running_mean, self.up.norm.running_var,
                                    self.up.norm.weight, self.up.norm.bias, self.training))
        return y.permute(0, 2, 3, 1)


class TorchAxisConv(nn.Module):
    """The baseline: ``AxisConv`` as torch's Conv3d (channels first)."""

    def __init__(self, conv: AxisConv):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, bars, S, P, C) in and out
        c = self.conv
        xt = x.permute(0, 4, 1, 2, 3)
        if c.same:
            size = xt.shape[c.axis + 1]
            total = max((-(-size // c.stride) - 1) * c.stride + c.kernel - size, 0)
            pad = [0] * 2 * (4 - c.axis)
            pad[-2:] = [total // 2, total - total // 2]
            xt = F.pad(xt, pad)
        stride = [1, 1, 1]
        stride[c.axis - 1] = c.stride
        return F.leaky_relu(F.conv3d(xt, c.weight, c.bias, stride=stride), 0.2
                            ).permute(0, 2, 3, 4, 1)


def torch_layers(gen: Generator, critic: Critic) -> None:
    """Swap the studio's layers for the torch-layer baseline, in place (same weights)."""
    for bar_gen in gen.bar_generators:
        bar_gen.convs = nn.Sequential(*(TorchUpsample(m) for m in bar_gen.convs))
    critic.convs = nn.Sequential(*(TorchAxisConv(m) for m in critic.convs))


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def network_figures(baseline: bool, runs: int, output: str, bf16: bool = False,
                    line: bool = False, match: bool = False) -> dict[str, float]:
    cfg = MuseGANConfig(output=output)
    torch.manual_seed(0)
    gen, critic = Generator(cfg), Critic(cfg)
    lines = LineCritic(cfg) if line else None
    if baseline:
        torch_layers(gen, critic)
    gen.eval()
    g = torch.Generator().manual_seed(0)
    one = Inputs.sample(cfg, 4, g)  # an 8-bar piece: four 2-bar phrases
    batch = Inputs.sample(cfg, 64, g)
    with torch.inference_mode():
        piece = median_seconds(lambda: decode(gen(*one), cfg), runs)
        many = median_seconds(lambda: decode(gen(*batch), cfg), runs)

    gen.train()
    real = torch.rand(64, 4, 2, 16, 84) * 2 - 1
    target = match_features(real).mean((0, 2)) if match else None

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def critic_step() -> None:
        with torch.no_grad(), autocast:
            fake = gen(*Inputs.sample(cfg, 64, g)).float()
        with autocast:
            loss = critic(fake).float().mean() - critic(real).float().mean() + 10 * (
                gradient_penalty(critic, real, fake, g))
            if lines is not None:
                loss = loss + line_loss(lines, real, harden(fake, output), r1=1.0)
        loss.backward()

    def generator_step() -> None:
        with autocast:
            fake = gen(*Inputs.sample(cfg, 64, g))
            loss = -critic(fake).float().mean()
            if lines is not None:
                loss = loss + F.softplus(-lines(harden(fake, output))).float().mean()
            if target is not None:
                distance, ratios = match_loss(fake, target, output, ("crossed", "step", "leap"))
                loss = loss + distance + sum(ratios.values())
        loss.backward()

    step = median_seconds(lambda: [critic_step() for _ in range(5)] + [generator_step()],
                          max(1, runs // 2))
    return {"bars_per_s_8_bar_piece": round(8 / piece, 1),
            "bars_per_s_batch_64_phrases": round(64 * cfg.n_bars / many, 1),
            "train_step_s (5 critic + 1 generator, batch 64)": round(step, 2)}


def render_figures(runs: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    out = {}
    for bars in (8, 64):
        steps = bars * 16
        grid = np.stack([np.repeat(rng.integers(lo, lo + 12, steps // 2), 2)
                         for lo in (67, 60, 53, 43)], axis=1)
        score = Score.from_grid(grid, tempo=90)
        seconds = median_seconds(lambda s=score: render_wav(s, engine="builtin"), runs)
        out[f"wav_x_real_time_{bars}_bars"] = round(score.duration / seconds, 1)
        if find_fluidsynth() and find_soundfont():  # the other engine, where it is installed
            seconds = median_seconds(lambda s=score: render_wav(s, engine="fluidsynth"), runs)
            out[f"wav_x_real_time_{bars}_bars_fluidsynth"] = round(score.duration / seconds, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--output", choices=("softmax", "tanh"), default="softmax",
                    help="the generator's output kind (the starter model's: softmax)")
    args = ap.parse_args()
    studio = network_figures(False, args.runs, args.output)
    baseline = network_figures(True, args.runs, args.output)
    step = "train_step_s (5 critic + 1 generator, batch 64)"
    bf16 = network_figures(False, args.runs, args.output, bf16=True)[step]
    with_line = network_figures(False, args.runs, args.output, bf16=True, line=True)[step]
    with_match = network_figures(False, args.runs, args.output, bf16=True, match=True)[step]
    report = {
        "threads": torch.get_num_threads(),
        "output": args.output,
        "studio_layers": studio,
        "torch_layers_baseline": baseline,
        "speedup": {k: round(studio[k] / baseline[k], 2) if "per_s" in k
                    else round(baseline[k] / studio[k], 2) for k in studio},
        "train_step_s with bf16 autocast (what compose.train uses on this CPU)": bf16,
        "bf16 over fp32 studio layers": round(studio[step] / bf16, 2),
        "train_step_s with bf16 and the line critic (--line-weight)": with_line,
        "line critic's cost (times the bf16 step)": round(with_line / bf16, 2),
        "train_step_s with bf16 and line and rate matching": with_match,
        "line matching's cost (times the bf16 step)": round(with_match / bf16, 2),
        "render (built-in synth, and FluidSynth where installed; baseline = real time)":
            render_figures(args.runs),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
