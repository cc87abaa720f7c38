"""``paint.train-style``: train a fast style model (``fast_style.TransformerNet``) on one
painting, with photos as content (Johnson et al. 2016).

Each step paints a batch of random crops of the photos; the loss network of ``paint.style``
(the ImageNet VGG19 when installed, else the random-weight VGG19 with the softmax transform)
compares the paintings with the photos (content: their features) and with the painting (style:
Gram matrices), each layer's error relative as in ``style.Targets``: divided by the photo's own
distance from the painting's Gram matrix, so a style loss of 1 means "as far from the painting
as the photo". Adam, bfloat16 autocast on CPUs that have it.

Every ``eval_interval`` steps a sample is shown (a fixed photo painted), a checkpoint is written
(``--resume`` continues from it) and the model folder is written as it then is: fp16
``model.safetensors``, ``style.jpg`` (the painting, for the panel's strip) and ``card.json``
with the command, the steps, the time and the losses on held-out photos.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import UserError
from studio.tasks import Context, Event, Log, Preview, Progress, Task, param
from studio.training import (
    command_line,
    fp16_tensors,
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    restore_rng,
    rng_state,
    save_checkpoint,
    save_tensors,
    user_models_dir,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.models import ModelCard
    from studio_paint.fast_style import FastStyleConfig, TransformerNet
    from studio_paint.style import VGG19Features

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STATE_DIR = "train_state"
LOAD_SIZE = 256  # photos are scaled so their short side is this, then cropped
HELD_OUT = 4  # photos kept out of training to measure the model on


@dataclass
class TrainStyleParams:
    style: Path = param(help="the painting whose style to learn",
                        filter="Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
    photos: str = param(help="folders of photos to learn on, separated by commas")
    model_id: str = param("paint.fast_mine", help="name of the trained model")
    width: int = param(16, min=4, max=128, advanced=True,
                       help="channels of the first layer (the published network: 32)")
    blocks: int = param(5, min=1, max=16, advanced=True, help="residual blocks")
    crop: int = param(192, min=32, max=1024, help="training crops, px a side")
    style_size: int = param(384, min=32, max=2048,
                            help="long side the painting is seen at: the brushwork's scale "
                                 "in the paintings the model makes")
    batch_size: int = param(4, min=1, max=64, advanced=True)
    steps: int = param(1000, min=1, max=10_000_000)
    lr: float = param(1e-3, min=0.0, max=1.0, advanced=True, help="Adam's learning rate")
    style_weight: float = param(20.0, min=0.0, max=1e9)
    content_weight: float = param(1.0, min=0.0, max=1e9)
    tv_weight: float = param(0.0, min=0.0, max=1e9, advanced=True)
    content_layers: str = param("relu2_2", advanced=True, help="as paint.style's")
    style_layers: str = param("relu1_1,relu2_1,relu3_1,relu4_1", advanced=True,
                              help="as paint.style's")
    network: str = param("auto", choices=("auto", "vgg19", "random-softmax", "random"),
                         help="the loss network (as paint.style's --network)")
    temperature: float = param(3.0, min=0.01, max=1000.0, advanced=True,
                               help="the softmax transform's (as paint.style's)")
    pool: str = param("avg", choices=("avg", "max"), advanced=True,
                      help="the loss network's pooling (as paint.style's --pool)")
    precision: str = param("auto", choices=("auto", "bf16", "fp32"), advanced=True)
    eval_interval: int = param(100, min=1, max=1_000_000, advanced=True,
                               help="steps between samples, checkpoints and model updates")
    resume: bool = param(False, help="continue from this model's checkpoint")
    licence: str = param("", help="licence of the painting and photos, for the model card")


# ---------------------------------------------------------------------------------------------
# Data.


def read_photos(folders: str) -> tuple[list[np.ndarray], list[str]]:
    """Every picture in the comma-separated ``folders``, short side scaled to ``LOAD_SIZE``;
    and their names. Unreadable files are skipped (a warning each is the caller's)."""
    import numpy as np
    from PIL import Image

    from studio.imageio import IMAGE_SUFFIXES, read_image

    names = [f.strip() for f in folders.split(",") if f.strip()]
    if not names:
        raise UserError("--photos: name at least one folder of photos")
    pictures, labels = [], []
    for name in names:
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise UserError(f"--photos: {folder} is not a folder")
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES or f.name.startswith("."):
                continue
            try:
                img = read_image(f)
            except UserError:
                continue
            h, w = img.shape[:2]
            s = LOAD_SIZE / min(h, w)
            size = (max(LOAD_SIZE, round(w * s)), max(LOAD_SIZE, round(h * s)))
            pictures.append(np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC)))
            labels.append(f"{folder.name}/{f.name}")
    if len(pictures) < 2:
        raise UserError(f"--photos: {len(pictures)} readable photo(s) in {folders}; "
                        "give at least 2")
    return pictures, labels


