"""Speed of Paint, each figure beside a baseline measured in the same run. Prints JSON.

Style (``paint.style``): seconds per optimisation step at 256, 512 and 1024 px (long side of
tubingen.jpg, median of ``--steps`` steps after one that also builds the targets; the two paths
timed in turn ``--repeats`` times, their medians and the median ratio given), the project's
path (a bfloat16 copy of the network and channels-last convolutions where the CPU has them,
the default offline network: random weights, average pooling, the softmax transform) against
plain eager fp32; and the default settings on a 700x460 photo
(tubingen resized) against plain eager fp32 at one scale with the same number of steps
(``--baseline-steps`` runs fewer and projects them), with the loss of both pictures recomputed
in fp32 (does bf16 with coarse-to-fine cost quality?). Fast style (``paint.fast-style``): a
512 px picture with the shipped model, bf16 against fp32.

CycleGAN (``paint.translate``): milliseconds per image at 256, 512 and 1024 px for the published
9-block, 64-wide generator (random weights: speed does not depend on them), the project's path
(``translate.Translation``: bfloat16, channels-last, whole picture) against plain eager fp32
``Generator.forward`` in the same run; the peak memory (resident set) of a 4000x3000 photo
translated at full size in tiles, in a fresh process; and one ``paint.train`` step (both
generators and critics, batch 1) at 128 px for the starter's shape and the published one.

Every time is given as wall and CPU seconds: on a machine others share, the CPU seconds of a
one-thread run (``--threads 1``) are what it takes on a core of its own.

    python benchmarks/paint.py [--steps 20] [--sizes 256,512,1024] [--only cyclegan,style,fast]
                               [--threads N] [--baseline-steps N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio import device as devices
from studio.execution import Execution
from studio.models import ModelStore
from studio.tasks import Context, Output
from studio_paint import style as st

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
PHOTO = DATA / "content" / "tubingen.jpg"
PAINTING = DATA / "style" / "van_gogh_starry_night.jpg"


def _picture(path: Path, long_side: int | None = None, size: tuple[int, int] | None = None
             ) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    if size is None and long_side is not None:
        h, w = st.fit(im.height, im.width, long_side)
        size = (w, h)
    return np.asarray(im.resize(size, Image.BICUBIC) if size else im)


class Clock:
    """Wall and CPU seconds (CPU: every thread of this process). On a machine others share,
    the CPU seconds of a one-thread run are what it would take on a core of its own."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def seconds_per_step(long_side: int, steps: int, bf16: bool) -> dict[str, float]:
    """Median wall and CPU seconds of a step of the optimisation (random weights, softmax
    transform), after one step that also builds the targets."""
    photo = st.to_tensor(_picture(PHOTO, long_side))
    painting = st.to_tensor(_picture(PAINTING))
    settings = st.Settings(sizes=[long_side], steps=[steps + 1], bf16=bf16,
                           preview_every=10_000)
    net = st.random_weights(st.VGG19Features(st.depth_for(settings.style_layers), "avg"))
    stylist = st.Stylist(net, photo, [painting], [1.0], settings)
    laps = []
    clock = Clock()
    for _ in stylist.run():
        laps.append(clock.lap())
    return {"wall_s": round(statistics.median(w for w, _ in laps[1:]), 3),
            "cpu_s": round(statistics.median(c for _, c in laps[1:]), 3)}


def run_task(task, values: dict, store: ModelStore) -> tuple[dict[str, float], np.ndarray]:
    """Wall and CPU seconds of a run, and its picture."""
    pictures = []

    def keep(event, saved) -> None:
        if isinstance(event, Output):
            pictures.append(event.data)

    threads = torch.get_num_threads()  # what --threads set, not every core
    cpu = devices.DeviceInfo("cpu", f"{threads} threads", threads)
    clock = Clock()
    Execution(task, task.make_params(values), cpu, seed=1, models=store).run(keep)
    wall, cpu_s = clock.lap()
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu_s, 1)}, pictures[-1]


