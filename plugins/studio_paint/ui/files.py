"""Pictures in and out of the paint panel: reading a photo to show it, listing a folder's
pictures, and exporting a result as PNG, JPEG or WebP. No Qt here.

Reading and writing go through ``studio.imageio`` (Pillow: EXIF orientation, colour profiles,
decompression bombs and metadata handled there once for every task and the panel alike).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from studio_paint import IMAGE_SUFFIXES

# the export formats: suffix -> (Pillow's format name, file-dialog filter)
FORMATS = {
    ".png": ("PNG", "PNG (*.png)"),
    ".jpg": ("JPEG", "JPEG (*.jpg *.jpeg)"),
    ".webp": ("WEBP", "WebP (*.webp)"),
}
SUFFIX_ALIASES = {".jpeg": ".jpg"}
QUALITY = 92  # JPEG and WebP where studio.imageio is not there to choose


def suffixes() -> tuple[str, ...]:
    """The suffixes of the pictures studio.imageio reads (the plugin's list on an older one)."""
    try:
        from studio.imageio import IMAGE_SUFFIXES as READ
    except ImportError:
        return IMAGE_SUFFIXES
    return tuple(READ)


def is_picture(path: Path) -> bool:
    return path.suffix.lower() in suffixes() and path.is_file()


def pictures_in(folder: Path) -> list[Path]:
    """The pictures directly in ``folder`` in the order paint.translate takes them (by name,
    case aside; hidden files left out)."""
    return sorted((p for p in Path(folder).iterdir()
                   if is_picture(p) and not p.name.startswith(".")),
                  key=lambda p: p.name.lower())


def read_picture(path: Path) -> np.ndarray:
    """uint8 (H, W, 3), oriented as its EXIF says, in sRGB; ValueError with one line when it
    cannot be read (a folder, a damaged file, a decompression bomb)."""
    from studio.errors import UserError

    path = Path(path)
    try:
        from studio.imageio import read_image
    except ImportError:  # an older studio: Pillow directly
        return _read_with_pillow(path)
    try:
        return np.asarray(read_image(path))
    except (UserError, OSError, ValueError) as exc:
        raise ValueError(str(exc).splitlines()[0] if str(exc) else
                         f"{path.name}: not a readable picture") from None


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    if path.is_dir():
        raise ValueError(f"{path.name}: is a folder, not a picture")
    try:
        with Image.open(path) as im:
            im.seek(0)  # an animation's first frame
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"{path.name}: not a readable picture ({exc})") from None


def export_suffix(path: Path, chosen_filter: str = "") -> Path:
    """``path`` with an export suffix: its own when it is one, else the chosen filter's (PNG
    by default)."""
    suffix = SUFFIX_ALIASES.get(path.suffix.lower(), path.suffix.lower())
    if suffix in FORMATS:
        return path
    for s, (_, flt) in FORMATS.items():
        if chosen_filter and chosen_filter == flt:
            return path.with_name(path.name + s)
    return path.with_name(path.name + ".png")


def dialog_filter() -> str:
    return ";;".join(flt for _, flt in FORMATS.values())


def export_picture(image: np.ndarray, dest: Path, saved_png: Path | None = None) -> Path:
    """Write ``image`` (uint8 (H, W, 3)) to ``dest`` as its suffix says (.png, .jpg or .jpeg,
    .webp). A PNG the gallery already saved of the same picture is copied rather than encoded
    again. Returns the path written; OSError or ValueError when it cannot be."""
    dest = Path(dest)
    suffix = SUFFIX_ALIASES.get(dest.suffix.lower(), dest.suffix.lower())
    if suffix not in FORMATS:
        raise ValueError(f"{dest.name}: export as .png, .jpg or .webp")
    if suffix == ".png" and saved_png is not None and Path(saved_png).is_file():
        from studio.atomic import write_atomic_with

        write_atomic_with(dest, lambda tmp: shutil.copyfile(saved_png, tmp))
        return dest
    from studio.atomic import write_atomic, write_atomic_with

    try:
        from studio.imageio import WRITE_FORMATS, write_image
    except ImportError:  # an older studio: Pillow directly
        write_image = None
    if write_image is not None and suffix.lstrip(".") in WRITE_FORMATS:
        write_atomic(dest, write_image(image, suffix.lstrip(".")))
        return dest
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(image))
    fmt = FORMATS[suffix][0]
    options = {"quality": QUALITY} if fmt in ("JPEG", "WEBP") else {"optimize": False}
    if fmt == "JPEG":
        options["subsampling"] = 0  # full colour resolution: painted edges stay clean
    write_atomic_with(dest, lambda tmp: img.save(tmp, format=fmt, **options))
    return dest
