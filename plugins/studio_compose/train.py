"""``compose.train``: train MuseGAN on the Bach chorales or a folder of your own music.

WGAN-GP as the book trains it: per generator step, ``critic_steps`` critic steps on fresh real
phrases (each moved to a random key; with ``--keys c`` every piece in C major or A minor) and
fresh noise, with a gradient penalty on random mixes of real and generated phrases; Adam (lr
1e-3, betas 0.5, 0.9) for both. Every ``eval_interval`` steps
a sample is shown, the metrics of a batch of generated phrases are compared with the
validation phrases', a checkpoint is written (``--resume`` continues from it) and the model is
registered in the store as it is then. ``--start-from MODEL`` begins with another compose
model's weights (fine-tuning it on your music); ``--critic-chroma`` and ``--critic-contour``
give the critic extra streams (``musegan.py``), which can join a trained critic on
``--resume`` or ``--start-from``; ``--critic-lr`` gives the critic its own learning rate;
``--line-weight`` trains a line critic (``musegan.py:LineCritic``, a logistic classifier of the
voices' moves and spacing) beside the critic and adds its loss to the generator's.

The generator that is measured and saved is an exponential moving average of the trained one's
weights (``--ema``, Yazici et al. 2019): at the book's learning rate the trained generator jumps
from step to step, and its average writes steadier music. Its batch-norm statistics are
measured afresh on a few batches before each evaluation.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.device import use_bf16
from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import (
    base_licence,
    command_line,
    fp16_tensors,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    rng_state,
    save_checkpoint,
    save_tensors,
    starting_point,
    user_models_dir,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.models import ModelCard
    from studio_compose.musegan import Critic, Generator, LineCritic, MuseGANConfig

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATE_DIR = "train_state"
# the flags whose values come from the --start-from model instead (its network's shape)
BASE_FLAGS = ("bars", "steps_per_bar", "pitches", "lowest_pitch", "output")
EVAL_PHRASES = 256  # generated phrases measured at each evaluation


@dataclass
class TrainParams:
    data: Path = param(help="the chorales JSON (Jsb16thSeparated.json) or a folder of MIDI / "
                            "MusicXML files")
    model_id: str = param("compose.mine", help="name of the trained model")
    bars: int = param(2, min=2, max=16, help="bars per training phrase")
    steps_per_bar: int = param(16, min=8, max=96, advanced=True,
                               help="steps per bar (a multiple of 8)")
    pitches: int = param(84, min=12, max=120, advanced=True, help="pitch rows (whole octaves)")
    lowest_pitch: int = param(24, min=0, max=115, advanced=True,
                              help="MIDI pitch of the lowest row")
    output: str = param("tanh", choices=("tanh", "softmax"), advanced=True,
                        help="tanh: each pitch on or off by itself (the book's); softmax: each "
                             "step of a voice one choice among its pitches and silence")
    critic_chroma: bool = param(False, advanced=True,
                                help="give the critic a chroma stream (pitch classes per beat, "
                                     "as in BinaryMuseGAN) beside the book's layers; with "
                                     "--resume it joins a critic trained without one")
    critic_contour: bool = param(False, advanced=True,
                                 help="give the critic a contour stream (each voice's pitch, "
                                      "sounding and note changes per step) beside the book's "
                                      "layers; it can join a trained critic as the chroma "
                                      "stream can")
    line_weight: float = param(0.0, min=0.0, max=100.0, advanced=True,
                               help="weight of the line critic's loss in the generator's (0: "
                                    "none): a classifier of how each voice moves (steps, "
                                    "leaps, holds) and how far apart neighbouring voices are, "
                                    "trained beside the critic (musegan.py:LineCritic)")
    line_r1: float = param(0.0, min=0.0, max=1000.0, advanced=True,
                           help="R1 penalty of the line critic (its squared slope at real "
                                "phrases): higher keeps it from growing certain, and weakens "
                                "its push")
    match_weight: float = param(0.0, min=0.0, max=1000.0, advanced=True,
                                help="weight of line matching in the generator's loss (0: "
                                     "none): how often each voice holds, steps or leaps by "
                                     "each interval (from one step, a beat and half a bar "
                                     "before), how far apart neighbouring voices stand and "
                                     "which intervals every two voices sound together, over "
                                     "a batch, pulled towards the training music's (feature "
                                     "matching)")
    crossing_weight: float = param(0.0, min=0.0, max=1000.0, advanced=True,
                                   help="weight of crossing matching (0: none): how often each "
                                        "two neighbouring voices cross, over a batch, pulled "
                                        "towards the training music's in relative terms (the "
                                        "squared log of their ratio), since line matching "
                                        "barely weighs so rare an event")
    motion_weight: float = param(0.0, min=0.0, max=1000.0, advanced=True,
                                 help="weight of motion matching (0: none): how often each "
                                      "voice moves by step (1 or 2 semitones) and how often it "
                                      "leaps, over a batch, pulled towards the training "
                                      "music's in relative terms, as crossings are; leaps are "
                                      "rare enough (3-8 % of the chorales' steps) for line "
                                      "matching to let a voice leap too often")
    keys: str = param("all", choices=("all", "c"), advanced=True,
                      help="all: each phrase moved at random by -6..+5 semitones, so the model "
                           "writes in every key; c: each piece moved to C major or A minor (its "
                           "key estimated), so the model learns one key (compose.generate --key "
                           "moves its music to any other)")
    batch_size: int = param(64, min=2, max=4096, advanced=True)
    steps: int = param(2000, min=1, max=10_000_000, help="generator steps in all")
    critic_steps: int = param(5, min=1, max=100, advanced=True,
                              help="critic steps per generator step")
    gp_weight: float = param(10.0, min=0.0, max=1000.0, advanced=True,
                             help="gradient-penalty weight")
    lr: float = param(1e-3, min=0.0, max=1.0, advanced=True,
                      help="Adam learning rate (the generator's, and the critic's unless "
                           "--critic-lr; also when resuming)")
    critic_lr: float | None = param(None, min=0.0, max=1.0, advanced=True,
                                    help="the critic's learning rate (none: --lr); a faster "
                                         "critic than generator is the two time-scale rule "
                                         "(TTUR, Heusel et al. 2017)")
    lr_schedule: str = param("constant", choices=("constant", "linear"), advanced=True,
                             help="constant (the book's), or linear: from --lr (and "
                                  "--critic-lr) at step 0 down to 0 at the last step (as "
                                  "Gulrajani et al. trained WGAN-GP)")
    ema: float = param(0.999, min=0.0, max=0.99999, advanced=True,
                       help="decay per step of the averaged generator that is saved "
                            "(0: save the trained generator as it is)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast runs the products in bfloat16 (auto: where the "
                                "device computes them natively: CUDA, or CPUs with AVX512-BF16)")
    eval_interval: int = param(100, min=1, max=1_000_000, advanced=True,
                               help="steps between samples, metrics and checkpoints")
    resume: bool = param(False, help="continue from this model's checkpoint")
    start_from: str | None = param(None, model="compose",
                            help="begin with this model's weights (e.g. compose.chorales) and "
                                 "train them on your music (fine-tuning); the network is that "
                                 "model's, whatever its shape flags say")
    licence: str = param("", help="licence of the training music, for the model card")
    training_data: str = param("", help="what the music is, for the model card")


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                     g: torch.Generator) -> torch.Tensor:
    """(|grad critic(mix)| - 1)^2 on random mixes of real and fake phrases (Gulrajani 2017)."""
    import torch

    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=g).to(real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.float().flatten(1).norm(dim=1) - 1) ** 2).mean()


def line_loss(line: LineCritic, real: torch.Tensor, fake: torch.Tensor, r1: float = 0.0
              ) -> torch.Tensor:
    """The line critic's logistic loss, plus ``r1 / 2`` times its squared slope at real phrases
    (R1, Mescheder et al. 2018), which keeps the classifier from growing certain."""
    import torch
    import torch.nn.functional as F

    loss = F.softplus(line(fake)).float().mean()
    if r1 <= 0:
        return loss + F.softplus(-line(real)).float().mean()
    real = real.detach().requires_grad_(True)
    score = line(real)
    (grad,) = torch.autograd.grad(score.sum(), real, create_graph=True)
    slope = grad.float().pow(2).flatten(1).sum(1).mean()
    return loss + F.softplus(-score).float().mean() + r1 / 2 * slope


def match_features(x: torch.Tensor) -> torch.Tensor:
    """(B, channels, time): what line matching compares: each voice's moves and neighbouring
    voices' spacing (``line_features``), where each voice has gone a beat and half a bar later
    (``drift_features``), then every pair's interval classes (``harmony_features``)."""
    import torch

    from studio_compose.musegan import drift_features, harmony_features, line_features

    steps = x.shape[3]  # per bar: four beats
    lines = line_features(x)
    return torch.cat([lines, line_summary(lines, x.shape[1]),
                      drift_features(x, max(1, steps // 4)),
                      drift_features(x, max(1, steps // 2)), harmony_features(x)], 1)


def line_summary(lines: torch.Tensor, tracks: int) -> torch.Tensor:
    """(B, channels, time) ``line_features`` (its default spans, ``musegan.MOVES`` and
    ``SPACING``) -> (B, 5 * tracks - 1, time): per track, whether it holds, moves by step (1 or
    2 semitones) or leaps, and whether a note begins that lasts under three steps (one that
    ``metrics.qualified_notes`` does not count as qualified); per neighbouring pair,
    whether the voices cross. Each sums channels too rare for matching to weigh much one by
    one: a voice can cross by any of twelve intervals."""
    import torch
    import torch.nn.functional as F

    from studio_compose.musegan import MOVES, N_MOVES, N_SPACING, SPACING

    moves = lines[:, tracks:tracks * (1 + N_MOVES)].unflatten(1, (tracks, N_MOVES))
    spacing = lines[:, tracks * (1 + N_MOVES):].unflatten(1, (tracks - 1, N_SPACING))
    held = -MOVES[0]  # the channel of a move by 0 semitones
    hold = moves[:, :, held]
    step = moves[:, :, [held - 2, held - 1, held + 1, held + 2]].sum(2)
    leap = moves.sum(2) - hold - step
    sounding = lines[:, :tracks]
    fresh = sounding - hold  # a note begins (or the first step)
    then = F.pad(hold[:, :, 1:], (0, 1))  # the note goes on at the next step (the phrase's
    after = F.pad(hold[:, :, 2:], (0, 2))  # end ends it, as metrics.py counts it), and after
    short = fresh * (1 - then * after)  # a note begins that lasts under three steps
    crossed = spacing[:, :, :-SPACING[0]].sum(2)  # below 0: the upper voice is lower
    return torch.cat([hold, step, leap, short, crossed], 1)


def line_statistics(phrases: np.ndarray, cfg: MuseGANConfig, device: str,
                    chunk: int = 512) -> torch.Tensor:
    """(channels,): ``match_features`` averaged over every phrase and step of ``phrases``
    (the same in every key, so one pass over the untransposed phrases serves)."""
    from studio_compose.data import encode

    total = None
    for start in range(0, len(phrases), chunk):
        x = encode(phrases[start:start + chunk], cfg).to(device)
        part = match_features(x).sum((0, 2))
        total = part if total is None else total + part
    return total / (len(phrases) * cfg.n_bars * cfg.n_steps)


RATES = ("hold", "step", "leap", "short", "crossed")  # line_summary's rows, in order


def match_loss(fake: torch.Tensor, target: torch.Tensor, output: str,
               rates: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Feature matching (Salimans et al. 2016) on the lines: the chi-square distance between
    the batch's ``match_features`` (on rolls hardened as ``decode`` reads them, with the soft
    roll's gradient) and the training music's ``target``. A rare interval the generator
    overuses costs as much as a common one it misses.

    Returns it and, for each of ``rates`` (rows of ``line_summary``, named in ``RATES``), the
    sum over its voices (or pairs) of the squared log-ratio of the batch's rate to the music's.
    Voices cross at about one step in a hundred and leap at three to eight, too rarely for the
    chi-square to weigh (a third too few crossings cost a thousandth of the distance); the
    log-ratio weighs a third too few as much as a rate of any size."""
    import torch

    from studio_compose.musegan import harden

    seen = match_features(harden(fake, output)).mean((0, 2))
    distance = ((seen - target) ** 2 / (seen.detach() + target + 1e-3)).sum()
    where = summary_channels(fake.shape[1], len(target))
    ratios = {}
    for name in rates:
        rows = where[name]
        ratios[name] = torch.log((seen[rows] + 1e-4) / (target[rows] + 1e-4)).pow(2).sum()
    return distance, ratios


def summary_channels(tracks: int, channels: int) -> dict[str, slice]:
    """Where ``match_features`` (of ``channels`` in all) holds each row of ``line_summary``
    (named in ``RATES``), which follows ``line_features``: one channel per voice, and one
    per neighbouring pair for the crossings."""
    from studio_compose.musegan import line_channels

    start = line_channels(tracks)
    assert start + 5 * tracks - 1 <= channels
    out = {}
    for name in RATES:
        size = tracks - 1 if name == "crossed" else tracks
        out[name] = slice(start, start + size)
        start += size
    return out


def update_average(average: Generator, gen: Generator, step: int, decay: float) -> None:
    """Moves ``average``'s weights towards ``gen``'s. The decay ramps up over the first steps
    ((1 + step) / (10 + step)) so that early weights do not linger."""
    import torch

    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for a, w in zip(average.parameters(), gen.parameters(), strict=True):
            a.lerp_(w, 1.0 - d)


def refresh_batch_norm(gen: Generator, cfg: MuseGANConfig, seed: int, device: str,
                       batches: int = 8, batch: int = 256) -> None:
    """Sets the batch-norm running statistics to ``gen``'s own over fresh noise (the averaged
    weights have no statistics of their own)."""
    import torch

    from studio_compose.musegan import Inputs

    norms = [m for m in gen.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    g = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain mean over the batches below
    gen.train()
    with torch.no_grad():
        for _ in range(batches):
            gen(*Inputs.sample(cfg, batch, g, device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    gen.eval()


STREAMS = ("chroma", "contour")  # the critic's optional streams: config critic_<name>


def widen_optimizer(tensors: dict[str, torch.Tensor], groups: list, critic: Critic,
                    added: tuple[str, ...]) -> tuple[dict[str, torch.Tensor], list]:
    """The critic optimizer's saved state (one param group) mapped onto a critic that gained
    the streams in ``added``: each known parameter keeps its moments, the new ones start
    afresh wherever they sit in the parameter order."""
    if len(groups) != 1:
        raise ValueError(f"the checkpoint's critic optimizer has {len(groups)} parameter groups, "
                         "not one")
    names = [name for name, _ in critic.named_parameters()]
    kept = [i for i, name in enumerate(names) if not name.startswith(tuple(f"{a}." for a in
                                                                           added))]
    moved = {}
    for key, value in tensors.items():
        pid, rest = key.split(".", 1)
        moved[f"{kept[int(pid)]}.{rest}"] = value
    return moved, [{**groups[0], "params": list(range(len(names)))}]


def model_tensors(gen: Generator, critic: Critic) -> dict[str, torch.Tensor]:
    return {**{f"generator.{k}": v for k, v in gen.state_dict().items()},
            **{f"critic.{k}": v for k, v in critic.state_dict().items()}}


def write_model_folder(folder: Path, gen: Generator, critic: Critic, cfg: MuseGANConfig,
                       keys: str = "all", **card_fields: Any) -> ModelCard:
    """``model.safetensors`` (fp16; ``generator.*`` and ``critic.*``) and ``card.json``. The
    card's config is the network's, plus ``keys`` ("c": the model learned C major and A minor
    only, and ``compose.generate`` moves each piece to a key of its own)."""
    from studio.models import ModelCard, ModelFile, card_path, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(fp16_tensors(model_tensors(gen, critic)), folder / "model.safetensors",
                 metadata={"format": "pt"})
    f = folder / "model.safetensors"
    files = [ModelFile(f.name, sha256_file(f), f.stat().st_size)]
    card = ModelCard(id=folder.name, capability="compose", architecture="musegan",
                     config={**cfg.to_dict(), "keys": keys}, files=files,
                     folder=folder, **{"title": folder.name, "licence": "unknown",
                                       "training_data": "unknown", **card_fields})
    card.save(card_path(folder))
    return card


def real_batch(phrases: np.ndarray, cfg: MuseGANConfig, batch: int, rng: np.random.Generator,
               device: str, move: bool = True) -> torch.Tensor:
    """A batch of training phrases, each moved to a random key (``move``) or as it is."""
    from studio_compose.data import encode, transpose

    pick = phrases[rng.integers(len(phrases), size=batch)]
    if move:
        pick = transpose(pick, rng, cfg.lowest_pitch, cfg.n_pitches)
    return encode(pick, cfg).to(device)


def compose_train(p: TrainParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from studio_compose import metrics
    from studio_compose.data import decode, in_one_key, phrases, read_corpus
    from studio_compose.loading import load_networks
    from studio_compose.musegan import (
        Critic,
        Generator,
        Inputs,
        LineCritic,
        MuseGANConfig,
        harden,
        parameter_count,
    )
    from studio_compose.score import Score

    if not ID_RE.match(p.model_id):
        raise ValueError(f"--model-id {p.model_id!r}: use letters, digits, '.', '_' or '-'")
    device = ctx.device
    folder = user_models_dir(ctx) / p.model_id
    state_dir = folder / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no checkpoint for {p.model_id}; starting afresh", "warning")
    start = starting_point(ctx, p.start_from, saved, p.model_id, "compose", "musegan")
    start_from = start.name
    if start.warning:
        yield Log(start.warning, "warning")
    if start.card is not None:
        config = MuseGANConfig.from_dict(start.card.config).to_dict()
    else:
        config = saved["config"] if saved is not None else None
    keys = saved.get("keys", p.keys) if saved is not None else p.keys
    if saved is not None and keys != p.keys:
        yield Log(f"resuming {p.model_id}: it trains with --keys {keys}, as it began", "warning")
    added: tuple[str, ...] = ()  # critic streams that join a trained critic
    if config is not None:
        cfg = MuseGANConfig(**config)
        added = tuple(name for name in STREAMS if getattr(p, f"critic_{name}")
                      and not getattr(cfg, f"critic_{name}"))
        cfg = replace(cfg, **{f"critic_{name}": True for name in added})
    else:
        cfg = MuseGANConfig(n_bars=p.bars, n_steps=p.steps_per_bar, n_pitches=p.pitches,
                            lowest_pitch=p.lowest_pitch, output=p.output,
                            critic_chroma=p.critic_chroma, critic_contour=p.critic_contour)

    yield Progress(None, "reading the music")
    corpus = read_corpus(p.data, cfg.n_steps)
    for line in corpus.skipped:
        yield Log(f"skipped {line}", "warning")
    length = cfg.n_bars * cfg.n_steps
    pieces = corpus.train if keys == "all" else in_one_key(corpus.train, cfg.lowest_pitch,
                                                            cfg.n_pitches)
    train = phrases(pieces, length, cfg.n_steps)
    valid = phrases(corpus.valid or corpus.train, length, length)
    yield Log(f"{corpus.description}; {len(train):,} training phrases of {cfg.n_bars} bars")

    gen, critic = Generator(cfg).to(device), Critic(cfg).to(device)
    betas = (0.5, 0.9)
    opt_g = torch.optim.Adam(gen.parameters(), lr=p.lr, betas=betas)
    opt_c = torch.optim.Adam(critic.parameters(), lr=p.lr, betas=betas)
    line = LineCritic(cfg).to(device) if p.line_weight > 0 else None
    opt_l = None if line is None else torch.optim.Adam(line.parameters(), lr=p.lr, betas=betas)
    matching = p.match_weight > 0 or p.crossing_weight > 0 or p.motion_weight > 0
    relative = {name: weight for name, weight in (("crossed", p.crossing_weight),
                                                  ("step", p.motion_weight),
                                                  ("leap", p.motion_weight)) if weight > 0}
    target = line_statistics(train, cfg, device) if matching else None
    g = torch.Generator().manual_seed(ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    step, seconds, seed, history = 0, 0.0, ctx.seed, []
    if start.weights is not None:
        load_networks(gen, critic, start.weights, added, f"--start-from {start_from}")
        start.weights = None  # loaded: no second copy for the whole run
        yield Log(f"starting from the weights of {start_from}")
    if saved is not None:
        load_networks(gen, critic, saved["model"], added, "the checkpoint")
        state_c, groups_c = saved["opt_c"], saved["groups_c"]
        if added:
            state_c, groups_c = widen_optimizer(state_c, groups_c, critic, added)
        restore_optimizer(opt_g, saved["opt_g"], saved["groups_g"])
        restore_optimizer(opt_c, state_c, groups_c)
        restore_rng(g, saved["rng"])
        rng.bit_generator.state = saved["numpy_rng"]
        step, seconds, seed = saved["step"], saved["train_seconds"], saved["seed"]
        history = saved.get("history", [])
        if line is not None and "line" in saved:
            line.load_state_dict(saved["line"])
            restore_optimizer(opt_l, saved["opt_l"], saved["groups_l"])
        elif line is not None:
            yield Log("the line critic joins this run; it starts afresh")
        yield Log(f"resuming {p.model_id} at step {step}")
    for name in added:
        yield Log(f"the critic gains a {name} stream; its last layer starts at zero, so the "
                  "critic scores as before until it learns")
    average = copy.deepcopy(gen).requires_grad_(False) if p.ema > 0 else None
    if average is not None and saved is not None and "average" in saved:
        average.load_state_dict(saved["average"])
    elif average is not None and saved is not None:
        yield Log("the checkpoint has no averaged generator; it starts from the trained one")
    shipped = gen if average is None else average  # the generator measured and saved
    yield Log(f"generator {parameter_count(gen) / 1e6:.2f}M parameters, critic "
              f"{parameter_count(critic) / 1e6:.2f}M, on {device}")

    real_metrics = metrics.evaluate(list(valid), cfg.n_steps)
    # the network as it is: a resumed run takes its shape from the checkpoint, not the flags
    command = command_line(TRAIN, replace(p, bars=cfg.n_bars, steps_per_bar=cfg.n_steps,
                                          pitches=cfg.n_pitches, lowest_pitch=cfg.lowest_pitch,
                                          output=cfg.output,
                                          critic_chroma=cfg.critic_chroma,
                                          critic_contour=cfg.critic_contour,
                                          start_from=start_from or None, keys=keys), seed)
    names = str(p.data)
    licence = p.licence or f"the licence of the training music applies ({names})"
    licence += base_licence(ctx, start_from)
    training_data = "; ".join(filter(None, (p.training_data or corpus.description,
                                            corpus.skipped_note())))

    def save_all(quality: dict[str, Any]) -> ModelCard:
        og, groups_g = optimizer_tensors(opt_g)
        oc, groups_c = optimizer_tensors(opt_c)
        parts = {"model": model_tensors(gen, critic), "opt_g": og, "opt_c": oc}
        extra: dict[str, Any] = {}
        if average is not None:
            parts["average"] = average.state_dict()
        if line is not None:
            parts["line"] = line.state_dict()
            parts["opt_l"], extra["groups_l"] = optimizer_tensors(opt_l)
        save_checkpoint(state_dir, step, parts,
                        {"config": cfg.to_dict(), "seed": seed, "train_seconds": seconds,
                         "groups_g": groups_g, "groups_c": groups_c, "rng": rng_state(g),
                         "numpy_rng": rng.bit_generator.state, "history": history,
                         "start_from": start_from, "keys": keys, **extra})
        desc = (f"MuseGAN ({parameter_count(gen) / 1e6:.1f}M-parameter generator) making "
                f"{cfg.n_bars}-bar phrases of {cfg.n_tracks} voices, trained with compose.train "
                f"for {step} generator steps ({seconds / 60:.0f} min on {device}).")
        if start_from:
            desc += f" It began with the weights of {start_from}."
        if average is not None:
            desc += f" Its weights are the moving average (decay {p.ema}) of the trained ones."
        return write_model_folder(folder, shipped, critic, cfg, keys, title=p.model_id,
                                  licence=licence,
                                  training_data=training_data, command=command,
                                  quality=quality, description=desc)

    bf16 = use_bf16(p.precision, device)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    if bf16:
        yield Log("mixed precision: bfloat16 products, float32 weights")
    gen.train()
    critic.train()
    started = time.perf_counter()
    c_losses: list[float] = []
    g_losses: list[float] = []
    l_losses: list[float] = []
    m_losses: list[float] = []  # the lines' distance from the music's (--match-weight)
    x_losses: list[float] = []  # the crossings' (--crossing-weight), unweighted as m_losses
    v_losses: list[float] = []  # the steps' and leaps' (--motion-weight), unweighted
    critic_lr = p.lr if p.critic_lr is None else p.critic_lr
    judges = [*critic.parameters(), *([] if line is None else line.parameters())]
    while step < p.steps:
        # from the schedule at every step, so that a resumed run takes the --lr it is given
        scale = 1 - step / p.steps if p.lr_schedule == "linear" else 1.0
        for opt, lr in ((opt_g, p.lr), (opt_c, critic_lr), (opt_l, critic_lr)):
            for group in [] if opt is None else opt.param_groups:
                group["lr"] = lr * scale
        for _ in range(p.critic_steps):
            real = real_batch(train, cfg, p.batch_size, rng, device, move=keys == "all")
            with torch.no_grad(), autocast:
                fake = gen(*Inputs.sample(cfg, p.batch_size, g, device)).float()
            with autocast:
                wasserstein = critic(fake).float().mean() - critic(real).float().mean()
                penalty = gradient_penalty(critic, real, fake, g)
            loss_c = wasserstein + p.gp_weight * penalty
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            opt_c.step()
            c_losses.append(loss_c.item())
            if line is not None:  # a logistic classifier of real and (hardened) generated lines
                with autocast:
                    loss_l = line_loss(line, real, harden(fake, cfg.output), p.line_r1)
                opt_l.zero_grad(set_to_none=True)
                loss_l.backward()
                opt_l.step()
                l_losses.append(loss_l.item())
        for q in judges:  # the generator's step leaves the critics as they are
            q.requires_grad_(False)
        with autocast:
            fake = gen(*Inputs.sample(cfg, p.batch_size, g, device))
            loss_g = -critic(fake).float().mean()
            if line is not None:
                loss_g = loss_g + p.line_weight * F.softplus(
                    -line(harden(fake, cfg.output))).float().mean()
            if target is not None:
                mismatch, ratios = match_loss(fake, target, cfg.output, tuple(relative))
                loss_g = loss_g + p.match_weight * mismatch + sum(
                    relative[name] * ratio for name, ratio in ratios.items())
                m_losses.append(mismatch.item())
                if "crossed" in ratios:
                    x_losses.append(ratios["crossed"].item())
                if "step" in ratios:
                    v_losses.append(ratios["step"].item() + ratios["leap"].item())
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if average is not None:
            update_average(average, gen, step, p.ema)
        for q in judges:
            q.requires_grad_(True)
        g_losses.append(loss_g.item())
        step += 1
        yield Progress(step / p.steps, f"step {step}/{p.steps} critic {c_losses[-1]:.2f} "
                                       f"generator {g_losses[-1]:.2f}")
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            if average is not None:
                refresh_batch_norm(average, cfg, seed + 1, device)
            shipped.eval()
            with torch.no_grad():
                ev = torch.Generator().manual_seed(seed)  # the same noise at every evaluation
                grids = decode(shipped(*Inputs.sample(cfg, EVAL_PHRASES, ev, device)), cfg)
            gen.train()
            fake_metrics = metrics.evaluate(list(grids), cfg.n_steps)
            point = {"step": step, "critic": float(np.mean(c_losses)),
                     "generator": float(np.mean(g_losses)), "minutes": round(seconds / 60, 1),
                     **{k: round(fake_metrics[k], 3) for k in metrics.METRICS}}
            if l_losses:
                point["line"] = float(np.mean(l_losses))
            if m_losses:
                point["match"] = float(np.mean(m_losses))
            if x_losses:
                point["crossing"] = float(np.mean(x_losses))
            if v_losses:
                point["motion"] = float(np.mean(v_losses))
            history.append(point)
            c_losses.clear()
            g_losses.clear()
            l_losses.clear()
            m_losses.clear()
            x_losses.clear()
            v_losses.clear()
            quality = {"steps": step, "train_minutes": round(seconds / 60, 1),
                       "metrics_real": {k: round(real_metrics[k], 3) for k in metrics.METRICS},
                       "metrics_model": {k: round(fake_metrics[k], 3) for k in metrics.METRICS}}
            save_all(quality)
            yield Log(f"step {step}: critic {point['critic']:.3f} generator "
                      f"{point['generator']:.3f}"
                      + (f" line critic {point['line']:.3f}" if "line" in point else "")
                      + (f" line mismatch {point['match']:.3f}" if "match" in point else "")
                      + (f" crossing mismatch {point['crossing']:.3f}"
                         if "crossing" in point else "")
                      + (f" motion mismatch {point['motion']:.3f}" if "motion" in point else "")
                      + "; " + ", ".join(
                          f"{k} {fake_metrics[k]:.2f} (real {real_metrics[k]:.2f})"
                          for k in metrics.METRICS))
            sample = Score.from_grid(np.concatenate(list(grids[:4])),
                                     steps_per_bar=cfg.n_steps)
            yield Preview({**point, "score": sample}, label=f"step {step}")
            started = time.perf_counter()
    yield Log(f"{p.model_id} saved to {folder}")


TRAIN = Task("compose.train", "Train MuseGAN", TrainParams, compose_train,
             "Trains MuseGAN (WGAN-GP) on the chorales or your own MIDI / MusicXML.",
             grad=True)
