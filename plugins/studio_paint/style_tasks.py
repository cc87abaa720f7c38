"""``paint.style``: repaint a photo in the style of one painting or several blended (Gatys et
al., coarse to fine, watched as it evolves); ``paint.fast-style``: one pass through a trained
feed-forward model; ``paint.get-vgg19``: the ImageNet VGG19 weights, downloaded or imported.

Which network judges the paintings (``--network``): the ImageNet VGG19 when it is installed
(the best paintings), else a VGG19 with random weights from a fixed seed and the softmax
transform of Wang, Li and Vasconcelos (2021), which needs no download. The run's log names it,
and so does the output's name.

Stopping: an ``Output`` comes only at the end (the host saves it). Every ``--preview-every``
steps a ``Preview`` carries the current picture at the photo's size (capped at 2048 px) and
another the loss (``{"step", "loss"}``), so the panel keeps the last picture when the user
stops; on the command line a lower ``--steps`` does the same job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.device import use_bf16
from studio.errors import UserError
from studio.tasks import Context, Event, Log, Output, Preview, Progress, Task, param
from studio_paint.kinds import FAST_STYLE

if TYPE_CHECKING:
    import numpy as np
    import torch

    from studio.models import ModelCard
    from studio_paint.fast_style import TransformerNet
    from studio_paint.style import Settings, VGG19Features

VGG19_ID = "paint.vgg19"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_PREFIX = "dcbb9e9d"  # torchvision names its files after their sha256's first 8 digits
VGG19_SIZE = 574_673_361
NETWORKS = ("auto", "vgg19", "random-softmax", "random")
COLOURS = ("painting", "luminance", "match")
MIN_SIDE = 16  # px: below this a picture carries no style (nor survives VGG's four pools)
PREVIEW_MAX = 2048  # px: previews at the photo's size up to this long side
FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif)"


def vgg19_card() -> ModelCard:
    """The catalogue entry: the published torchvision file, which PyTorch gives no checksum
    for (its name carries the first 8 hex digits of its sha256, checked by
    ``paint.get-vgg19``): the first download is trusted and recorded. Downloading or importing
    it keeps its convolutional layers only (``convert_vgg19``), as fp16 safetensors."""
    from studio.models import ModelCard, ModelFile

    card = ModelCard(
        id=VGG19_ID, capability="paint", title="VGG19 (ImageNet), for style transfer",
        architecture="vgg19-features",
        config={"layers": 37, "source": "torchvision vgg19 (IMAGENET1K_V1)"},
        files=[ModelFile(VGG19_FILE, "", VGG19_SIZE, VGG19_URL)],
        licence="BSD-3-Clause (torchvision); trained on ImageNet, whose images carry their own "
                "terms",
        training_data="ImageNet ILSVRC-2012 (1.28M images, 1000 classes)",
        command=f"studio run paint.get-vgg19  (or: --file {VGG19_FILE})",
        quality={"imagenet_top1": 72.376, "imagenet_top5": 90.876},
        description="Simonyan and Zisserman's VGG19 trained on ImageNet; paint.style uses its "
                    "convolutional part (20.0M of its 143.7M parameters) to compare pictures. "
                    "548 MB to download, 40 MB once converted.")
    card.convert = convert_vgg19
    return card


def convert_vgg19(state: dict[str, Any], card: Any = None) -> dict[str, Any]:
    """A torchvision VGG19 state dict as the store keeps it: ``features.*`` only, every key and
    shape checked (the classifier's 123.6M parameters are dropped)."""
    from studio.models import shape_problems
    from studio_paint.style import expected_shapes

    features = {k: v for k, v in state.items() if k.startswith("features.")}
    problem = shape_problems(features, expected_shapes())
    if problem:
        raise UserError(f"not torchvision's VGG19: {problem}")
    return features


# ---------------------------------------------------------------------------------------------
# Pictures.


def read_picture(path: Path, what: str) -> np.ndarray:
    """uint8 (H, W, 3) of a picture file, refused with one line when it is unreadable or
    smaller than ``MIN_SIDE`` a side."""
    from studio.imageio import read_image

    image = read_image(path)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserError(f"{what} {Path(path).name} is {w}x{h} px: too small to "
                        f"{'carry a style' if what == 'painting' else 'paint'} (at least "
                        f"{MIN_SIDE} px a side)")
    return image


def photo_files(content: Path) -> list[Path]:
    """``content`` itself, or the pictures in it when it is a folder (one output each)."""
    from studio.imageio import IMAGE_SUFFIXES

    if not content.is_dir():
        return [content]
    files = sorted(p for p in content.iterdir() if p.is_file()
                   and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise UserError(f"--content {content}: the folder holds no pictures")
    return files


def style_list(style: str, weights: str) -> tuple[list[Path], list[float]]:
    """The paintings (comma-separated paths) and their weights (comma-separated numbers, or
    empty for equal weights), checked."""
    paths = [Path(s.strip()).expanduser() for s in style.split(",") if s.strip()]
    if not paths:
        raise UserError("--style: name at least one painting")
    for p in paths:
        if not p.is_file():
            raise UserError(f"--style: no such file: {p}")
    if not weights.strip():
        return paths, [1.0] * len(paths)
    try:
        values = [float(w) for w in weights.split(",") if w.strip()]
    except ValueError:
        raise UserError(f"--style-weights: {weights!r} is not a list of numbers") from None
    if len(values) != len(paths):
        raise UserError(f"--style-weights: {len(values)} weights for {len(paths)} "
                        f"painting{'s' if len(paths) != 1 else ''}; give one each")
    if any(not (v >= 0) or v == float("inf") for v in values) or sum(values) <= 0:
        raise UserError("--style-weights: weights must be 0 or more, and not all 0")
    return paths, values


def preview_size(h: int, w: int) -> tuple[int, int]:
    from studio_paint.style import fit

    return (h, w) if max(h, w) <= PREVIEW_MAX else fit(h, w, PREVIEW_MAX)


# ---------------------------------------------------------------------------------------------
# The feature network.


@dataclass
class Network:
    net: VGG19Features
    name: str  # "vgg19", "random-softmax" or "random": in the output's name
    softmax: bool
    description: str  # a line for the log


def vgg19_installed(ctx: Context) -> bool:
    """The ImageNet weights are in the store in their imported (safetensors) form."""
    store = ctx.models
    if store is None:
        return False
    try:
        card = store.get(VGG19_ID)
    except UserError:
        return False
    return card.weights_sha256 != "" and store.is_installed(card)


def feature_network(ctx: Context, choice: str, depth: int, pool: str = "max",
                    softmax: bool | None = None, temperature: float = 1.0) -> Network:
    """The network ``choice`` names (``NETWORKS``), cut after ``depth`` modules."""
    from studio_paint.style import RANDOM_SEED, VGG19Features, random_weights

    if choice == "auto":
        choice = "vgg19" if vgg19_installed(ctx) else "random-softmax"
    net = VGG19Features(depth, pool)
    if choice == "vgg19":
        if not vgg19_installed(ctx):
            raise UserError("the ImageNet VGG19 is not installed: run `studio run "
                            "paint.get-vgg19` (548 MB) or pick --network random-softmax")
        card, weights = ctx.load_model(VGG19_ID)
        state = {k: v.float() for k, v in weights.items()
                 if k.startswith("features.") and int(k.split(".")[1]) < depth}
        net.load_state_dict(state)
        soft = False if softmax is None else softmax
        return Network(net, "vgg19", soft, "the ImageNet VGG19" + (
            f" with the softmax transform (T {temperature:g})" if soft else ""))
    random_weights(net, RANDOM_SEED)
    soft = choice == "random-softmax" if softmax is None else softmax
    what = f"a VGG19 with random weights (seed {RANDOM_SEED})"
    if pool == "avg":
        what += ", average pooling"
    if soft:
        what += f" and the softmax transform of Wang et al. 2021 (T {temperature:g})"
    return Network(net, "random-softmax" if soft else "random", soft, what)


# ---------------------------------------------------------------------------------------------
# paint.style


@dataclass
class StyleParams:
    content: Path = param(help="the photo to repaint (or a folder: one painting per photo)",
                          filter=FILTER)
    style: str = param(help="the painting whose style to copy; several, separated by commas, "
                            "are blended")
    style_weights: str = param("", help="one weight per painting, separated by commas "
                                        "(empty: equal)")
    size: int = param(512, min=64, max=2048,
                      help="long side in px the picture is painted at; the output is "
                           "enlarged to the photo's size")
    steps: int = param(150, min=1, max=5000,
                       help="optimisation steps in all, shared by the scales (the smallest "
                            "gets the most: 2/3 and 1/3 with two scales)")
    scales: int = param(2, min=1, max=5,
                        help="sizes painted at, each twice the one before, ending at --size "
                             "(1: --size only)")
    style_weight: float = param(100.0, min=0.0, max=1e9,
                                help="how strongly the painting's style is copied")
    content_weight: float = param(1.0, min=0.0, max=1e9,
                                  help="how strongly the photo's shapes are kept")
    colour: str = param("painting", choices=COLOURS,
                        help="painting: the painting's colours; luminance: the photo's "
                             "colours, the style copied in brightness only; match: the "
                             "painting recoloured to the photo's colours first")
    network: str = param("auto", choices=NETWORKS,
                         help="auto: the ImageNet VGG19 if installed (paint.get-vgg19), else "
                              "random weights with the softmax transform; random: without it")
    init: str = param("photo", choices=("photo", "noise"), advanced=True,
                      help="start from the photo or from noise")
    optimizer: str = param("lbfgs", choices=("lbfgs", "adam"), advanced=True,
                           help="L-BFGS converges in fewer steps; Adam is steadier")
    lr: float | None = param(None, min=0.0, max=100.0, advanced=True,
                             help="step size (none: 1 for L-BFGS, 0.02 for Adam)")
    tv_weight: float = param(0.0, min=0.0, max=1e9, advanced=True,
                             help="total variation: smooths pixel noise")
    style_scale: float = param(1.0, min=0.1, max=4.0, advanced=True,
                               help="the painting's size relative to the picture's (larger: "
                                    "bigger brush strokes)")
    content_layers: str = param("relu4_2", advanced=True, help="e.g. relu4_2 or conv4_2")
    style_layers: str = param("relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", advanced=True,
                              help="layers whose Gram matrices are matched, comma-separated")
    temperature: float = param(3.0, min=0.01, max=1000.0, advanced=True,
                               help="the softmax transform's temperature (higher: milder)")
    pool: str = param("avg", choices=("avg", "max"), advanced=True,
                      help="avg: average pooling in place of VGG's max pooling, as Gatys et al. "
                           "advise (with the offline network it paints brush strokes where max "
                           "pooling leaves a fine stipple)")
    precision: str = param("auto", choices=("auto", "bf16", "fp32"), advanced=True,
                           help="bf16: bfloat16 products and channels-last convolutions")
    preview_every: int = param(5, min=1, max=1000, advanced=True,
                               help="steps between pictures shown")


def plan_scales(size: int, scales: int, steps: int) -> tuple[list[int], list[int]]:
    """Long sides (coarse to fine, each half the next, none under 64 px) and each one's
    steps (halving from scale to scale; every scale gets at least one)."""
    sizes = [size]
    while len(sizes) < scales and sizes[0] // 2 >= 64:
        sizes.insert(0, sizes[0] // 2)
    sizes = sizes[-min(len(sizes), steps):]
    shares = [2.0 ** (len(sizes) - 1 - k) for k in range(len(sizes))]
    counts = [max(1, int(steps * s / sum(shares))) for s in shares]
    counts[0] += steps - sum(counts)
    return sizes, counts


def photo_plan(sizes: list[int], counts: list[int], h: int, w: int, long_side: int
               ) -> tuple[list[int], list[int]]:
    """The scales for one photo: each size capped at ``long_side``; a scale whose short side
    would be under ``MIN_SIDE``, or that repeats the one before, gives its steps to the next."""
    from studio_paint.style import fit

    plan: list[int] = []
    steps: list[int] = []
    carry = 0
    for size, count in zip(sizes, counts, strict=True):
        size = min(size, long_side)
        if min(fit(h, w, size)) < MIN_SIDE:
            carry += count
        elif plan and size == plan[-1]:
            steps[-1] += count + carry
            carry = 0
        else:
            plan.append(size)
            steps.append(count + carry)
            carry = 0
    return plan, steps


def settings_of(p: StyleParams, sizes: list[int], steps: list[int], softmax: bool,
                bf16: bool) -> Settings:
    from studio_paint.style import Settings, parse_layers

    return Settings(
        content_layers=parse_layers(p.content_layers, "content"),
        style_layers=parse_layers(p.style_layers, "style"),
        content_weight=p.content_weight, style_weight=p.style_weight, tv_weight=p.tv_weight,
        softmax=softmax, temperature=p.temperature, optimizer=p.optimizer, lr=p.lr,
        init="content" if p.init == "photo" else "noise", colour=p.colour,
        style_scale=p.style_scale, sizes=sizes, steps=steps, bf16=bf16,
        preview_every=p.preview_every)


def paint_style(p: StyleParams, ctx: Context) -> Iterator[Event]:
    import numpy as np

    from studio_paint.style import Stylist, depth_for, fit, parse_layers, resize, to_image
    from studio_paint.style import to_tensor as tensor_of

    if not (p.style_weight > 0 or p.content_weight > 0):
        raise UserError("--style-weight and --content-weight are both 0: nothing to aim at")
    photos = photo_files(p.content)
    style_paths, weights = style_list(p.style, p.style_weights)
    kept = [(s, w) for s, w in zip(style_paths, weights, strict=True) if w > 0]
    paintings = [read_picture(s, "painting") for s, _ in kept]
    layers = parse_layers(p.content_layers, "content") + parse_layers(p.style_layers, "style")
    depth = depth_for(layers)
    receptive = receptive_field(depth)
    for (path, _), img in zip(kept, paintings, strict=True):
        if max(img.shape[:2]) < receptive:
            yield Log(f"{path.name} is {img.shape[1]}x{img.shape[0]} px, smaller than what "
                      f"the deepest layer sees ({receptive} px): it is enlarged, so its "
                      "brushwork comes out blurred", "warning")
    bf16 = use_bf16(p.precision, ctx.device)
    net = feature_network(ctx, p.network, depth, p.pool, None, p.temperature)
    yield Log(f"network: {net.description}")
    if net.name != "vgg19":
        yield Log("the ImageNet VGG19 paints better: `studio run paint.get-vgg19` "
                  "downloads it (548 MB)")
    sizes, counts = plan_scales(p.size, p.scales, p.steps)
    settings = settings_of(p, sizes, counts, net.softmax, bf16)
    yield Log(f"scales {' -> '.join(str(s) for s in sizes)} px, steps {counts}, "
              f"{'bf16 channels-last' if bf16 else 'fp32'}")
    styles = [tensor_of(img) for img in paintings]
    style_names = "+".join(s.stem for s, _ in kept)
    g = ctx.torch_generator()
    total = p.steps * len(photos)
    for n, path in enumerate(photos):
        image = read_picture(path, "photo")
        h, w = image.shape[:2]
        long_side = min(p.size, max(h, w))
        if min(fit(h, w, long_side)) < MIN_SIDE:
            raise UserError(f"photo {path.name} is {w}x{h} px: too narrow to paint at "
                            f"--size {p.size} (its short side would be under {MIN_SIDE} px)")
        settings.sizes, settings.steps = photo_plan(sizes, counts, h, w, long_side)
        if any(np.array_equal(image, img) for img in paintings):
            yield Log(f"{path.name} is also the painting: its style is its own, so the "
                      "picture stays as it is", "warning")
        photo = tensor_of(image)
        plan = settings.sizes
        stylist = Stylist(net.net, photo, styles, [w_ for _, w_ in kept], settings, g,
                          ctx.device)
        shown = preview_size(h, w)
        started = time.perf_counter()
        for step in stylist.run():
            done = n * p.steps + step.done
            yield Progress(done / total, f"{path.name}: {plan[step.scale]} px, step "
                                         f"{step.done}/{step.total}, loss {step.loss:.3g}")
            yield Preview({"step": done, "loss": round(step.loss, 6)})
            if step.image is not None:
                yield Preview(to_image(resize(step.image, shown)),
                              f"step {step.done} of {step.total}")
        result = stylist.output(full_size=(h, w))
        yield Log(f"{path.name}: {p.steps} steps in {time.perf_counter() - started:.1f} s "
                  f"with {net.name}")
        yield Output(to_image(result), name=f"{path.stem}-{style_names}-{net.name}")


def receptive_field(depth: int) -> int:
    """Pixels the last of the first ``depth`` modules of VGG19 sees (3x3 convs, 2x2 pools)."""
    from studio_paint.style import CONV_INDEX, POOL_INDEX

    convs, pools = set(CONV_INDEX.values()), set(POOL_INDEX.values())
    field_, jump = 1, 1
    for i in range(depth):
        if i in convs:
            field_ += 2 * jump
        elif i in pools:
            field_ += jump
            jump *= 2
    return field_


STYLE = Task("paint.style", "Repaint in a painting's style", StyleParams, paint_style,
             "Repaints a photo in the style of one painting or several (Gatys et al.), coarse "
             "to fine, showing the picture as it evolves.", grad=True)


# ---------------------------------------------------------------------------------------------
# paint.fast-style


@dataclass
class FastParams:
    content: Path = param(help="the photo to repaint (or a folder of photos)", filter=FILTER)
    model: str = param("paint.fast_starry_night", model="paint", architecture=FAST_STYLE,
                       help="a fast style model (trained by paint.train-style)")
    size: int | None = param(None, min=64, max=4096,
                             help="long side in px to paint at (none: the photo's own, up to "
                                  "1280); smaller gives bolder brushwork. The output is at "
                                  "the photo's size")
    strength: float = param(1.0, min=0.0, max=1.0, help="1: fully painted; less blends the "
                                                        "photo back in")
    colour: str = param("painting", choices=("painting", "luminance"),
                        help="luminance: keep the photo's colours")
    precision: str = param("auto", choices=("auto", "bf16", "fp32"), advanced=True)


FAST_DEFAULT_MAX = 1280


def load_fast_model(ctx: Context, model_id: str) -> tuple[Any, TransformerNet]:
    """The card and the network of a fast style model, checked."""
    from studio.models import shape_problems
    from studio_paint.fast_style import (
        ARCHITECTURE,
        FastStyleConfig,
        TransformerNet,
        expected_shapes,
    )

    card, weights = ctx.load_model(model_id)
    if card.architecture != ARCHITECTURE:
        raise UserError(f"--model {model_id}: a {card.architecture or 'unknown'} model, not a "
                        f"fast style model ({ARCHITECTURE})")
    cfg = FastStyleConfig.from_dict(card.config)
    problem = shape_problems(weights, expected_shapes(cfg))
    if problem:
        raise UserError(f"--model {model_id}: its weights do not fit its card: {problem}")
    net = TransformerNet(cfg)
    net.load_state_dict({k: v.float() for k, v in weights.items()})
    return card, net.eval()


def stylise(net: TransformerNet, photo: torch.Tensor, bf16: bool) -> torch.Tensor:
    """One pass: (1, 3, H, W) in [0, 1] -> the painting, clamped to [0, 1]."""
    import torch

    x = photo
    if bf16:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    dev = x.device.type
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
        y = net(x)
    return y.float().clamp(0, 1).contiguous()


def paint_fast(p: FastParams, ctx: Context) -> Iterator[Event]:
    from studio_paint.style import fit, resize, to_image, to_tensor, with_colour_of

    photos = photo_files(p.content)
    card, net = load_fast_model(ctx, p.model)
    net = net.to(ctx.device)
    bf16 = use_bf16(p.precision, ctx.device)
    yield Log(f"{card.title or card.id}: {card.description or card.architecture}")
    for n, path in enumerate(photos):
        image = read_picture(path, "photo")
        h, w = image.shape[:2]
        long_side = p.size or min(max(h, w), FAST_DEFAULT_MAX)
        size = fit(h, w, long_side)
        photo = to_tensor(image)
        yield Progress(n / len(photos), f"{path.name}: painting at {size[1]}x{size[0]}")
        started = time.perf_counter()
        painted = stylise(net, resize(photo, size).to(ctx.device), bf16).cpu()
        seconds = time.perf_counter() - started
        out = resize(painted, (h, w))
        if p.colour == "luminance":
            out = with_colour_of(out, photo)
        if p.strength < 1:
            out = p.strength * out + (1 - p.strength) * photo
        yield Log(f"{path.name}: {size[1]}x{size[0]} in {seconds:.2f} s")
        yield Progress((n + 1) / len(photos), f"{path.name} painted")
        yield Output(to_image(out), name=f"{path.stem}-{card.id.split('.')[-1]}")


FAST = Task("paint.fast-style", "Repaint fast (a trained style)", FastParams, paint_fast,
            "Repaints a photo in one pass through a feed-forward model trained on one "
            "painting (Johnson et al.): about a second for a 512 px picture.")


# ---------------------------------------------------------------------------------------------
# paint.get-vgg19


@dataclass
class GetVGGParams:
    file: Path | None = param(None, filter="PyTorch weights (*.pth)",
                              help=f"a local copy of {VGG19_FILE} to import (none: download "
                                   f"it from download.pytorch.org, 548 MB)")


def get_vgg19(p: GetVGGParams, ctx: Context) -> Iterator[Event]:
    """Download (through the store: resumable, trusted on first use) or import the published
    file, check its sha256 begins as its name says, and keep its convolutional layers."""
    from studio.downloads import DownloadParams, download_model
    from studio.models import sha256_file

    store = ctx.models
    if store is None:
        raise UserError("no model store to install into")
    if p.file is None:
        if vgg19_installed(ctx):
            yield Log(f"{VGG19_ID} is already installed")
            yield Progress(1.0, "installed")
            return
        if store.declared(VGG19_ID) is None:  # a store without the plugin's cards
            store.extra_cards.append(vgg19_card())
        yield from download_model(DownloadParams(VGG19_ID), ctx)
        card = store.get(VGG19_ID)
        digest = next((s.get("sha256", "") for s in card.sources
                       if s.get("name") == VGG19_FILE), "")
        if not digest.startswith(VGG19_PREFIX):
            store.remove(VGG19_ID)
            raise UserError(f"the downloaded {VGG19_FILE} has a sha256 beginning "
                            f"{digest[:8] or '?'}, not {VGG19_PREFIX}: not the published file; "
                            "removed")
        return
    yield Progress(None, f"checking {p.file.name}")
    digest = sha256_file(p.file)
    if not digest.startswith(VGG19_PREFIX):
        raise UserError(f"{p.file.name}: its sha256 begins {digest[:8]}, not "
                        f"{VGG19_PREFIX}: not the published {VGG19_FILE}")
    yield Progress(None, "keeping the convolutional layers")
    card = import_vgg19(p.file, ctx)
    yield Log(f"installed {card.id} ({card.size / 1e6:.0f} MB) in {card.folder}")
    yield Progress(1.0, "installed")


def import_vgg19(source: Path, ctx: Context) -> ModelCard:
    """``convert_vgg19`` of a local checkpoint, as fp16 safetensors in the user store."""
    from datetime import UTC, datetime

    from studio.model_import import install_converted
    from studio.models import sha256_file

    record = {"name": source.name, "sha256": sha256_file(source),
              "size": source.stat().st_size, "checksum": "imported",
              "recorded": datetime.now(UTC).isoformat(timespec="seconds")}
    store_dir = ctx.models.user_dir if ctx.models is not None else None
    if store_dir is None:
        from studio import paths

        store_dir = paths.models_dir()
    return install_converted(source, vgg19_card(), store_dir, source=record)


GET_VGG19 = Task("paint.get-vgg19", "Get the ImageNet VGG19", GetVGGParams, get_vgg19,
                 "Downloads (or imports from a file) the ImageNet VGG19 that paint.style "
                 "paints best with; only its convolutional layers are kept (40 MB).")
