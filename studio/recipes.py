"""Running a saved recipe again: the same task, parameters and seed (``again``), what changed
in its input files since (``input_changes``), and how the new output compares with the
original (``find_original``, ``compare_with_original``). Used by ``studio gallery again`` and
the window's Again."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any

from studio import paths
from studio.errors import UserError
from studio.gallery import image_encoder
from studio.models import sha256_file
from studio.tasks import Output

log = logging.getLogger(__name__)


def again(recipe: dict[str, Any], registry: Any, sink: Any, models: Any = None,
          device: Any = None, on_event: Any = None, original: Path | None = None) -> list[Any]:
    """Run a recipe again: the same task, parameters and seed, on the recipe's device unless
    ``device`` (a name such as "cpu", or a DeviceInfo) is given. On the CPU the outputs have
    the same bytes. ``on_event(event, saved)`` sees the events, as in Execution.run, and last
    a Log that says how the new output compares with the recipe's (``compare_with_original``;
    ``original`` is its file, found through the sink or the gallery when not given).

    Returns the Saved outputs; raises UserError when the recipe cannot run here, and
    TaskFailed or Cancelled as Execution.run does."""
    from studio import device as devices
    from studio.execution import Execution
    from studio.tasks import ParamError

    task_id = recipe.get("task")
    try:
        task = registry.task(task_id)
    except KeyError as exc:
        raise UserError(f"cannot run this recipe again: {exc.args[0]}") from None
    try:
        params = task.make_params(recipe.get("params") or {})
    except ParamError as exc:
        raise UserError(f"cannot run this recipe again: {exc}") from None
    if isinstance(device, devices.DeviceInfo):
        info = device
    else:
        try:
            info = devices.pick(device or recipe.get("device") or "auto")
        except devices.DeviceError as exc:
            raise UserError(f"{exc} (choose another device, e.g. --device cpu)") from None
    plugin = next((p for p in getattr(registry, "plugins", []) if p.name == task.plugin), None)
    execution = Execution(task, params, info, sink=sink, seed=recipe.get("seed"), models=models,
                          plugin_version=plugin.version if plugin else "")
    changed = input_changes(recipe, task)
    if on_event is not None:
        from studio.tasks import Log

        for line in changed:  # said first: the output will not be the original's
            on_event(Log(line, "warning"), None)
    saved = execution.run(on_event) if on_event is not None else execution.run()
    name = (recipe.get("output") or {}).get("name")
    twin = next((s for s in saved if s.output.name == name), None)
    if twin is not None and recipe.get("sha256"):
        if original is None:
            original = find_original(recipe, sink)
        message = compare_with_original(recipe, twin.path, original)
        if changed and not message.startswith("identical"):
            message += f" ({len(changed)} input file{'s' if len(changed) > 1 else ''} changed)"
        log.info("again: %s", message)
        if on_event is not None:
            from studio.tasks import Log

            on_event(Log(message), None)
    return saved


def input_changes(recipe: dict[str, Any], task: Any = None) -> list[str]:
    """A line for each input file of the recipe (its ``inputs``: parameter, path and sha256)
    that is missing or no longer has the sha256 it had when the original was made; the flag is
    named after ``task``'s parameter. Empty for recipes without ``inputs``."""
    specs = {s.name: s for s in task.schema()} if task is not None else {}
    lines = []
    for name, known in (recipe.get("inputs") or {}).items():
        if not isinstance(known, dict) or not known.get("path"):
            continue
        flag = specs[name].flag if name in specs else "--" + str(name).replace("_", "-")
        path = Path(known["path"])
        try:
            now = sha256_file(path)
        except OSError:
            lines.append(f"{flag}: the input {path} is missing; the original was made from a "
                         f"file with sha256 {str(known.get('sha256'))[:12]}")
            continue
        if now != known.get("sha256"):
            lines.append(f"{flag}: the input {path} has changed since the original was made "
                         f"(sha256 {str(known.get('sha256'))[:12]} then, {now[:12]} now), so "
                         "the output will differ")
    return lines


def find_original(recipe: dict[str, Any], sink: Any = None) -> Path | None:
    """The file a recipe describes, if it is still where it was saved (in the sink's folder or
    the user's gallery) with the recipe's sha256."""
    file = recipe.get("file")
    if not isinstance(file, str) or not file:
        return None
    roots = [getattr(sink, "root", None), getattr(sink, "folder", None), paths.gallery_dir()]
    for root in roots:
        if root is None:
            continue
        path = Path(root) / file
        with contextlib.suppress(OSError):
            if path.is_file() and sha256_file(path) == recipe.get("sha256"):
                return path
    return None


def compare_with_original(recipe: dict[str, Any], new: Path, original: Path | None = None
                          ) -> str:
    """One line saying how a re-run's file ``new`` compares with the one ``recipe`` describes.

    Files whose recipe names the encoder used now are compared byte for byte. An image saved
    by another encoder (Studio's own PNG writer before it used Pillow's, or another Pillow) has
    other bytes for the same picture, so its pixels are compared, and the line says so."""
    data = Path(new).read_bytes()
    if hashlib.sha256(data).hexdigest() == recipe.get("sha256"):
        return "identical bytes to the original"
    kind = (recipe.get("output") or {}).get("kind")
    if kind != "image":
        return "differs from the original (its sha256 does not match)"
    import numpy as np

    from studio.imageio import decode_image

    then = recipe.get("encoder") or "Studio's earlier PNG writer"
    now = image_encoder(Output(None, suffix=Path(new).suffix))
    other = then != now
    if original is None or not Path(original).is_file():
        if other:
            return (f"different bytes from the original, which was saved by {then}; its file "
                    "is gone, so the pixels cannot be compared")
        return "differs from the original (its sha256 does not match)"
    try:
        a = decode_image(Path(original).read_bytes(), Path(original).name).pixels
        b = decode_image(data, Path(new).name).pixels
    except UserError as exc:
        return f"differs from the original; cannot compare the pixels: {exc}"
    if a.shape != b.shape:
        return (f"differs from the original: {b.shape[1]}x{b.shape[0]} pixels against "
                f"{a.shape[1]}x{a.shape[0]}")
    changed = np.any(a != b, axis=2)
    if not changed.any():
        why = f"it was saved by {then}" if other else "the encoder's output changed"
        return f"same pixels as the original (compared pixel by pixel: {why}, so the bytes differ)"
    worst = int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
    return (f"differs from the original: {int(changed.sum())} of {changed.size} pixels changed, "
            f"by up to {worst} levels")