def random_crops(pictures: list[np.ndarray], size: int, batch: int, rng: np.random.Generator
                 ) -> torch.Tensor:
    """(batch, 3, size, size) in [0, 1]: random crops of random pictures, flipped at random."""
    import numpy as np
    import torch

    crops = []
    for i in rng.integers(len(pictures), size=batch):
        p = pictures[i]
        size_ = min(size, p.shape[0], p.shape[1])
        y = rng.integers(p.shape[0] - size_ + 1)
        x = rng.integers(p.shape[1] - size_ + 1)
        c = p[y:y + size_, x:x + size_]
        if size_ != size:
            from PIL import Image

            c = np.asarray(Image.fromarray(c).resize((size, size), Image.BICUBIC))
        crops.append(c[:, ::-1] if rng.random() < 0.5 else c)
    x = torch.from_numpy(np.ascontiguousarray(np.stack(crops)))
    return x.permute(0, 3, 1, 2).float() / 255


# ---------------------------------------------------------------------------------------------
# The loss.


class PerceptualLoss:
    """Content and style losses of a batch against its photos and one painting, relative as
    in ``style.Targets``."""

    def __init__(self, net: VGG19Features, content_layers: tuple[str, ...],
                 style_layers: tuple[str, ...], softmax: bool, temperature: float,
                 painting: torch.Tensor, bf16: bool):
        from studio_paint.style import layer_index

        self.net, self.softmax, self.temperature, self.bf16 = net, softmax, temperature, bf16
        self.content_taps = [layer_index(n) for n in content_layers]
        self.style_taps = [layer_index(n) for n in style_layers]
        taps = self.content_taps + self.style_taps
        self.order = sorted(set(taps), key=taps.index)
        import torch

        with torch.no_grad():
            feats = self.features(painting)
            self.grams = [self._gram(feats[i]) for i in self.style_taps]
        self.far = [torch.ones(()) for _ in self.style_taps]

    def _gram(self, f: torch.Tensor) -> torch.Tensor:
        from studio_paint.style import gram

        return gram(f)

    def features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        import torch

        from studio_paint.style import rows, softmax_transform

        if self.bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            feats = [rows(f) for f in self.net(x, self.order)]
        if self.softmax:
            feats = [softmax_transform(f, self.temperature) for f in feats]
        return dict(zip(self.order, feats, strict=True))

    def __call__(self, painted: torch.Tensor, photos: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(content, style) losses, each averaged over the batch and the layers."""
        import torch

        with torch.no_grad():
            ref = self.features(photos)
        out = self.features(painted)
        content = 0.0
        for i in self.content_taps:
            target = ref[i].float()
            spread = (target - target.mean((1, 2), keepdim=True)).pow(2).sum((1, 2))
            err = (out[i].float() - target).pow(2).sum((1, 2))
            content = content + (err / spread.clamp_min(1e-12)).mean()
        style = 0.0
        for i, g, far in zip(self.style_taps, self.grams, self.far, strict=True):
            err = (self._gram(out[i]) - g).pow(2).sum((1, 2))
            style = style + (err / far).mean()
        return content / len(self.content_taps), style / len(self.style_taps)

    def calibrate(self, photos: torch.Tensor) -> None:
        """Each style layer's scale: the mean squared distance of ``photos``' Gram matrices
        from the painting's (fixed for the run, so one photo close to the painting cannot make
        a batch's loss explode)."""
        import torch

        with torch.no_grad():
            feats = self.features(photos)
            self.far = [(self._gram(feats[i]) - g).pow(2).sum((1, 2)).mean().clamp_min(1e-12)
                        for i, g in zip(self.style_taps, self.grams, strict=True)]


# ---------------------------------------------------------------------------------------------
# The model folder.


def write_model_folder(folder: Path, net: TransformerNet, cfg: FastStyleConfig,
                       painting: np.ndarray, config: dict[str, Any], **card_fields: Any
                       ) -> ModelCard:
    """``model.safetensors`` (fp16), ``style.jpg`` and ``card.json`` (written last)."""
    from studio.atomic import write_atomic
    from studio.imageio import write_image
    from studio.models import ModelCard, ModelFile, card_path, sha256_file
    from studio_paint.fast_style import ARCHITECTURE
    from studio_paint.style import fit, resize, to_image, to_tensor

    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "model.safetensors"
    save_tensors(fp16_tensors(net.state_dict()), f, metadata={"format": "pt"})
    h, w = painting.shape[:2]
    small = to_image(resize(to_tensor(painting), fit(h, w, min(512, max(h, w)))))
    s = folder / "style.jpg"
    write_atomic(s, write_image(small, "jpeg"))
    files = [ModelFile(x.name, sha256_file(x), x.stat().st_size) for x in (f, s)]
    card = ModelCard(id=folder.name, capability="paint", architecture=ARCHITECTURE,
                     config={**cfg.to_dict(), **config, "style_image": s.name}, files=files,
                     folder=folder, **{"title": folder.name, "licence": "unknown",
                                       "training_data": "unknown", **card_fields})
    card.save(card_path(folder))
    return card


def measure(net: TransformerNet, loss: PerceptualLoss, photos: list[np.ndarray], size: int,
            bf16: bool, device: str) -> dict[str, float]:
    """Content and style losses of the model's paintings of ``photos`` (centre crops of
    ``size``), and the photos' own style loss (1 by construction) for reference."""
    import torch

    from studio_paint.style import fit, resize, to_tensor

    crops = []
    for p in photos:
        y, x = (p.shape[0] - size) // 2, (p.shape[1] - size) // 2
        crops.append(to_tensor(p[max(0, y):max(0, y) + size, max(0, x):max(0, x) + size]))
    batch = torch.cat(crops).to(device)
    net.eval()
    with torch.no_grad(), torch.autocast(batch.device.type, dtype=torch.bfloat16, enabled=bf16):
        painted = net(batch).float().clamp(0, 1)
        content, style = loss(painted, batch)
        big = resize(to_tensor(photos[0]), fit(*photos[0].shape[:2], 512)).to(device)
        started, cpu = time.perf_counter(), time.process_time()
        net(big)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    net.train()
    return {"content_loss": round(float(content), 4), "style_loss": round(float(style), 4),
            "seconds_per_512px": round(seconds, 2), "cpu_seconds_per_512px": round(cpu, 2),
            "threads": torch.get_num_threads()}


# ---------------------------------------------------------------------------------------------
# The task.


def train_style(p: TrainStyleParams, ctx: Context) -> Iterator[Event]:
    import numpy as np
    import torch

    from studio.device import use_bf16
    from studio_paint.fast_style import FastStyleConfig, TransformerNet, parameter_count
    from studio_paint.style import depth_for, fit, parse_layers, resize, to_image, to_tensor
    from studio_paint.style_tasks import feature_network, read_picture, receptive_field

    if not ID_RE.match(p.model_id):
        raise UserError(f"--model-id {p.model_id!r}: use letters, digits, '.', '_' or '-'")
    content_layers = parse_layers(p.content_layers, "content")
    style_layers = parse_layers(p.style_layers, "style")
    painting = read_picture(p.style, "painting")
    depth = depth_for(content_layers + style_layers)
    if max(painting.shape[:2]) < receptive_field(depth):
        yield Log(f"{p.style.name} is {painting.shape[1]}x{painting.shape[0]} px, smaller than "
                  f"what the deepest layer sees ({receptive_field(depth)} px): it is enlarged",
                  "warning")
    yield Progress(None, "reading the photos")
    pictures, labels = read_photos(p.photos)
    held = max(1, min(HELD_OUT, len(pictures) // 10))
    rng_split = np.random.default_rng(0)  # the same held-out photos on every run
    order = rng_split.permutation(len(pictures))
    test = [pictures[i] for i in order[:held]]
    train = [pictures[i] for i in order[held:]]
    yield Log(f"{len(train)} photos to learn on, {held} held out to measure on")

    folder = user_models_dir(ctx) / p.model_id
    state_dir = folder / STATE_DIR
    saved = read_checkpoint(state_dir) if p.resume else None
    if p.resume and saved is None:
        yield Log(f"no checkpoint for {p.model_id}; starting afresh", "warning")
    cfg = (FastStyleConfig.from_dict(saved["config"]) if saved is not None
           else FastStyleConfig(width=p.width, n_blocks=p.blocks))
    device = ctx.device
    bf16 = use_bf16(p.precision, device)
    network = saved["network"] if saved is not None else p.network
    pool = saved.get("pool", "max") if saved is not None else p.pool  # max: before it was kept
    net_info = feature_network(ctx, network, depth, pool, None, p.temperature)
    yield Log(f"loss network: {net_info.description}")
    vgg = net_info.net.to(device).eval().requires_grad_(False)
    if bf16:
        vgg = vgg.to(memory_format=torch.channels_last)
    h, w = painting.shape[:2]
    style_t = resize(to_tensor(painting), fit(h, w, p.style_size)).to(device)
    loss_fn = PerceptualLoss(vgg, content_layers, style_layers, net_info.softmax,
                             p.temperature, style_t, bf16)
    calibration = np.random.default_rng(1)  # the same crops on every run and resume
    loss_fn.calibrate(random_crops(train, p.crop, 16, calibration).to(device))

    g = torch.Generator().manual_seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    model = TransformerNet(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    rng = np.random.default_rng(ctx.seed)
    step, seconds, cpu_seconds, seed, history = 0, 0.0, 0.0, ctx.seed, []
    if saved is not None:
        model.load_state_dict(saved["model"])
        restore_optimizer(opt, saved["opt"], saved["groups"])
        restore_rng(g, saved["rng"])
        rng.bit_generator.state = saved["numpy_rng"]
        step, seconds, seed = saved["step"], saved["train_seconds"], saved["seed"]
        history = saved.get("history", [])
        cpu_seconds = saved.get("cpu_seconds", 0.0)
        yield Log(f"resuming {p.model_id} at step {step}")
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    yield Log(f"{parameter_count(model):,} parameters ({cfg.width} wide, {cfg.n_blocks} "
              f"blocks), crops of {p.crop} px, batches of {p.batch_size}, on {device}"
              + (", bf16" if bf16 else ""))

    command = command_line(TRAIN_STYLE, replace(p, pool=pool), seed)
    licence = p.licence or ("the licences of the painting and of the photos apply "
                            f"({p.style}; {p.photos})")
    sample = to_tensor(test[0]).to(device)

    def save_all(quality: dict[str, Any]) -> ModelCard:
        tensors, groups = optimizer_tensors(opt)
        save_checkpoint(state_dir, step, {"model": model.state_dict(), "opt": tensors},
                        {"config": cfg.to_dict(), "seed": seed, "train_seconds": seconds,
                         "groups": groups, "rng": rng_state(g), "network": net_info.name,
                         "pool": pool,
                         "cpu_seconds": cpu_seconds,
                         "numpy_rng": rng.bit_generator.state, "history": history})
        desc = (f"Johnson et al.'s feed-forward network ({parameter_count(model) / 1e6:.2f}M "
                f"parameters) painting in the style of {p.style.stem}, trained with "
                f"paint.train-style for {step} steps ({seconds / 60:.0f} min, "
                f"{cpu_seconds / 60:.0f} CPU-minutes, on {device}) "
                f"with {net_info.name} as the loss network.")
        config = {"style": p.style.stem, "train_size": p.crop, "style_size": p.style_size,
                  "loss_network": net_info.name, "temperature": p.temperature,
                  "pool": pool}
        return write_model_folder(folder, model, cfg, painting, config, title=p.model_id,
                                  licence=licence, command=command, quality=quality,
                                  description=desc,
                                  training_data=f"{len(train)} photos from {p.photos}; the "
                                                f"painting {p.style.name}")

    model.train()
    started, cpu_started = time.perf_counter(), time.process_time()
    losses: list[tuple[float, float]] = []
    while step < p.steps:
        x = random_crops(train, p.crop, p.batch_size, rng).to(device)
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            y = model(x)
        content, style = loss_fn(y.float(), x)
        loss = p.content_weight * content + p.style_weight * style
        if p.tv_weight > 0:
            from studio_paint.style import total_variation

            loss = loss + p.tv_weight * total_variation(y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is not a number at step {step + 1}; lower "
                                     "--lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        losses.append((float(content.detach()), float(style.detach())))
        yield Progress(step / p.steps, f"step {step}/{p.steps} content {losses[-1][0]:.3f} "
                                       f"style {losses[-1][1]:.3f}")
        yield Preview({"step": step, "loss": round(float(loss.detach()), 5)})
        if step % p.eval_interval == 0 or step == p.steps:
            seconds += time.perf_counter() - started
            cpu_seconds += time.process_time() - cpu_started
            mean = np.mean(losses, 0) if losses else (0.0, 0.0)
            history.append({"step": step, "content": round(float(mean[0]), 4),
                            "style": round(float(mean[1]), 4)})
            losses.clear()
            held_out = measure(model, loss_fn, test, p.crop, bf16, device)
            with torch.no_grad(), torch.autocast(device.split(":")[0], dtype=torch.bfloat16,
                                                 enabled=bf16):
                model.eval()
                shown = model(sample).float().clamp(0, 1)
                model.train()
            yield Preview(to_image(torch.cat([sample, shown], 3).cpu()),
                          f"step {step}: photo | painted")
            quality = {"steps": step, "train_minutes": round(seconds / 60, 1),
                       "train_cpu_minutes": round(cpu_seconds / 60, 1),
                       "held_out_photos": held, **held_out,
                       "note": "losses on held-out photos under the loss network, relative: "
                               "style 1 = as far from the painting as the photo itself, "
                               "content 0 = the photo's features kept"}
            card = save_all(quality)
            yield Log(f"step {step}: train content {mean[0]:.3f} style {mean[1]:.3f}; held out "
                      f"content {held_out['content_loss']:.3f} style "
                      f"{held_out['style_loss']:.3f}; saved {card.id}")
            started, cpu_started = time.perf_counter(), time.process_time()


TRAIN_STYLE = Task("paint.train-style", "Train a fast style", TrainStyleParams, train_style,
                   "Trains a fast style model on one painting and a folder of photos "
                   "(Johnson et al.), resumable; paint.fast-style then paints with it.",
                   grad=True)
