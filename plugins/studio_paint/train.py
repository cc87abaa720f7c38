"""``paint.train``: CycleGAN on two folders of unpaired pictures (Zhu et al. 2017, the published
recipe): least-squares GAN losses, cycle consistency (L1, lambda 10 per direction), identity
(0.5 * lambda), a pool of 50 earlier fakes for each critic, Adam (2e-4, beta1 0.5), the rate held
for the first half of the steps and decayed linearly to 0 over the second, weights from N(0, 0.02).

Each picture is read once, scaled so its short side is ``load_size`` (286/256 of the crop, as
published) and kept in memory as uint8; every step takes random crops and flips. Every
``eval_interval`` steps a sample grid is shown (A, A to B, back to A; B, B to A, back to B), the
four losses are charted, a checkpoint is written (``--resume`` continues from it) and the model
is registered in the store with both generators (``a2b.*``, ``b2a.*``; PAINT_FORMAT in
``loading.py``).
"""

from __future__ import annotations

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
from studio_paint.cyclegan import UPSAMPLES
from studio_paint.kinds import CYCLEGAN

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.models import ModelCard
    from studio_paint.cyclegan import Generator

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATE_DIR = "train_state"
ARCHITECTURE = CYCLEGAN
SAMPLES = 3  # pictures of each domain in the sample grid
LOSSES = ("generator", "critic", "cycle", "identity")


@dataclass
class TrainParams:
    data_a: Path = param(help="folder of domain A's pictures (e.g. your sketches, or Monets)")
    data_b: Path = param(help="folder of domain B's pictures (e.g. your photos)")
    model_id: str = param("paint.mine", help="name of the trained model")
    name_a: str = param("A", help="what domain A is, shown in the model's directions")
    name_b: str = param("B", help="what domain B is")
    default_direction: str = param("a2b", choices=("a2b", "b2a"),
                                   help="the direction paint.translate takes by default")
    image_size: int = param(128, min=32, max=1024,
                            help="training crop in pixels (published: 256; 128 trains about "
                                 "four times faster and still translates at any size)")
    ngf: int = param(32, min=8, max=128, help="generator width (published: 64)")
    n_blocks: int = param(9, min=1, max=16, help="residual blocks (published: 9 at 256 px, "
                                                 "6 at 128 px)")
    upsample: str = param("resize", choices=UPSAMPLES,
                          help="the decoder's upsampling: resize-convolutions (no checkerboard "
                               "grain) or transposed convolutions (the published layout)")
    ndf: int = param(64, min=8, max=128, advanced=True, help="critic width (published: 64)")
    steps: int = param(20000, min=1, max=10_000_000, help="training steps (one batch each)")
    batch_size: int = param(1, min=1, max=64, advanced=True, help="pictures per step "
                                                                  "(published: 1)")
    lr: float = param(2e-4, min=0.0, max=1.0, advanced=True, help="Adam learning rate")
    decay_from: float = param(0.5, min=0.0, max=1.0, advanced=True,
                              help="share of the steps after which the rate falls linearly "
                                   "to 0 (published: half)")
    cycle_weight: float = param(10.0, min=0.0, max=1000.0, advanced=True,
                                help="lambda of the cycle losses")
    identity_weight: float = param(0.5, min=0.0, max=10.0, advanced=True,
                                   help="identity loss, as a share of lambda (0: none)")
    pool_size: int = param(50, min=0, max=1000, advanced=True,
                           help="earlier fakes each critic also sees (0: none)")
    precision: str = param("auto", choices=("auto", "fp32", "bf16"), advanced=True,
                           help="bf16 autocast with channels-last convolutions (auto: where "
                                "the device computes bf16 natively: CUDA, or CPUs with AMX / "
                                "AVX512-BF16)")
    eval_interval: int = param(500, min=1, max=1_000_000, advanced=True,
                               help="steps between samples, checkpoints and saving the model")
    max_images: int = param(5000, min=1, max=1_000_000, advanced=True,
                            help="pictures read from each folder at most")
    resume: bool = param(False, help="continue from this model's checkpoint")
    start_from: str | None = param(None, model="paint", architecture=CYCLEGAN,
                                   help="begin with this CycleGAN model's weights (fine-tune "
                                        "it on your folders); its network's shape is used")
    licence: str = param("", help="licence of the training pictures, for the model card")
    training_data: str = param("", help="what the pictures are, for the model card")


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def read_folder(folder: Path, load_size: int, limit: int) -> tuple[list[np.ndarray], list[str]]:
    """The pictures of ``folder`` (sorted by name, at most ``limit``) with their short side
    scaled to ``load_size``; and a note per file that could not be read."""
    import numpy as np
    from PIL import Image

    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(f for f in folder.iterdir()
                   if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())[:limit]
    pictures, problems = [], []
    for f in files:
        try:
            img = _read_image(f)
        except (ValueError, OSError) as exc:
            problems.append(str(exc))
            continue
        h, w = img.shape[:2]
        s = load_size / min(h, w)
        size = (max(load_size, round(w * s)), max(load_size, round(h * s)))
        pictures.append(np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC)))
    if not pictures:
        raise ValueError(f"{folder} holds no pictures that can be read"
                         + (f" ({problems[0]})" if problems else ""))
    return pictures, problems


