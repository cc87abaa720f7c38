"""``drive.explore``: V's decoding of a z (``--latent``), the latent explorer's frame. In the
panel it lingers, decoding each z the explorer's sliders send ("decode" commands), while no
drive or dream runs (one that runs decodes them itself)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from studio.errors import UserError
from studio.tasks import Context, Event, Output, Preview, Task, param
from studio_drive.mind import Mind
from studio_drive.watch import DEFAULT_MODEL


@dataclass
class ExploreParams:
    model: str = param(DEFAULT_MODEL, model="drive", help="the drive model whose V decodes")
    latent: str = param("", help="z's values, comma-separated (as many as the model's z "
                                 "size; fewer are padded with zeros)")
    linger: float = param(0.0, min=0.0, max=3600.0, advanced=True,
                          help="seconds to go on decoding what the panel's sliders send "
                               "after the last change (0: decode once)")
    save: bool = param(True, help="save the decoded frame to the gallery (256x256, each of "
                                  "its 64x64 pixels 4x4)")


def parse_latent(text: str, z_size: int) -> np.ndarray:
    """``"0.5, -1, 2"`` -> z (z_size,) float32, padded with zeros; too many or a word that is
    not a number is a one-line error."""
    words = text.replace(",", " ").split()
    try:
        values = [float(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not _is_number(w))
        raise UserError(f"--latent: {bad!r} is not a number") from None
    if len(values) > z_size:
        raise UserError(f"--latent: {len(values)} values for a z of {z_size}")
    if not all(math.isfinite(v) for v in values):
        raise UserError("--latent: the values must be finite numbers")
    return np.array(values + [0.0] * (z_size - len(values)), np.float32)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def explore(p: ExploreParams, ctx: Context) -> Iterator[Event]:
    """V's decoding of a z; with ``linger``, of each z the panel's sliders send ("decode"
    commands) until they rest that long, or "stop"."""
    from studio.device import use_bf16
    from studio_drive.loading import load_world_model

    _, vae, mdnrnn, _ = load_world_model(ctx, p.model, require=())
    mind = Mind(vae, mdnrnn, None, use_bf16("auto", str(ctx.device)))
    z = parse_latent(p.latent, vae.z_size)
    version = 0
    rest = time.perf_counter() + p.linger
    while True:
        image = mind.decode(z[None])[0]
        yield Preview({"mode": "explore", "explored": {"z": z.tolist(), "image": image,
                                                      "version": version}},
                      label="V's decoding")
        if p.linger <= 0:
            break
        latest = None
        while latest is None and not ctx.is_cancelled():
            for name, value in ctx.controls.take():
                if name == "decode":
                    latest = value
                elif name == "stop":
                    rest = 0.0
            if latest is None:
                if time.perf_counter() >= rest:
                    break
                ctx.controls.wait(0.05)
        if latest is None:
            break
        try:
            z = np.asarray(latest, np.float32).reshape(vae.z_size)
        except (TypeError, ValueError):
            continue
        version += 1
        rest = time.perf_counter() + p.linger
    if p.save and not ctx.is_cancelled():
        big = np.repeat(np.repeat(image, 4, 0), 4, 1)
        yield Output(big, name=f"{p.model} z " + " ".join(f"{v:.2f}" for v in z[:8])
                     + (" ..." if len(z) > 8 else ""))


EXPLORE = Task("drive.explore", "Decode a latent", ExploreParams, explore,
               "V's decoding of a z: the latent explorer's frame.")
