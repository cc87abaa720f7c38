"""``drive.train-vae``: train V, the VAE, on the frames of a folder of rollouts.

Batches of frames are drawn at random from a few episodes in memory at a time
(``rollouts.FrameSampler``), never the whole folder. The loss is the paper's (``vae.loss``):
squared error summed over the pixels plus the KL divergence floored at ``--kl-tolerance``
nats per dimension; Adam at ``--lr``. On a CPU with native bf16 (AVX512-BF16, AMX) or a GPU
the products run in bfloat16 with channels-last activations (``--precision auto``).

Every ``--eval-interval`` steps: the loss on held-out frames (from every twentieth rollout
when there are twenty or more; from training frames otherwise), frames beside their
reconstructions as a preview, a checkpoint (``--resume`` continues from it), and the VAE
written into the drive model ``--model-id`` (its later parts, M and C, trained on the old V,
are dropped). Losses go out as chart previews (a dict with ``step``) every ``--log-interval``
steps. A rollout file that cannot be read is skipped with a warning.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.device import use_bf16
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

if TYPE_CHECKING:
    import numpy as np
    import torch

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATE_DIR = "train_vae"
VALID_FRAMES = 256  # held-out frames measured at each evaluation
SHOWN = 8  # frames shown beside their reconstructions


@dataclass
class TrainVAEParams:
    data: Path = param(help="folder of rollouts (drive.collect)")
    model_id: str = param("drive.mine", help="the drive model whose V is trained (made if "
                                             "missing; a new V drops its M and C)")
    z_size: int = param(32, min=1, max=1024, advanced=True, help="size of the latent z")
    steps: int = param(10_000, min=1, max=10_000_000, help="training steps in all")
    batch_size: int = param(64, min=1, max=4096, advanced=True, help="frames per step")
    lr: float = param(1e-4, min=0.0, max=1.0, advanced=True, help="Adam's learning rate")
    kl_tolerance: float = param(0.5, min=0.0, max=100.0, advanced=True,
                                help="the KL term's floor, in nats per dimension of z (the "
                                     "paper's 0.5)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast with channels-last activations (auto: where the "
                                "device computes bf16 natively: CUDA, or CPUs with "
                                "AVX512-BF16)")
    eval_interval: int = param(500, min=1, max=1_000_000, advanced=True,
                               help="steps between evaluations, checkpoints and saves")
    log_interval: int = param(10, min=1, max=100_000, advanced=True,
                              help="steps between the loss chart's points")
    buffer_episodes: int = param(16, min=1, max=4096, advanced=True,
                                 help="episodes in memory at a time (about 12 MB each)")
    resume: bool = param(False, help="continue from this model's VAE checkpoint")


def check_model_id(model_id: str) -> None:
    if not ID_RE.match(model_id):
        raise UserError(f"--model-id {model_id!r}: use letters, digits, '.', '_' or '-'")


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): every twentieth file is held out when there are 20
    or more; with fewer, the frames measured are training frames (no files held out)."""
    if len(files) < 20:
        return files, []
    held = files[19::20]
    return [f for f in files if f not in set(held)], held


def valid_frames(files: list[Path], count: int, warn: list[str]) -> np.ndarray:
    """Up to ``count`` frames spread evenly over (at most four of) ``files``."""
    import numpy as np

    from studio_drive.rollouts import RolloutError, read_rollout

    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(4, len(files))).astype(int)]
    per = -(-count // len(picked))
    out = []
    for path in dict.fromkeys(picked):
        try:
            frames = read_rollout(path).frames
        except RolloutError as exc:
            warn.append(f"{exc}; skipped")
            continue
        out.append(frames[np.linspace(0, len(frames) - 1, min(per, len(frames))).astype(int)])
    if not out:
        raise UserError("none of the rollouts to measure could be read: "
                        + warn[-1].removesuffix("; skipped"))
    return np.concatenate(out)[:count]


def evaluate(vae: Any, frames: np.ndarray, device: str, bf16: bool, kl_tolerance: float
             ) -> tuple[float, float, torch.Tensor]:
    """(reconstruction loss, KL) on ``frames`` through the posterior means, and the first
    ``SHOWN`` reconstructions."""
    import torch

    from studio_drive.frames import to_tensor
    from studio_drive.vae import loss

    recon_sum, kl_sum, shown = 0.0, 0.0, None
    vae.eval()
    with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                         enabled=bf16):
        for start in range(0, len(frames), 64):
            x = to_tensor(frames[start:start + 64], device)
            mu, logvar = vae.encode(x)
            recon = vae.decode(mu)
            _, r, kl = loss(recon, x, mu, logvar, kl_tolerance)
            recon_sum += r.item() * len(x)
            kl_sum += kl.item() * len(x)
            if shown is None:
                shown = recon[:SHOWN].float()
    vae.train()
    return recon_sum / len(frames), kl_sum / len(frames), shown


