"""``drive.train-controller``: C, the linear controller on [z, h], searched with CMA-ES (the
maintained ``cma`` library) as the paper did: each generation ``--popsize`` candidates each
drive ``--rollouts`` tracks (the same tracks for all of them, new ones every generation) and
their mean score is their fitness. ``--fitness real`` drives the real game with the fast
renderer (the paper's way); ``--fitness dream`` drives inside M's dream at temperature
``--tau``. Candidates are scored by an executor (``executors.py``): worker processes here, or
a Ray cluster with ``--ray``. Within a worker, its episodes step in lockstep so that V and M run
as batches.

After each generation the distribution's mean is also scored on ``--eval-rollouts`` fixed
validation tracks (in the real game, whatever ``--fitness``); the best so far by that score is
written into the model (``controller.weight`` / ``controller.bias``) after every generation,
and the card records its score, the generations, the learning curve and the compute. A
Preview carries the generation's best, mean and worst fitness (and the validation score) for
the Train tab's chart.

Resuming. The run keeps its state in ``<model>/controller_state``: CMA-ES's state as arrays and
JSON (``es_state``: the mean, step size, covariance matrix and its eigendecomposition,
evolution paths, counters, fitness history, best solution and the random generator's state:
every plain attribute of the strategy and of its parts; never a pickle), written after each
generation, and the scores of the current generation's finished episodes, written as they come.
A run killed at any moment goes on with ``--resume`` where it was: the same population is
asked again and only the episodes not yet scored are driven.

Budget. The paper scored 64 candidates on 16 rollouts each, about a million steps a generation,
for some 200 generations. Measured here (benchmarks/drive.py, controller section): one core
drives about 1,100 agent steps per second of CPU time with 16 episodes in lockstep (fast
renderer, bf16 VAE; 270 one episode at a time), so this 2-core machine gives about 2,000 steps
a second when idle, and a quarter of that when shared as it usually is. The paper's generation
would take 8-30 minutes here and its 200 generations a day or more. The defaults, 32 candidates
x 8 tracks (about 250,000 steps: 2-8 minutes a generation) for 100 generations (3-14 hours),
keep the rollouts per candidate that users of the reference code found CMA-ES needs to not
stall near 300-350, and halve the population, which is still above CMA-ES's own default for 867
parameters (24); the paper's budget is for a machine with more cores (``--workers``) or a Ray
cluster (``--ray``), where it runs at the same pace per core.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import command_line, read_checkpoint, save_checkpoint, user_models_dir

if TYPE_CHECKING:
    import torch

STATE_DIR = "controller_state"
PENDING = "pending.json"  # the current generation's episodes scored so far
TRAIN_SEED_LIMIT = 2**31  # training and validation tracks come from [0, 2**31); evaluation's
# (drive.evaluate) from [2**31, 2**32), so that it never drives a track the agent trained on
# settings a resumed run keeps from its start, whatever the flags say
KEPT = ("popsize", "sigma0", "rollouts", "max_steps", "fitness", "tau", "renderer",
        "eval_rollouts", "precision")


@dataclass
class TrainControllerParams:
    model_id: str = param(model="drive",
                          help="the drive model with V and M (drive.train-vae, drive.train-rnn); "
                               "the best controller is written into it")
    generations: int = param(100, min=1, max=1_000_000,
                             help="CMA-ES generations in all (a resumed run counts the ones "
                                  "done)")
    popsize: int = param(32, min=4, max=4096,
                         help="candidates per generation (the paper: 64; 32 x 8 tracks is "
                              "about 250,000 steps, 2-8 minutes a generation on 2 cores)")
    rollouts: int = param(8, min=1, max=1024,
                          help="tracks each candidate drives; its fitness is the mean score "
                               "(the paper: 16; fewer and CMA-ES stalls on the noise)")
    sigma0: float = param(0.1, min=1e-4, max=10.0, advanced=True,
                          help="CMA-ES's initial step size")
    refine: bool = param(False,
                         help="start the search at the model's present controller instead of "
                              "at zero, to improve a trained agent (a smaller --sigma0 suits)")
    max_steps: int = param(1000, min=10, max=1000, advanced=True,
                           help="steps per rollout at most (the game ends at 1000)")
    fitness: str = param("real", choices=("real", "dream"),
                         help="real: drive the game (fast renderer), as the paper did for "
                              "CarRacing; dream: drive inside M's dream")
    tau: float = param(1.15, min=0.0, max=3.0, advanced=True,
                       help="temperature of the dream (--fitness dream); the paper's "
                            "DoomTakeCover agent needed 1.15 to not exploit its dream")
    eval_rollouts: int = param(16, min=0, max=1024, advanced=True,
                               help="validation tracks the distribution's mean drives after "
                                    "each generation; the best so far is saved (0: save the "
                                    "best candidate by its fitness instead)")
    renderer: str = param("fast", choices=("fast", "stock"), advanced=True,
                          help="the observation renderer of the real game")
    ray: str | None = param(None,
                            help="score candidates on Ray: auto (this machine's cluster), "
                                 "local (a Ray instance started here), HOST:PORT or "
                                 "ray://HOST:PORT; none: worker processes here")
    workers: int = param(0, min=0, max=100_000, advanced=True,
                         help="worker processes (or Ray actors); 0: one per core (or CPU)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="the VAE's products (auto: bf16 where the CPU has it)")
    resume: bool = param(False, help="continue from this model's controller_state")


# ---------------------------------------------------------------------------------------------
# CMA-ES and its state as arrays and JSON.


class Normal:
    """cma's ``randn`` option, drawn from a numpy generator of our own whose state is saved."""

    def __init__(self, seed: int):
        self.gen = np.random.default_rng(seed)

    def __call__(self, *shape: int) -> np.ndarray:
        return self.gen.standard_normal(shape)