def fp32_loss(picture: np.ndarray, photo: np.ndarray, painting: np.ndarray, params
              ) -> dict[str, float]:
    """The loss of ``picture`` as ``paint.style``'s ``params`` count it, computed in fp32 at
    their size: whether bf16 and coarse-to-fine cost quality."""
    long_side = params.size
    settings = st.Settings(sizes=[long_side], steps=[1], bf16=False,
                           style_weight=params.style_weight,
                           content_weight=params.content_weight,
                           temperature=params.temperature)
    net = st.random_weights(st.VGG19Features(st.depth_for(settings.style_layers), params.pool))
    stylist = st.Stylist(net, st.to_tensor(photo), [st.to_tensor(painting)], [1.0], settings)
    size = st.fit(photo.shape[0], photo.shape[1], long_side)
    x = st.resize(st.to_tensor(picture), size)
    with torch.no_grad():
        total, content, style = stylist._losses(x, stylist._targets(size))
    return {"loss": round(float(total), 4), "content": round(float(content), 4),
            "style": round(float(style), 5)}


def style_section(args: argparse.Namespace) -> dict:
    from studio_paint.style_tasks import STYLE

    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    per_step = {}
    for size in (int(s) for s in args.sizes.split(",")):
        pairs = []  # the two paths in turn, --repeats times: the noise falls on both
        for _ in range(args.repeats):
            pairs.append((seconds_per_step(size, args.steps, bf16),
                          seconds_per_step(size, args.steps, False)))
        ours = {k: statistics.median(p[k] for p, _ in pairs) for k in ("wall_s", "cpu_s")}
        base = {k: statistics.median(b[k] for _, b in pairs) for k in ("wall_s", "cpu_s")}
        ratios = [b["cpu_s"] / p["cpu_s"] for p, b in pairs]
        per_step[f"{size}px"] = {"project": ours, "fp32_eager": base,
                                 "speedup_cpu": round(statistics.median(ratios), 2),
                                 "speedup_cpu_range": [round(min(ratios), 2),
                                                       round(max(ratios), 2)],
                                 "steps_timed": args.steps, "repeats": args.repeats}
        print(json.dumps({f"step at {size}px": per_step[f"{size}px"]}), flush=True)
    store = ModelStore([Path(tempfile.mkdtemp()) / "models"])
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "tubingen_700x460.png"
        Image.fromarray(_picture(PHOTO, size=(700, 460))).save(photo)
        common = {"content": photo, "style": str(PAINTING)}
        defaults = STYLE.make_params(common)
        ours, ours_pic = run_task(STYLE, common, store)
        print(json.dumps({"default 700x460": ours}), flush=True)
        steps = args.baseline_steps or defaults.steps
        base, base_pic = run_task(STYLE, {**common, "scales": 1, "precision": "fp32",
                                          "steps": steps}, store)
        pixels = _picture(photo)
        painting = _picture(PAINTING)
        quality = {"project": fp32_loss(ours_pic, pixels, painting, defaults)}
        if steps == defaults.steps:
            quality["fp32_eager_one_scale"] = fp32_loss(base_pic, pixels, painting, defaults)
    scale = defaults.steps / steps  # a baseline run cut short is projected to the full run
    base_cpu = base["cpu_s"] * scale
    default = {"photo": "700x460", "size": defaults.size, "steps": defaults.steps,
               "scales": defaults.scales, "project": ours,
               "fp32_eager_one_scale": {**base, "steps_run": steps,
                                        "cpu_s_for_all_steps": round(base_cpu, 1)},
               "speedup_cpu": round(base_cpu / ours["cpu_s"], 2),
               "fp32_loss_of_the_result": quality}
    return {"bf16": bf16, "threads": torch.get_num_threads(), "seconds_per_step": per_step,
            "default_700x460": default}


def fast_section(args: argparse.Namespace) -> dict:
    from studio_paint.style_tasks import load_fast_model, stylise

    store = ModelStore()
    ctx = Context(models=store)
    try:
        card, net = load_fast_model(ctx, args.fast_model)
    except Exception as exc:  # not installed here
        return {"skipped": str(exc)}
    photo = st.to_tensor(_picture(PHOTO, 512))
    out = {"model": card.id, "picture": f"{photo.shape[-1]}x{photo.shape[-2]}"}
    for name, bf16 in (("bf16", torch.ops.mkldnn._is_mkldnn_bf16_supported()), ("fp32", False)):
        stylise(net, photo, bf16)  # warm up
        laps = []
        for _ in range(args.runs):
            clock = Clock()
            stylise(net, photo, bf16)
            laps.append(clock.lap())
        out[name] = {"wall_s": round(statistics.median(w for w, _ in laps), 3),
                     "cpu_s": round(statistics.median(c for _, c in laps), 3)}
    return out