def drive_train_vae(p: TrainVAEParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch

    from studio_drive.frames import strip, to_image, to_tensor
    from studio_drive.loading import DEFAULT_CONFIG, read_parts, save_part
    from studio_drive.rollouts import FrameSampler, rollout_files
    from studio_drive.vae import VAE, loss, parameter_count

    check_model_id(p.model_id)
    device = ctx.device
    files = rollout_files(p.data)
    folder = user_models_dir(ctx) / p.model_id
    old_card, _ = read_parts(folder)  # another capability's model there: refused now
    state_dir = folder / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no VAE checkpoint for {p.model_id}; starting afresh", "warning")
    z_size = saved["z_size"] if saved is not None else p.z_size
    if saved is not None and z_size != p.z_size:
        yield Log(f"resuming {p.model_id}: its VAE has z = {z_size} (--z-size {p.z_size} is "
                  "not used)", "warning")
    config = {**DEFAULT_CONFIG, **(old_card.config if old_card else {}), "z_size": z_size}

    warnings: list[str] = []
    train_files, held = split_files(files)
    valid = valid_frames(held or train_files, VALID_FRAMES, warnings)
    yield Log(f"{len(files)} rollouts in {p.data}: {len(train_files)} to train on, "
              + (f"{len(held)} held out" if held else "none held out (fewer than 20)"))

    torch.manual_seed(ctx.seed)  # the same weights to begin with, whatever ran before
    vae = VAE(z_size).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(vae.parameters(), lr=p.lr)
    g = torch.Generator(device=device if device.startswith("cuda") else "cpu")
    g.manual_seed(ctx.seed)
    step, seconds, seed, history = 0, 0.0, ctx.seed, []
    if saved is not None:
        vae.load_state_dict(saved["vae"])
        restore_optimizer(opt, saved["opt"], saved["groups"])
        restore_rng(g, saved["rng"])
        step, seconds, seed = saved["step"], saved["train_seconds"], saved["seed"]
        history = saved.get("history", [])
        yield Log(f"resuming {p.model_id}'s VAE at step {step}")
    for group in opt.param_groups:  # the --lr given now, also when resuming
        group["lr"] = p.lr
    bf16 = use_bf16(p.precision, device)
    yield Log(f"VAE z = {z_size}, {parameter_count(vae):,} parameters, on {device}"
              + (", bf16 autocast, channels-last" if bf16 else ", fp32"))
    command = command_line(TRAIN_VAE, p, seed)

    def on_error(path: Path, message: str) -> None:
        warnings.append(f"{message}; skipped")

    def frames_from(step: int) -> FrameSampler:
        """The batches after ``step``: drawn afresh after each checkpoint, from a generator
        seeded with the step, so that a resumed run draws what the whole run would have."""
        return FrameSampler(train_files, p.batch_size, np.random.default_rng([seed, step]),
                            p.buffer_episodes, on_error)

    sampler = frames_from(step)
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    sums = np.zeros(3)
    count = 0
    started = time.perf_counter()
    vae.train()
    while step < p.steps:
        x = to_tensor(next(sampler), device)
        with autocast:
            recon, mu, logvar = vae(x, g)
        total, r, kl = loss(recon, x, mu, logvar, p.kl_tolerance)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        step += 1
        sums += (total.item(), r.item(), kl.item())
        count += 1
        while warnings:
            yield Log(warnings.pop(0), "warning")
        if step % p.log_interval == 0 or step == p.steps:
            mean = sums / count
            yield Preview({"step": step, "loss": round(float(mean[0]), 3),
                           "recon": round(float(mean[1]), 3), "kl": round(float(mean[2]), 3)},
                          label="VAE loss")
            sums[:], count = 0, 0
        yield Progress(step / p.steps, f"step {step}/{p.steps} loss {total.item():.1f}")
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            v_recon, v_kl, shown = evaluate(vae, valid, device, bf16, p.kl_tolerance)
            point = {"step": step, "valid_recon": round(v_recon, 3), "valid_kl": round(v_kl, 3),
                     "minutes": round(seconds / 60, 2)}
            history.append(point)
            og, groups = optimizer_tensors(opt)
            save_checkpoint(state_dir, step, {"vae": vae.state_dict(), "opt": og},
                            {"z_size": z_size, "seed": seed, "train_seconds": seconds,
                             "groups": groups, "rng": rng_state(g), "history": history})
            record = {"command": command, "steps": step, "minutes": round(seconds / 60, 1),
                      "device": device, "precision": "bf16" if bf16 else "fp32",
                      "batch_size": p.batch_size, "data": f"{len(files)} rollouts in {p.data}",
                      "valid_recon": point["valid_recon"], "valid_kl": point["valid_kl"]}
            _, dropped = save_part(user_models_dir(ctx), p.model_id, "vae", vae.state_dict(),
                                   config, record)
            if dropped:
                yield Log(f"{p.model_id}: a new VAE; its " + " and ".join(dropped)
                          + " (trained on the old one) are dropped", "warning")
            yield Preview(point, label="VAE held-out loss")
            yield Preview(strip(valid[:SHOWN], to_image(shown)),
                          label=f"frames and their reconstructions, step {step}")
            yield Log(f"step {step}: held-out reconstruction {v_recon:.1f}, KL {v_kl:.1f}")
            sampler = frames_from(step)
            started = time.perf_counter()
    yield Log(f"{p.model_id}'s VAE saved to {folder}")


TRAIN_VAE = Task("drive.train-vae", "Train V (the VAE)", TrainVAEParams, drive_train_vae,
                 "Trains the World Models VAE on the frames of a folder of rollouts.",
                 grad=True)