def _read_image(path: Path) -> np.ndarray:
    try:
        from studio.imageio import read_image
    except ImportError:  # the Pillow reader is on its way
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    return read_image(path)


def random_batch(pictures: list[np.ndarray], size: int, batch: int, rng: np.random.Generator,
                 device: str) -> torch.Tensor:
    """(batch, 3, size, size) random crops, each flipped at random, in [-1, 1]."""
    import numpy as np
    import torch

    crops = []
    for i in rng.integers(len(pictures), size=batch):
        p = pictures[i]
        y = rng.integers(p.shape[0] - size + 1)
        x = rng.integers(p.shape[1] - size + 1)
        c = p[y:y + size, x:x + size]
        crops.append(c[:, ::-1] if rng.random() < 0.5 else c)
    x = torch.from_numpy(np.ascontiguousarray(np.stack(crops))).to(device)
    return x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def centre_crops(pictures: list[np.ndarray], size: int, device: str) -> torch.Tensor:
    """The centre crop of each picture, in [-1, 1] (the sample grid's fixed inputs)."""
    import numpy as np
    import torch

    out = []
    for p in pictures:
        y, x = (p.shape[0] - size) // 2, (p.shape[1] - size) // 2
        out.append(p[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(out)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


class ImagePool:
    """Shrivastava et al.'s history of fakes: once full, each new fake is, half the time, swapped
    with a random earlier one, which the critic then sees instead."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, fakes: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        import torch

        if self.size == 0:
            return fakes
        out = []
        for img in fakes.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif rng.random() < 0.5:
                i = int(rng.integers(self.size))
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)

    def tensors(self) -> dict[str, torch.Tensor]:
        import torch

        return {"images": torch.cat(self.images)} if self.images else {}

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self.images = list(tensors["images"].split(1)) if "images" in tensors else []


def sample_grid(g_ab: Generator, g_ba: Generator, a: torch.Tensor, b: torch.Tensor,
                autocast: Any) -> np.ndarray:
    """One uint8 picture: a row per sample, A | A to B | back to A, then B | B to A | back."""
    import torch

    rows = []
    with torch.no_grad(), autocast:
        for x, there, back in ((a, g_ab, g_ba), (b, g_ba, g_ab)):
            y = there(x).float()
            rows += [torch.cat([x[i], y[i], back(y[i:i + 1]).float()[0]], 2)
                     for i in range(x.shape[0])]
    grid = torch.cat(rows, 1)
    return ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def model_tensors(g_ab: Generator, g_ba: Generator) -> dict[str, torch.Tensor]:
    return {**{f"a2b.{k}": v for k, v in g_ab.state_dict().items()},
            **{f"b2a.{k}": v for k, v in g_ba.state_dict().items()}}


def write_model_folder(folder: Path, g_ab: Generator, g_ba: Generator, config: dict[str, Any],
                       **card_fields: Any) -> ModelCard:
    """``model.safetensors`` (fp16, both generators) and ``card.json``."""
    from studio.models import ModelCard, ModelFile, card_path, sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "model.safetensors"
    save_tensors(fp16_tensors(model_tensors(g_ab, g_ba)), f, metadata={"format": "pt"})
    card = ModelCard(id=folder.name, capability="paint", architecture=ARCHITECTURE,
                     config=config, files=[ModelFile(f.name, sha256_file(f), f.stat().st_size)],
                     folder=folder, **{"title": folder.name, "licence": "unknown",
                                       "training_data": "unknown", **card_fields})
    card.save(card_path(folder))
    return card


def paint_train(p: TrainParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from studio_paint.cyclegan import (
        Discriminator,
        Generator,
        ResizeConv,
        init_weights,
        lsgan_loss,
        resize_from_transpose,
    )
    from studio_paint.loading import upsample_of

    if not ID_RE.match(p.model_id):
        raise ValueError(f"--model-id {p.model_id!r}: use letters, digits, '.', '_' or '-'")
    if p.image_size % 4:
        raise ValueError(f"--image-size {p.image_size}: use a multiple of 4")
    device = ctx.device
    folder = user_models_dir(ctx) / p.model_id
    state_dir = folder / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no checkpoint for {p.model_id}; starting afresh", "warning")
    start = starting_point(ctx, p.start_from, saved, p.model_id, "paint", ARCHITECTURE)
    if start.warning:
        yield Log(start.warning, "warning")
    if saved is not None:
        shape = {"upsample": "transpose"} | saved["shape"]
    elif start.card is not None:
        shape = ({k: int(start.card.config[k]) for k in ("ngf", "n_blocks")}
                 | {"ndf": p.ndf, "upsample": p.upsample})
    else:
        shape = {"ngf": p.ngf, "n_blocks": p.n_blocks, "ndf": p.ndf, "upsample": p.upsample}
    size = saved.get("image_size", p.image_size) if saved is not None else p.image_size
    seed = saved["seed"] if saved is not None else ctx.seed

    yield Progress(None, "reading the pictures")
    load_size = size * 286 // 256
    data_a, problems_a = read_folder(p.data_a, load_size, p.max_images)
    data_b, problems_b = read_folder(p.data_b, load_size, p.max_images)
    for problem in problems_a + problems_b:
        yield Log(f"skipped: {problem}", "warning")
    yield Log(f"{len(data_a)} pictures of {p.name_a}, {len(data_b)} of {p.name_b}; "
              f"{size} px crops")

    g = ctx.torch_generator()
    g_ab, g_ba = (Generator(shape["ngf"], shape["n_blocks"], shape["upsample"])
                  for _ in range(2))
    d_a, d_b = Discriminator(shape["ndf"]), Discriminator(shape["ndf"])
    for net in (g_ab, g_ba, d_a, d_b):
        init_weights(net, torch.Generator().manual_seed(int(torch.randint(2**31, (1,),
                                                                          generator=g))))
    if start.weights is not None:
        assert start.card is not None
        converted = upsample_of(start.card) != shape["upsample"]
        if converted and shape["upsample"] != "resize":
            raise ValueError(f"--upsample {shape['upsample']}: {start.name} has resize-"
                             "convolutions, which have no transposed equivalent")
        for prefix, net in (("a2b.", g_ab), ("b2a.", g_ba)):
            state = {k[len(prefix):]: v.float() for k, v in start.weights.items()
                     if k.startswith(prefix)}
            if converted:  # the closest resize-convolutions to its transposed ones
                for k in (k for k, m in net.named_modules() if isinstance(m, ResizeConv)):
                    state[f"{k}.weight"] = resize_from_transpose(state[f"{k}.weight"])
            net.load_state_dict(state)
        yield Log(f"starting from the weights of {start.name}"
                  + (" (its transposed convolutions refitted as resize-convolutions)"
                     if converted else ""))
    bf16 = use_bf16(p.precision, device)
    memory = torch.channels_last if bf16 else torch.contiguous_format
    nets = [n.to(device, memory_format=memory) for n in (g_ab, g_ba, d_a, d_b)]
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=p.lr,
                             betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=p.lr,
                             betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(p.pool_size), ImagePool(p.pool_size)
    rng = np.random.default_rng(seed)
    step, seconds, history = 0, 0.0, []
    if saved is not None:
        for name, net in zip(("g_ab", "g_ba", "d_a", "d_b"), nets, strict=True):
            net.load_state_dict(saved[name])
        restore_optimizer(opt_g, saved["opt_g"], saved["groups_g"])
        restore_optimizer(opt_d, saved["opt_d"], saved["groups_d"])
        pool_a.restore(saved["pool_a"])
        pool_b.restore(saved["pool_b"])
        restore_rng(g, saved["rng"])
        rng.bit_generator.state = saved["numpy_rng"]
        step, seconds, history = saved["step"], saved["train_seconds"], saved["history"]
        yield Log(f"resuming {p.model_id} at step {step}")
    params_g = sum(x.numel() for x in g_ab.parameters())
    yield Log(f"two generators of {params_g / 1e6:.2f}M parameters, two critics of "
              f"{sum(x.numel() for x in d_a.parameters()) / 1e6:.2f}M, on {device}"
              + (" (bfloat16 products, float32 weights)" if bf16 else ""))

    command = command_line(TRAIN, replace(p, ngf=shape["ngf"], n_blocks=shape["n_blocks"],
                                          ndf=shape["ndf"], upsample=shape["upsample"],
                                          image_size=size,
                                          start_from=start.name or None), seed)
    licence = (p.licence or f"the licence of the training pictures applies ({p.data_a}, "
                            f"{p.data_b})") + base_licence(ctx, start.name)
    training_data = p.training_data or (f"{len(data_a)} pictures of {p.name_a} ({p.data_a}) "
                                        f"and {len(data_b)} of {p.name_b} ({p.data_b})")
    config = {"ngf": shape["ngf"], "n_blocks": shape["n_blocks"], "upsample": shape["upsample"],
              "domains": {"a": p.name_a, "b": p.name_b}, "default_direction": p.default_direction,
              "train_size": size}
    fixed_a = centre_crops(data_a[:SAMPLES], size, device)
    fixed_b = centre_crops(data_b[:SAMPLES], size, device)

    def save_all(quality: dict[str, Any]) -> None:
        og, groups_g = optimizer_tensors(opt_g)
        od, groups_d = optimizer_tensors(opt_d)
        parts = {"g_ab": g_ab.state_dict(), "g_ba": g_ba.state_dict(), "d_a": d_a.state_dict(),
                 "d_b": d_b.state_dict(), "opt_g": og, "opt_d": od,
                 "pool_a": pool_a.tensors(), "pool_b": pool_b.tensors()}
        save_checkpoint(state_dir, step, parts,
                        {"shape": shape, "image_size": size, "seed": seed,
                         "train_seconds": seconds, "groups_g": groups_g, "groups_d": groups_d,
                         "rng": rng_state(g), "numpy_rng": rng.bit_generator.state,
                         "history": history, "start_from": start.name})
        desc = (f"CycleGAN (two ResNet generators of {params_g / 1e6:.1f}M parameters, ngf "
                f"{shape['ngf']}, {shape['n_blocks']} blocks, {shape['upsample']} "
                f"upsampling) between {p.name_a} and "
                f"{p.name_b}, trained with paint.train on {size} px crops for {step} steps "
                f"({seconds / 60:.0f} min on {device}).")
        if start.name:
            desc += f" It began with the weights of {start.name}."
        write_model_folder(folder, g_ab, g_ba, config, title=p.model_id, licence=licence,
                           training_data=training_data, command=command, quality=quality,
                           description=desc)

    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    lam, idt = p.cycle_weight, p.identity_weight * p.cycle_weight
    sums = dict.fromkeys(LOSSES, 0.0)
    count = 0
    started = time.perf_counter()
    decay_start = int(p.steps * p.decay_from)
    for net in nets:
        net.train()
    while step < p.steps:
        rate = p.lr * (1.0 if step < decay_start
                       else max(0.0, 1 - (step - decay_start) / max(1, p.steps - decay_start)))
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = rate
        real_a = random_batch(data_a, size, p.batch_size, rng, device)
        real_b = random_batch(data_b, size, p.batch_size, rng, device)
        if bf16:
            real_a = real_a.contiguous(memory_format=memory)
            real_b = real_b.contiguous(memory_format=memory)
        # generators: fool both critics, come back whole, leave the other domain alone
        for d in (d_a, d_b):
            d.requires_grad_(False)
        with autocast:
            fake_b, fake_a = g_ab(real_a), g_ba(real_b)
            adv = lsgan_loss(d_b(fake_b), True) + lsgan_loss(d_a(fake_a), True)
            cycle = (F.l1_loss(g_ba(fake_b).float(), real_a)
                     + F.l1_loss(g_ab(fake_a).float(), real_b))
            identity = (F.l1_loss(g_ab(real_b).float(), real_b)
                        + F.l1_loss(g_ba(real_a).float(), real_a)) if idt > 0 else adv * 0
            loss_g = adv + lam * cycle + idt * identity
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for d in (d_a, d_b):
            d.requires_grad_(True)
        # critics: real against fakes from the pool, halved as published
        old_b, old_a = pool_b.query(fake_b.float(), rng), pool_a.query(fake_a.float(), rng)
        with autocast:
            loss_d = 0.5 * (lsgan_loss(d_b(real_b), True) + lsgan_loss(d_b(old_b), False)
                            + lsgan_loss(d_a(real_a), True) + lsgan_loss(d_a(old_a), False))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        for key, value in zip(LOSSES, (adv, loss_d, cycle, identity), strict=True):
            sums[key] += value.item()
        count += 1
        step += 1
        yield Progress(step / p.steps, f"step {step}/{p.steps} generator {adv.item():.3f} "
                                       f"critic {loss_d.item():.3f} cycle {cycle.item():.3f}")
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            point = {"step": step, **{k: round(v / count, 4) for k, v in sums.items()},
                     "minutes": round(seconds / 60, 1)}
            history.append(point)
            sums, count = dict.fromkeys(LOSSES, 0.0), 0
            for net in nets:
                net.eval()
            grid = sample_grid(g_ab, g_ba, fixed_a, fixed_b, autocast)
            for net in nets:
                net.train()
            save_all({"steps": step, "train_minutes": round(seconds / 60, 1),
                      "losses": {k: point[k] for k in LOSSES}})
            yield Log(f"step {step}: " + ", ".join(f"{k} {point[k]:.3f}" for k in LOSSES)
                      + f" ({point['minutes']} min)")
            yield Preview({**point, "sample": grid}, label=f"step {step}")
            started = time.perf_counter()
    yield Log(f"{p.model_id} saved to {folder}")


TRAIN = Task("paint.train", "Train CycleGAN", TrainParams, paint_train,
             "Trains CycleGAN on two folders of unpaired pictures, both directions at once.",
             grad=True)