def _train_step_seconds(ngf: int, blocks: int, size: int = 128) -> float:
    """Median seconds of one paint.train step (both generators and critics, batch 1, bf16)."""
    import torch.nn.functional as F

    from studio_paint.cyclegan import Discriminator, Generator, lsgan_loss

    nets = [Generator(ngf, blocks), Generator(ngf, blocks), Discriminator(), Discriminator()]
    ga, gb, da, db = [n.to(memory_format=torch.channels_last) for n in nets]
    opt = torch.optim.Adam([p for n in nets for p in n.parameters()], lr=2e-4)
    a = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    b = torch.rand_like(a)
    runs = []
    for i in range(4):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fb, fa = ga(a), gb(b)
            loss = (lsgan_loss(db(fb), True) + lsgan_loss(da(fa), True)
                    + 10 * (F.l1_loss(gb(fb).float(), a) + F.l1_loss(ga(fa).float(), b))
                    + 5 * (F.l1_loss(ga(b).float(), b) + F.l1_loss(gb(a).float(), a))
                    + lsgan_loss(db(fb.detach()), False) + lsgan_loss(da(fa.detach()), False))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:  # the first builds the kernels
            runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 2)


def cyclegan_section(args: argparse.Namespace) -> dict:
    import subprocess
    import sys

    from studio_paint.cyclegan import Generator
    from studio_paint.translate import Translation

    torch.manual_seed(0)
    gen = Generator(64, 9).eval()
    out: dict[str, object] = {}
    fast = Translation(gen, "cpu", bf16=True, tile=4096)
    for size in [int(x) for x in args.sizes.split(",")]:
        x = torch.rand(1, 3, size, size) * 2 - 1
        times = {}
        for name, fn in (("eager_fp32", lambda x=x: gen(x)),
                         ("project", lambda x=x: fast.whole(x))):
            with torch.inference_mode():
                fn()
                runs = []
                for _ in range(max(1, args.runs // (1 if size <= 512 else 2))):
                    started = time.perf_counter()
                    fn()
                    runs.append(time.perf_counter() - started)
            times[name] = statistics.median(runs) * 1000
        out[f"{size}px_ms"] = {k: round(v) for k, v in times.items()}
        out[f"{size}px_speed_up"] = round(times["eager_fp32"] / times["project"], 2)
    code = ("import numpy as np, resource; from studio_paint.cyclegan import Generator; "
            "from studio_paint.translate import Translation, translate_image; "
            "t = Translation(Generator(64, 9).eval(), 'cpu', bf16=True, tile=512); "
            "img = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), np.uint8); "
            "g = translate_image(img, t, (3000, 4000)); "
            "exec('try:\\n while True: next(g)\\nexcept StopIteration as e: r = e.value'); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.shape)")
    if args.big:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode == 0:
            rss, *_ = done.stdout.split()
            out["4000x3000_tiled_peak_rss_mb"] = round(int(rss) / 1024)
        else:
            out["4000x3000_tiled_error"] = done.stderr.strip().splitlines()[-1:]
    for ngf, blocks in ((32, 6), (64, 9)):
        out[f"train_step_128px_ngf{ngf}_{blocks}blocks_s"] = _train_step_seconds(ngf, blocks)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3,
                        help="style steps: times each path is timed, in turn (medians)")
    parser.add_argument("--baseline-steps", type=int, default=0,
                        help="steps of the fp32 one-scale run (0: as many as the defaults); "
                             "fewer are projected to the full run")
    parser.add_argument("--fast-model", default="paint.fast_starry_night")
    parser.add_argument("--only", default="cyclegan,style,fast")
    parser.add_argument("--no-big", dest="big", action="store_false",
                        help="skip the 4000x3000 photo's peak memory")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: every core, as `studio run`)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or devices.compute_threads(interactive=False))
    sections = set(args.only.split(","))
    results = {}
    if "cyclegan" in sections:
        results["cyclegan"] = cyclegan_section(args)
        print(json.dumps({"cyclegan": results["cyclegan"]}), flush=True)
    if "fast" in sections:
        results["fast_style"] = fast_section(args)
        print(json.dumps({"fast_style": results["fast_style"]}), flush=True)
    if "style" in sections:
        results["style"] = style_section(args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
