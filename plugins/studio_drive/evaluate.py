"""``drive.evaluate``: a drive model's agent on N CarRacing tracks; the mean and standard
deviation of its score, as the paper reports them (100 random tracks), and every track's score.

The tracks' seeds derive from the run's ``--seed`` and lie in [2**31, 2**32), apart from the
training tracks (drive.train-controller draws those from [0, 2**31)), so that an evaluation
never drives a track the agent trained on, and a different ``--seed`` gives other tracks.
``--tracks`` names seeds instead. The stock game with the stock renderer is the default, so the
headline score is the game's own; ``--renderer fast`` is the flag. Episodes run in parallel on
the executor (worker processes, or Ray with ``--ray``), in lockstep within each worker.

Outputs: a CSV with one row per track (``seed``, ``score``, ``steps``) and a text summary
beside the published scores.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Progress, Task, param

SEED_BASE = 2**31  # evaluation tracks: [2**31, 2**32); training tracks: [0, 2**31)
SEED_LIMIT = 2**32  # what numpy's legacy seeding and most tools take
PUBLISHED = (  # CarRacing, mean +- std over 100 random tracks
    ("World Models (Ha and Schmidhuber 2018)", 906, 21),
    ("World Models, V only", 632, 251),
    ("A3C (continuous)", 591, 45),
    ("DQN", 343, 18),
    ("attention agent (Tang et al. 2020)", 914, 15),
)


@dataclass
class EvaluateParams:
    model: str = param(model="drive", help="the drive model to evaluate (with V, M and C)")
    episodes: int = param(100, min=1, max=100_000, help="tracks to drive (the paper: 100)")
    renderer: str = param("stock", choices=("stock", "fast"),
                          help="stock: the game's own pygame renderer (the headline score); "
                               "fast: the studio's renderer")
    tracks: str = param("", advanced=True,
                        help="track seeds to drive instead, comma-separated (0 to 2**32 - 1); "
                             "--episodes is then their number")
    max_steps: int = param(1000, min=1, max=1000, advanced=True,
                           help="steps per episode at most (the game ends at 1000)")
    ray: str | None = param(None, help="drive on Ray: auto, local, HOST:PORT or "
                                       "ray://HOST:PORT; none: worker processes here")
    workers: int = param(0, min=0, max=100_000, advanced=True,
                         help="worker processes (or Ray actors); 0: one per core (or CPU)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="the VAE's products (auto: bf16 where the CPU has it)")


def evaluation_tracks(seed: int, n: int) -> np.ndarray:
    """``n`` different track seeds in [2**31, 2**32) from the run's seed."""
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed {seed}: a track seed must come from a seed from 0 to "
                        "2**63 - 1")
    return SEED_BASE + np.random.default_rng(seed).choice(SEED_LIMIT - SEED_BASE, n,
                                                          replace=False)


def parse_tracks(text: str) -> np.ndarray:
    """``"3, 17, 4000000000"`` -> the seeds, each checked to lie in [0, 2**32)."""
    seeds = []
    for word in text.replace(",", " ").split():
        try:
            s = int(word)
        except ValueError:
            raise UserError(f"--tracks: {word!r} is not a whole number") from None
        if not 0 <= s < SEED_LIMIT:
            raise UserError(f"--tracks: track seed {s} is out of range (0 to {SEED_LIMIT - 1})")
        seeds.append(s)
    if not seeds:
        raise UserError("--tracks: no track seeds given")
    return np.array(seeds, np.int64)


def csv_bytes(seeds: np.ndarray, scores: np.ndarray, steps: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write("seed,score,steps\n")
    for s, score, n in zip(seeds, scores, steps, strict=True):
        out.write(f"{int(s)},{score:.2f},{int(n)}\n")
    return out.getvalue().encode("utf-8")


def summary(model: str, renderer: str, seed: int | None, scores: np.ndarray,
            steps: np.ndarray, seconds: float) -> str:
    where = f"seeds from --seed {seed}" if seed is not None else "the seeds given"
    lines = [
        f"{model} on {len(scores)} CarRacing tracks ({renderer} renderer, {where})",
        f"score {scores.mean():.1f} +- {scores.std():.1f} (mean +- standard deviation); "
        f"median {np.median(scores):.1f}, lowest {scores.min():.1f}, highest "
        f"{scores.max():.1f}; {np.mean(scores >= 900):.0%} of the tracks at 900 or more",
        f"{int(steps.sum()):,} steps in {seconds:.0f} s",
        "",
        "Published (100 random tracks, mean +- std):",
    ]
    lines += [f"  {name}: {mean} +- {std}" for name, mean, std in PUBLISHED]
    return "\n".join(lines) + "\n"


def evaluate(p: EvaluateParams, ctx: Context) -> Iterator[Event]:
    from studio_drive import agent as agents
    from studio_drive.executors import make_executor
    from studio_drive.loading import check_config, load_world_model

    if p.tracks.strip():
        seeds, run_seed = parse_tracks(p.tracks), None
    else:
        seeds, run_seed = evaluation_tracks(ctx.seed, p.episodes), ctx.seed
    card, vae, mdnrnn, controller = load_world_model(ctx, p.model,
                                                     require=("vae", "mdnrnn", "controller"))
    config = check_config(card.config, p.model)
    spec = agents.WorldSpec.of(config, vae, mdnrnn, renderer=p.renderer,
                               max_steps=p.max_steps, precision=p.precision)
    flat = controller.to_flat()[None]
    yield Progress(None, "starting the workers")
    executor = make_executor(p.ray, p.workers, agents.setup_worker, (spec,))
    scores, steps = np.zeros(len(seeds)), np.zeros(len(seeds), np.int64)
    started = time.perf_counter()
    try:
        waves = max(2, math.ceil(len(seeds) / (64 * executor.workers)))
        size = math.ceil(len(seeds) / (waves * executor.workers))
        groups = [np.arange(s, min(s + size, len(seeds))) for s in range(0, len(seeds), size)]
        items = [agents.make_chunk(flat, [(0, int(s)) for s in seeds[g]]) for g in groups]
        yield Log(f"{p.model}: {len(seeds)} tracks, {p.renderer} renderer, on "
                  f"{executor.describe()}")
        finished = 0
        for done in executor.imap(agents.score_chunk, items, tick=1.0):
            if done is not None:
                k, (s, n) = done
                scores[groups[k]], steps[groups[k]] = s, n
                finished += len(groups[k])
            yield Progress(finished / len(seeds), f"{finished}/{len(seeds)} tracks"
                           + (f", mean so far {scores[steps > 0].mean():.0f}"
                              if finished else ""))
    finally:
        executor.close()
    seconds = time.perf_counter() - started
    yield Log(f"{p.model}: score {scores.mean():.1f} +- {scores.std():.1f} over {len(seeds)} "
              f"tracks ({p.renderer} renderer; {steps.sum() / seconds:.0f} steps/s)")
    yield Output(csv_bytes(seeds, scores, steps), name=f"{p.model}-tracks", suffix=".csv")
    yield Output(summary(p.model, p.renderer, run_seed, scores, steps, seconds),
                 name=f"{p.model}-evaluation")


EVALUATE = Task("drive.evaluate", "Evaluate the agent", EvaluateParams, evaluate,
                "Drives the agent on N tracks: mean +- std of the score and a per-track CSV.")
