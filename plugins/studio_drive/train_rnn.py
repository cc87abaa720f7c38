"""``drive.train-rnn``: train M, the MDN-RNN, on a folder of rollouts seen through a drive
model's V.

First every rollout's frames are encoded by the model's VAE and the posterior's mean and
log-variance kept per rollout in a cache beside the model (``<model>/latents/<digest of the
VAE>/``, fp16, about 130 kB per 1000-step episode; a rollout already encoded by this VAE is
not encoded again, so an interrupted run picks up where it was, and collecting more rollouts
only encodes the new ones). Then M learns from windows of ``--seq-len`` steps
(``rollouts.SequenceSampler``), with z drawn afresh from each step's posterior at every batch
(as the paper's code does): the mixture's NLL of z_{t+1}, the reward's squared error and the
done flag's cross-entropy; Adam, gradients clipped at ``--grad-clip``.

Every ``--eval-interval`` steps: the loss on held-out episodes (every twentieth when there are
twenty or more), what M expects next beside what came (decoded by V) as a preview, a
checkpoint (``--resume``), and M written into the drive model (its controller, trained on the
old M, is dropped).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import (
    command_line,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    rng_state,
    save_checkpoint,
    user_models_dir,
)
from studio_drive.train_vae import check_model_id, split_files

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio_drive.mdnrnn import MDNRNN
    from studio_drive.vae import VAE

STATE_DIR = "train_rnn"
CACHE_DIR = "latents"
VALID_SEQUENCES = 16  # held-out windows measured at each evaluation
SHOWN = 8  # predicted frames shown


@dataclass
class TrainRNNParams:
    data: Path = param(help="folder of rollouts (drive.collect)")
    model_id: str = param("drive.mine", help="the drive model whose M is trained; its V must "
                                             "be trained (drive.train-vae)")
    hidden: int = param(256, min=1, max=8192, advanced=True, help="LSTM units")
    gaussians: int = param(5, min=1, max=64, advanced=True,
                           help="Gaussians in the mixture of each dimension of z")
    steps: int = param(10_000, min=1, max=10_000_000, help="training steps in all")
    batch_size: int = param(32, min=1, max=4096, advanced=True, help="windows per step")
    seq_len: int = param(100, min=1, max=10_000, advanced=True, help="steps per window")
    lr: float = param(1e-3, min=0.0, max=1.0, advanced=True, help="Adam's learning rate")
    grad_clip: float = param(1.0, min=0.0, max=1000.0, advanced=True,
                             help="clip the gradient's norm to this (0: no clipping)")
    reward_weight: float = param(1.0, min=0.0, max=1000.0, advanced=True,
                                 help="weight of the reward's squared error")
    done_weight: float = param(1.0, min=0.0, max=1000.0, advanced=True,
                               help="weight of the done flag's cross-entropy")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast for M (auto: on CUDA only; on a CPU with AMX "
                                "it ran 1.5x faster but learned a little worse) and for V's "
                                "encoding (auto: where the device computes bf16 natively)")
    eval_interval: int = param(500, min=1, max=1_000_000, advanced=True,
                               help="steps between evaluations, checkpoints and saves")
    log_interval: int = param(10, min=1, max=100_000, advanced=True,
                              help="steps between the loss chart's points")
    buffer_episodes: int = param(64, min=1, max=100_000, advanced=True,
                                 help="episodes' latents in memory at a time (~130 kB each)")
    resume: bool = param(False, help="continue from this model's M checkpoint")


# ---------------------------------------------------------------------------------------------
# The latent cache.


def vae_digest(tensors: dict[str, torch.Tensor]) -> str:
    """A digest of V's weights (as stored, fp16): the cache's and the checkpoint's key."""
    import torch

    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().to("cpu", torch.float16).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_name(rollout: Path) -> str:
    return rollout.stem + ".latents.npz"


def _source_stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def load_latents(path: Path) -> dict[str, np.ndarray]:
    """A cached episode: ``mu``, ``logvar`` (T, z) float32, ``actions``, ``rewards``,
    ``dones``; a file that cannot be read raises RolloutError naming it."""
    import numpy as np

    from studio_drive.rollouts import RolloutError

    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("mu", "logvar", "actions", "rewards", "dones")}
    except Exception as exc:  # noqa: BLE001 - any damage to a cache file reads the same
        raise RolloutError(f"latent cache {path} cannot be read ({exc}); delete it") from None
    out["mu"] = out["mu"].astype(np.float32)
    out["logvar"] = out["logvar"].astype(np.float32)
    return out