def _cma() -> Any:
    import warnings

    with warnings.catch_warnings():  # "Could not import matplotlib": cma.plot is not used
        warnings.simplefilter("ignore")
        import cma
        import cma.sigma_adaptation  # noqa: F401
    return cma


def new_es(n: int, sigma0: float, popsize: int, seed: int, x0: np.ndarray | None = None
           ) -> tuple[Any, Normal]:
    """A fresh CMA-ES over ``n`` parameters from ``x0`` (zero when None), with cumulative
    step-size adaptation (CSA), no mirrored samples (whose bookkeeping is not plain state)
    and its own random generator; quiet, writing no files."""
    import warnings

    cma = _cma()
    normal = Normal(seed)
    opts = {"popsize": popsize, "seed": math.nan, "randn": normal,
            "AdaptSigma": cma.sigma_adaptation.CMAAdaptSigmaCSA, "CMA_mirrors": 0,
            "verbose": -9, "verb_log": 0, "verb_disp": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = np.zeros(n) if x0 is None else np.asarray(x0, np.float64)
        es = cma.CMAEvolutionStrategy(start, sigma0, opts)
    return es, normal


# the parts of the strategy whose plain attributes are its state
ES_PARTS = ("", "sm", "adapt_sigma", "fit", "best", "sigma_vec", "_stoptolxstagnation")
# attributes that are not state: copies of the sampler's (restored from it), and the last
# generation's samples (made anew by the next ask)
ES_SKIP = {"": ("B", "C", "D", "dC", "ary", "pop_sorted")}


def _part(es: Any, name: str) -> Any:
    return es if not name else getattr(es, name)


def _plain(v: Any) -> bool:
    if v is None or isinstance(v, bool | int | float | str | np.bool_ | np.integer | np.floating):
        return True
    return type(v) in (list, tuple) and all(  # not a list subclass with a role of its own
        isinstance(x, bool | int | float | np.bool_ | np.integer | np.floating) for x in v)


def _json_value(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def es_state(es: Any, normal: Normal) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The strategy's state: numeric arrays by ``part.attribute``, and the rest (numbers, lists
    of numbers, the random generator's state) as JSON."""
    cma = _cma()
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    fortran = []  # arrays laid out column by column (eigh's B): products depend on the layout
    for name in ES_PARTS:
        skip = ES_SKIP.get(name, ())
        for key, value in vars(_part(es, name)).items():
            if key in skip:
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                arrays[f"{name}.{key}"] = value
                if value.ndim > 1 and value.flags.f_contiguous and not value.flags.c_contiguous:
                    fortran.append(f"{name}.{key}")
            elif _plain(value):
                plain[f"{name}.{key}"] = _json_value(value)
    return arrays, {"attributes": plain, "fortran": fortran,
                    "rng": normal.gen.bit_generator.state, "cma": cma.__version__}


def restore_es(es: Any, normal: Normal, arrays: dict[str, np.ndarray], saved: dict[str, Any]
               ) -> None:
    """Puts a saved state into a fresh strategy made by ``new_es`` with the same settings."""
    fortran = set(saved.get("fortran", ()))
    for key, value in list(saved["attributes"].items()) + list(arrays.items()):
        name, attr = key.split(".", 1)
        if isinstance(value, np.ndarray):
            value = np.array(value, order="F" if key in fortran else "C")
        if name in ES_PARTS:
            setattr(_part(es, name), attr, value)
    es._updateBDfromSM(es.sm)
    if not hasattr(es, "timer"):  # made by the first ask, which this strategy skips
        from cma.utilities.utils import ElapsedWCTime

        es.timer = ElapsedWCTime()
    normal.gen.bit_generator.state = saved["rng"]


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    import torch

    return {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}  # unshared


# ---------------------------------------------------------------------------------------------
# Tracks and fitness.


def track_seeds(seed: int, stream: int, n: int) -> np.ndarray:
    """``n`` track seeds in [0, 2**31) from the run's seed: stream g >= 1 is generation g's
    training tracks, stream 0 the validation tracks."""
    return np.random.default_rng([seed, stream]).integers(0, TRAIN_SEED_LIMIT, n)


@dataclass
class Job:
    """One generation's episodes: every candidate on every track, then the mean on the
    validation tracks, flattened candidate-major; ``done`` holds the scores and steps of the
    episodes finished so far by their index."""

    params: np.ndarray  # (k, n): the candidates, then the mean when validating
    seeds: list[np.ndarray]  # per row of params, its tracks
    done: dict[int, tuple[float, int]]
    dream: bool = False  # the candidates drive in the dream (the validation never does)
    popsize: int = 0

    def episodes(self) -> list[tuple[int, int]]:
        return [(c, int(s)) for c, tracks in enumerate(self.seeds) for s in tracks]


def fitness_of(job: Job, popsize: int, rollouts: int
               ) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(each candidate's mean score (popsize,), the validation scores or None, steps)."""
    scores = np.array([job.done[i][0] for i in range(len(job.episodes()))])
    steps = sum(job.done[i][1] for i in range(len(scores)))
    cand = scores[:popsize * rollouts].reshape(popsize, rollouts).mean(1)
    val = scores[popsize * rollouts:] if len(scores) > popsize * rollouts else None
    return cand, val, steps


def v_m_fingerprint(vae: torch.nn.Module, mdnrnn: torch.nn.Module) -> str:
    """A sha256 of V's and M's weights: a resumed run refuses a model whose V or M changed."""
    h = hashlib.sha256()
    for prefix, net in (("vae.", vae), ("mdnrnn.", mdnrnn)):
        for key, value in net.state_dict().items():
            h.update((prefix + key).encode())
            h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _copy_to_user_store(card: Any, folder: Path) -> None:
    """A shipped model is copied into the user's store before its controller is trained."""
    import shutil

    from studio.models import card_path

    folder.mkdir(parents=True, exist_ok=True)
    for f in card.files:
        shutil.copy2(card.folder / f.name, folder / f.name)
    shutil.copy2(card_path(card.folder), card_path(folder))


# ---------------------------------------------------------------------------------------------
# The task.


def train_controller(p: TrainControllerParams, ctx: Context) -> Iterator[Event]:
    import torch

    from studio.atomic import write_atomic
    from studio_drive import agent as agents
    from studio_drive.controller import Controller
    from studio_drive.executors import make_executor
    from studio_drive.loading import check_config, load_world_model, save_part

    card, vae, mdnrnn, present = load_world_model(ctx, p.model_id)
    config = check_config(card.config, p.model_id)
    root = user_models_dir(ctx)
    folder = root / p.model_id
    if card.folder is None or Path(card.folder).resolve() != folder.resolve():
        yield Log(f"{p.model_id} is not in your model store; copying it there to train its "
                  "controller")
        _copy_to_user_store(card, folder)
    state_dir = folder / STATE_DIR
    fingerprint = v_m_fingerprint(vae, mdnrnn)
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no controller training state in {p.model_id}; starting afresh", "warning")
    if saved is not None and saved.get("fingerprint") != fingerprint:
        raise UserError(f"{p.model_id}: its V or M changed since this controller's training "
                        "began; train without --resume to start again")
    if saved is not None:
        changed = [k for k in KEPT if getattr(p, k) != saved["settings"][k]]
        if changed:
            yield Log("resuming: " + ", ".join(f"--{k.replace('_', '-')} "
                                               f"{saved['settings'][k]}" for k in changed)
                      + " as the run began", "warning")
        p = replace(p, **{k: saved["settings"][k] for k in KEPT})
    seed = saved["seed"] if saved is not None else ctx.seed
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed {seed}: use a seed from 0 to 2**63 - 1")

    x0, base = None, (saved or {}).get("refined_from")
    if p.refine and saved is None:
        if present is None:
            raise UserError(f"--refine: {p.model_id} has no controller yet to start from; "
                            "train without --refine")
        x0 = present.to_flat()
        base = card.quality.get("controller")  # how the controller refined here was made
        yield Log(f"starting the search at {p.model_id}'s present controller")
    es, normal = new_es(3 * (config["z_size"] + config["hidden"]) + 3, p.sigma0, p.popsize,
                        seed, x0)
    history: list[dict[str, Any]] = []
    generation, seconds, env_steps = 0, 0.0, 0
    best_score, best_x = -math.inf, None
    if saved is not None:
        restore_es(es, normal, {k: v.numpy() for k, v in saved["es"].items()}, saved["es_json"])
        generation, seconds, env_steps = saved["step"], saved["seconds"], saved["env_steps"]
        history = saved["history"]
        best_score = saved["best_score"] if saved["best_score"] is not None else -math.inf
        if "best" in saved:
            best_x = saved["best"]["x"].numpy()
        yield Log(f"resuming {p.model_id} at generation {generation}")
    if generation >= p.generations:
        yield Log(f"{p.model_id} has had {generation} generations already; ask for more with "
                  "--generations", "warning")
        return

    command = command_line(TRAIN_CONTROLLER, replace(p, ray=None, workers=0), seed)
    spec = agents.WorldSpec.of(config, vae, mdnrnn, renderer=p.renderer,
                               max_steps=p.max_steps, precision=p.precision, tau=p.tau)
    val_seeds = track_seeds(seed, 0, p.eval_rollouts)
    pending_path = state_dir / PENDING
    if saved is None:
        pending_path.unlink(missing_ok=True)  # another run's
    yield Progress(None, "starting the workers")
    executor = make_executor(p.ray, p.workers, agents.setup_worker, (spec,))
    try:
        yield Log(f"CMA-ES on {es.N} parameters: {p.popsize} candidates x {p.rollouts} "
                  f"tracks a generation, {p.fitness} fitness, on {executor.describe()}")
        while generation < p.generations:
            g = generation + 1
            started = time.perf_counter()
            asked = np.asarray(es.ask(), dtype=np.float64)
            mean = np.asarray(es.mean, dtype=np.float64)
            rows = [asked, mean[None]] if p.eval_rollouts else [asked]
            job = Job(np.concatenate(rows).astype(np.float32),
                      [track_seeds(seed, g, p.rollouts)] * p.popsize
                      + ([val_seeds] if p.eval_rollouts else []), {},
                      dream=p.fitness == "dream", popsize=p.popsize)
            job.done = _read_pending(pending_path, g, seed, len(job.episodes()))
            if job.done:
                yield Log(f"generation {g}: {len(job.done)} episodes were scored before the "
                          "run stopped; driving the others")
            yield from _drive(job, executor, agents, p, ctx, pending_path, g, seed,
                              write_atomic)
            if len(job.done) < len(job.episodes()):  # stopped
                return
            fit, val, steps = fitness_of(job, p.popsize, p.rollouts)
            es.tell(list(asked), list(-fit))
            seconds += time.perf_counter() - started
            env_steps += steps
            point = {"step": g, "best": float(fit.max()), "mean": float(fit.mean()),
                     "worst": float(fit.min())}
            if val is not None:
                point["eval"] = float(val.mean())
                candidate, score = mean, float(val.mean())
            else:
                candidate, score = asked[int(fit.argmax())], float(fit.max())
            point["seconds"] = round(time.perf_counter() - started, 1)
            history.append(point)
            improved = score > best_score
            if improved:
                best_score, best_x = score, candidate
            generation = g
            # the card says how far training has gone, whether or not the controller changed
            record = _record(p, command, history, generation, seconds, env_steps, best_score,
                             executor.describe(), ctx.device, base)
            controller = Controller.from_flat(best_x, config["z_size"], config["hidden"])
            save_part(root, p.model_id, "controller",
                      {k.split(".", 1)[1]: v for k, v in controller.as_tensors().items()},
                      config, record)
            arrays, es_json = es_state(es, normal)
            parts = {"es": _tensors(arrays)}
            if best_x is not None:
                parts["best"] = {"x": torch.from_numpy(np.asarray(best_x, np.float64))}
            save_checkpoint(state_dir, generation, parts, {
                "es_json": es_json, "seed": seed, "seconds": seconds, "env_steps": env_steps,
                "history": history, "best_score": None if best_x is None else best_score,
                "fingerprint": fingerprint, "settings": {k: getattr(p, k) for k in KEPT},
                "refined_from": base})
            pending_path.unlink(missing_ok=True)
            rate = steps / max(point["seconds"], 1e-9)
            yield Log(f"generation {g}: fitness best {point['best']:.1f} mean "
                      f"{point['mean']:.1f} worst {point['worst']:.1f}"
                      + (f", mean's validation {point['eval']:.1f}" if "eval" in point else "")
                      + f"; best so far {best_score:.1f}{' (saved)' if improved else ''}; "
                        f"{point['seconds']:.0f} s, {rate:.0f} steps/s")
            yield Preview({**point, "executor": executor.name}, label=f"generation {g}")
            yield Progress(g / p.generations, f"generation {g}/{p.generations} best "
                                              f"{point['best']:.0f}")
    finally:
        executor.close()
    what = "validation score" if p.eval_rollouts else "fitness"
    yield Log(f"{p.model_id}: best {what} {best_score:.1f} after {generation} generations "
              f"({seconds / 60:.1f} min, {env_steps:,} steps)")


def _drive(job: Job, executor: Any, agents: Any, p: TrainControllerParams, ctx: Context,
           pending_path: Path, g: int, seed: int, write_atomic: Any) -> Iterator[Event]:
    """Scores the job's episodes not yet done, in chunks over the executor; each finished
    chunk's scores are written to ``pending_path`` at once."""
    episodes = job.episodes()
    todo = [i for i in range(len(episodes)) if i not in job.done]
    if not todo:
        return
    waves = max(2, math.ceil(len(todo) / (64 * executor.workers)))  # chunks of 64 at most,
    size = math.ceil(len(todo) / (waves * executor.workers))  # as many for every worker
    # a chunk holds the dream's episodes or the game's, not both
    dreamt = [i for i in todo if job.dream and episodes[i][0] < job.popsize]
    real = sorted(set(todo) - set(dreamt))
    groups = [part[s:s + size] for part in (dreamt, real) for s in range(0, len(part), size)]
    items = [agents.make_chunk(job.params, [episodes[i] for i in group],
                               dream=job.dream and episodes[group[0]][0] < job.popsize)
             for group in groups]
    total = len(episodes)
    for done in executor.imap(agents.score_chunk, items, tick=1.0):
        if done is not None:
            k, (scores, steps) = done
            for i, s, n in zip(groups[k], scores, steps, strict=True):
                job.done[i] = (float(s), int(n))
            write_atomic(pending_path, json.dumps(
                {"generation": g, "seed": seed,
                 "done": {str(i): v for i, v in job.done.items()}}).encode())
        frac = ((g - 1) + len(job.done) / total) / p.generations
        yield Progress(frac, f"generation {g}: {len(job.done)}/{total} episodes")
        if ctx.is_cancelled():
            return


def _read_pending(path: Path, g: int, seed: int, n: int) -> dict[int, tuple[float, int]]:
    """The scores of generation ``g``'s episodes finished before the run stopped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("generation") != g or data.get("seed") != seed:
            return {}
        return {int(i): (float(v[0]), int(v[1])) for i, v in data["done"].items()
                if 0 <= int(i) < n}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}


def _record(p: TrainControllerParams, command: str, history: list[dict[str, Any]],
            generation: int, seconds: float, env_steps: int, best: float, executor: str,
            device: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card's ``quality["controller"]``; ``base``: the record of the controller a
    ``--refine`` run started from, kept in ``refined_from`` (its command goes first in this
    one's, so the card's command chain makes the controller again)."""
    what = (f"validation score (mean over {p.eval_rollouts} fixed tracks, {p.renderer} "
            "renderer)" if p.eval_rollouts else f"fitness (mean over {p.rollouts} tracks)")
    return {
        "command": f"{base['command']} && {command}" if base and base.get("command")
                   else command,
        "score": round(best, 1), "score_is": what,
        "generations": generation, "popsize": p.popsize, "rollouts": p.rollouts,
        "fitness": p.fitness, "env_steps": env_steps, "minutes": round(seconds / 60, 1),
        "device": f"{device}, {executor}",
        "data": f"CMA-ES, {p.popsize} candidates x {p.rollouts} CarRacing tracks a "
                f"generation ({p.fitness} fitness)",
        "curve": [[h["step"], round(h["best"], 1), round(h["mean"], 1), round(h["worst"], 1)]
                  + ([round(h["eval"], 1)] if "eval" in h else []) for h in history],
        **({"refined_from": base} if base else {}),
    }


TRAIN_CONTROLLER = Task(
    "drive.train-controller", "Train the controller (CMA-ES)", TrainControllerParams,
    train_controller,
    "Searches the controller's 867 weights with CMA-ES, candidates scored by driving; resumable.")