def is_fresh(cache: Path, rollout: Path) -> bool:
    """The cache file exists and was made from ``rollout`` as it is now."""
    import numpy as np

    if not cache.is_file():
        return False
    try:
        with np.load(cache, allow_pickle=False) as z:
            return tuple(int(v) for v in z["source"]) == _source_stamp(rollout)
    except Exception:  # noqa: BLE001 - unreadable: encode again
        return False


def encode_rollouts(vae: VAE, files: list[Path], cache: Path, device: str, bf16: bool,
                    warnings: list[str], is_cancelled: Any = lambda: False
                    ) -> Iterator[tuple[int, int]]:
    """Encodes each rollout not yet in ``cache`` (a folder for this VAE); yields (done, all)
    after each file. A rollout that cannot be read is skipped with a warning."""
    import numpy as np
    import torch

    from studio.atomic import write_atomic_with
    from studio_drive.frames import to_tensor
    from studio_drive.rollouts import RolloutError, read_rollout

    cache.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        target = cache / cache_name(path)
        if is_cancelled():
            return
        if not is_fresh(target, path):
            try:
                ep = read_rollout(path)
            except RolloutError as exc:
                target.unlink(missing_ok=True)  # latents of an older version of the file
                warnings.append(f"{exc}; skipped")
                yield i + 1, len(files)
                continue
            mus, logvars = [], []
            with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                                 enabled=bf16):
                for start in range(0, len(ep), 256):
                    mu, logvar = vae.encode(to_tensor(ep.frames[start:start + 256], device))
                    mus.append(mu.float().cpu())
                    logvars.append(logvar.float().cpu())
            arrays = {"mu": torch.cat(mus).numpy().astype(np.float16),
                      "logvar": torch.cat(logvars).numpy().astype(np.float16),
                      "actions": ep.actions, "rewards": ep.rewards, "dones": ep.dones,
                      "source": np.array(_source_stamp(path), np.int64)}

            def fill(tmp: Path, arrays: dict = arrays) -> None:
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)

            write_atomic_with(target, fill)
        yield i + 1, len(files)


# ---------------------------------------------------------------------------------------------
# Training.


def batch_tensors(batch: Any, device: str, g: torch.Generator
                  ) -> tuple[torch.Tensor, ...]:
    """A SequenceBatch on ``device``: z (B, L + 1, z) drawn from the posteriors, then actions,
    rewards, dones, mask, next_mask."""
    import torch

    mu = torch.from_numpy(batch.mu).to(device)
    logvar = torch.from_numpy(batch.logvar).to(device)
    eps = torch.randn(mu.shape, generator=g, device=g.device).to(device)
    z = mu + (0.5 * logvar).exp() * eps
    rest = (torch.from_numpy(a).to(device) for a in (batch.actions, batch.rewards, batch.dones,
                                                     batch.mask, batch.next_mask))
    return (z, *rest)


def step_loss(m: MDNRNN, batch: Any, device: str, g: torch.Generator, autocast: Any,
              reward_weight: float, done_weight: float) -> Any:
    z, actions, rewards, dones, mask, next_mask = batch_tensors(batch, device, g)
    with autocast:
        out = m(z[:, :-1], actions)
    return m.loss(out, z[:, 1:], rewards, dones, mask, next_mask, reward_weight, done_weight)


def predicted_frames(vae: VAE, m: MDNRNN, batch: Any, device: str) -> np.ndarray:
    """Two rows of ``SHOWN`` frames from the first window: what came next (V's decoding of the
    next frame's mean) above what M expected (its likeliest Gaussians' means, decoded)."""
    import torch

    from studio_drive.frames import strip, to_image

    n = int(min(SHOWN, batch.mask[0].sum()))
    mu = torch.from_numpy(batch.mu[:1]).to(device)
    actions = torch.from_numpy(batch.actions[:1]).to(device)
    with torch.no_grad():
        out = m(mu[:, :-1], actions)
        expected = m.sample_next(out, tau=0.0)[0, :n]
        came = mu[0, 1:n + 1]
        return strip(to_image(vae.decode(came)), to_image(vae.decode(expected)))


def copy_model(source: Path, folder: Path) -> None:
    """A drive model's weights and card copied into ``folder`` (the user's store), which then
    shadows the original."""
    from studio.atomic import write_atomic_with
    from studio.models import card_path
    from studio_drive.loading import WEIGHTS

    folder.mkdir(parents=True, exist_ok=True)
    write_atomic_with(folder / WEIGHTS, lambda tmp: shutil.copyfile(source / WEIGHTS, tmp))
    write_atomic_with(card_path(folder), lambda tmp: shutil.copyfile(card_path(source), tmp))


def drive_train_rnn(p: TrainRNNParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch

    from studio.device import use_bf16
    from studio_drive.loading import load_world_model, part_of, read_parts, save_part
    from studio_drive.mdnrnn import MDNRNN, parameter_count
    from studio_drive.rollouts import RolloutError, SequenceSampler, rollout_files

    check_model_id(p.model_id)
    device = ctx.device
    files = rollout_files(p.data)
    card, vae, old_m, _ = load_world_model(ctx, p.model_id, require=("vae",))
    folder = user_models_dir(ctx) / p.model_id
    if Path(card.folder).resolve() != folder.resolve():  # a shipped model: trained as the user's
        copy_model(Path(card.folder), folder)
        yield Log(f"{p.model_id} is copied into your models ({folder}) to be trained there")
    _, tensors = read_parts(folder)
    digest = vae_digest(part_of(tensors, "vae"))
    del tensors
    state_dir = folder / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no M checkpoint for {p.model_id}; starting afresh", "warning")
    if saved is not None and saved.get("vae") != digest:
        raise UserError(f"{p.model_id}'s VAE changed since its M checkpoint was written; "
                        "train M again without --resume")
    config = dict(card.config)
    if saved is not None:
        config.update(saved["config"])
        if (config["hidden"], config["gaussians"]) != (p.hidden, p.gaussians):
            yield Log(f"resuming {p.model_id}: its M has {config['hidden']} units and "
                      f"{config['gaussians']} Gaussians, as it began", "warning")
    else:
        config.update(hidden=p.hidden, gaussians=p.gaussians)
        if old_m is not None:
            yield Log(f"{p.model_id} has an M already; training a new one replaces it", "warning")

    # --- encode the frames --------------------------------------------------------------------
    warnings: list[str] = []
    cache_root = folder / CACHE_DIR
    for other in cache_root.glob("*") if cache_root.is_dir() else []:
        if other.name != digest:  # latents of an older VAE
            shutil.rmtree(other, ignore_errors=True)
    cache = cache_root / digest
    bf16_v = use_bf16(p.precision, device)
    started = time.perf_counter()
    for done, total in encode_rollouts(vae, files, cache, device, bf16_v, warnings,
                                       ctx.is_cancelled):
        while warnings:
            yield Log(warnings.pop(0), "warning")
        yield Progress(0.1 * done / total, f"encoding rollouts with V: {done}/{total}")
    if ctx.is_cancelled():
        return
    encoded = [cache / cache_name(f) for f in files if (cache / cache_name(f)).is_file()]
    if not encoded:
        raise UserError(f"none of the rollouts in {p.data} could be read")
    yield Log(f"{len(encoded)} rollouts encoded ({time.perf_counter() - started:.0f} s, "
              f"cached in {cache})")

    # --- train M --------------------------------------------------------------------------------
    train_files, held = split_files(encoded)
    torch.manual_seed(ctx.seed)  # the same weights to begin with, whatever ran before
    m = MDNRNN(config["z_size"], config["actions"], config["hidden"], config["gaussians"])
    m = m.to(device)
    opt = torch.optim.Adam(m.parameters(), lr=p.lr)
    g = torch.Generator(device=device if device.startswith("cuda") else "cpu")
    g.manual_seed(ctx.seed)
    step, seconds, seed, history = 0, 0.0, ctx.seed, []
    if saved is not None:
        m.load_state_dict(saved["mdnrnn"])
        restore_optimizer(opt, saved["opt"], saved["groups"])
        restore_rng(g, saved["rng"])
        step, seconds, seed = saved["step"], saved["train_seconds"], saved["seed"]
        history = saved.get("history", [])
        yield Log(f"resuming {p.model_id}'s M at step {step}")
    for group in opt.param_groups:
        group["lr"] = p.lr
    bf16 = (p.precision == "bf16" or (p.precision == "auto" and device.startswith("cuda")
                                      and torch.cuda.is_bf16_supported()))
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    yield Log(f"M: LSTM {config['hidden']}, {config['gaussians']} Gaussians, "
              f"{parameter_count(m):,} parameters, on {device}" + (", bf16" if bf16 else ""))

    def on_error(path: Path, message: str) -> None:
        warnings.append(f"{message}; skipped")

    valid_src = held or train_files
    try:
        valid = [next(SequenceSampler(valid_src, load_latents, VALID_SEQUENCES, p.seq_len,
                                      np.random.default_rng(0), len(valid_src), on_error))]
    except RolloutError as exc:
        raise UserError(str(exc)) from None
    def windows_from(step: int) -> SequenceSampler:
        """The batches after ``step`` (drawn afresh after each checkpoint, seeded with the
        step, so that a resumed run draws what the whole run would have)."""
        return SequenceSampler(train_files, load_latents, p.batch_size, p.seq_len,
                               np.random.default_rng([seed, step]), p.buffer_episodes, on_error)

    sampler = windows_from(step)
    command = command_line(TRAIN_RNN, p, seed)
    sums, count = np.zeros(4), 0
    started = time.perf_counter()
    m.train()
    while step < p.steps:
        losses = step_loss(m, next(sampler), device, g, autocast, p.reward_weight,
                           p.done_weight)
        opt.zero_grad(set_to_none=True)
        losses.total.backward()
        if p.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), p.grad_clip)
        opt.step()
        step += 1
        sums += [t.item() for t in losses]
        count += 1
        while warnings:
            yield Log(warnings.pop(0), "warning")
        if step % p.log_interval == 0 or step == p.steps:
            mean = sums / count
            yield Preview({"step": step, **{k: round(float(v), 4) for k, v in
                                            zip(("loss", "nll", "reward", "done"), mean,
                                                strict=True)}}, label="M loss")
            sums[:], count = 0, 0
        yield Progress(0.1 + 0.9 * step / p.steps,
                       f"step {step}/{p.steps} loss {losses.total.item():.3f}")
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            m.eval()
            with torch.no_grad():
                ev = torch.Generator(device=g.device).manual_seed(seed)
                v = step_loss(m, valid[0], device, ev, autocast, p.reward_weight,
                              p.done_weight)
                picture = predicted_frames(vae, m, valid[0], device)
            m.train()
            point = {"step": step, **{f"valid_{k}": round(t.item(), 4) for k, t in
                                      zip(("loss", "nll", "reward", "done"), v, strict=True)},
                     "minutes": round(seconds / 60, 2)}
            history.append(point)
            og, groups = optimizer_tensors(opt)
            save_checkpoint(state_dir, step, {"mdnrnn": m.state_dict(), "opt": og},
                            {"config": config, "vae": digest, "seed": seed,
                             "train_seconds": seconds, "groups": groups, "rng": rng_state(g),
                             "history": history})
            record = {"command": command, "steps": step, "minutes": round(seconds / 60, 1),
                      "device": device, "batch_size": p.batch_size, "seq_len": p.seq_len,
                      "data": f"{len(encoded)} rollouts in {p.data}",
                      **{k: point[k] for k in point if k.startswith("valid_")}}
            _, dropped = save_part(user_models_dir(ctx), p.model_id, "mdnrnn", m.state_dict(),
                                   config, record)
            if dropped:
                yield Log(f"{p.model_id}: a new M; its controller (trained on the old one) is "
                          "dropped", "warning")
            yield Preview(point, label="M held-out loss")
            yield Preview(picture, label=f"next frames: what came (top), what M expected "
                                         f"(bottom), step {step}")
            yield Log(f"step {step}: held-out NLL {point['valid_nll']:.3f} per dimension, "
                      f"reward error {point['valid_reward']:.3f}, done "
                      f"{point['valid_done']:.4f}")
            sampler = windows_from(step)
            started = time.perf_counter()
    yield Log(f"{p.model_id}'s M saved to {folder}")


TRAIN_RNN = Task("drive.train-rnn", "Train M (the MDN-RNN)", TrainRNNParams, drive_train_rnn,
                 "Encodes a folder of rollouts with a drive model's VAE and trains its MDN-RNN "
                 "on the latents.", grad=True)
