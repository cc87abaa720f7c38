"""Images in and out, through Pillow.

Reading (``read_image``, ``open_image``): every format Pillow knows, recognised by content, not
by name (a PNG called ``.jpg`` reads as the PNG it is); decoded in full before anything is
returned, so a damaged or truncated file is refused with one line rather than shown half grey;
EXIF orientation applied; colour profiles converted to sRGB; CMYK, 16-bit, grey, palette and
transparent pictures turned into 8-bit RGB (transparent areas painted on white); an animation
gives its first frame. Pictures above ``max_pixels`` are refused before they are decoded, so a
"decompression bomb" (a small file that would inflate to gigabytes) costs nothing.

Writing (``encode_png``, ``write_image``): PNG, JPEG or WebP bytes of a uint8 array, carrying no
metadata at all (no EXIF, no GPS, no text chunks, no timestamps). The PNG bytes are a function of
the pixels for a given Pillow: ``PNG_ENCODER`` names the encoder and its fixed settings, and the
gallery records it so that "Again" knows when the same bytes are to be expected.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import UserError, first_line

DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: every camera, refuses 10000 x 10001
PNG_COMPRESS_LEVEL = 6
JPEG_QUALITY = 92
WEBP_QUALITY = 90
# The suffixes a folder of pictures is scanned for (files are still read by content).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                  ".ppm", ".pgm", ".pbm", ".tga", ".ico", ".avif", ".heic", ".jp2")
WRITE_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
_WHITE = 255


def _pillow() -> Any:
    from PIL import Image, ImageFile

    # Truncated files must fail, never decode with a grey remainder (Pillow's default; a
    # program that flips it globally would make every reader lie).
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return Image


def png_encoder() -> str:
    """The PNG encoder and its settings, as recorded with gallery images."""
    import zlib

    import PIL

    return f"Pillow {PIL.__version__} PNG, zlib {zlib.ZLIB_VERSION}, level {PNG_COMPRESS_LEVEL}"


# ---------------------------------------------------------------------------------------------
# Writing.


def to_uint8(array: Any) -> np.ndarray:
    """``array`` as uint8: uint8 as is, floats in [0, 1] scaled to 0..255 and rounded.
    Other dtypes (and floats outside [0, 1]) raise ValueError."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        if a.size and not (np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0):
            raise ValueError(f"a {a.dtype} image must hold values in [0, 1]")
        return np.rint(a.astype(np.float64) * 255.0).astype(np.uint8)
    raise ValueError(f"cannot save a {a.dtype} image: give uint8, or floats in [0, 1]")


_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _to_pil(array: Any) -> Any:
    Image = _pillow()
    a = to_uint8(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _MODES:
        raise ValueError(f"cannot save an array of shape {a.shape} as an image: give (H, W), "
                         "(H, W, 3) or (H, W, 4)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"cannot save an empty image (shape {a.shape})")
    a = np.ascontiguousarray(a)
    mode = _MODES[a.shape[2]]
    return Image.fromarray(a[:, :, 0] if mode == "L" else a, mode)


def write_image(array: Any, format: str = "png", quality: int | None = None) -> bytes:
    """The bytes of ``array`` (uint8, or floats in [0, 1]; (H, W), (H, W, 3) or (H, W, 4)) as
    PNG, JPEG or WebP, without any metadata. JPEG has no transparency: an alpha channel is
    composited on white. ``quality`` (1..100) is for JPEG and WebP."""
    fmt = WRITE_FORMATS.get(format.lower().lstrip("."))
    if fmt is None:
        raise ValueError(f"cannot write {format!r} images (use png, jpeg or webp)")
    im = _to_pil(array)
    buf = io.BytesIO()
    if fmt == "PNG":
        im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL, optimize=False)
    elif fmt == "JPEG":
        if im.mode in ("LA", "RGBA"):
            im = _on_white(im)
        im.save(buf, "JPEG", quality=quality or JPEG_QUALITY, optimize=False, subsampling=0
                if (quality or JPEG_QUALITY) >= 90 else 2)
    else:
        im.save(buf, "WEBP", quality=quality or WEBP_QUALITY, method=4, exact=False)
    return buf.getvalue()


def encode_png(array: Any) -> bytes:
    """PNG bytes for an image of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4);
    the same pixels always give the same bytes (with the same Pillow)."""
    return write_image(array, "png")


def decode_png(data: bytes) -> np.ndarray:
    """The image in PNG ``data``: (H, W) for grey, (H, W, C) otherwise, uint8 (16-bit PNGs are
    scaled to 8 bits). Damaged data raises ValueError."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG file")
    Image = _pillow()
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            im.verify()  # every chunk's checksum
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            im.load()
            if im.mode.startswith("I"):
                return _sixteen_to_eight(im)
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode == "1":
                im = im.convert("L")
            return np.asarray(im).copy()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValueError(f"PNG data is damaged: {first_line(exc)}") from None


# ---------------------------------------------------------------------------------------------
# Reading.


@dataclass
class Picture:
    """A picture as read: RGB pixels and what was done to get them."""

    pixels: np.ndarray  # uint8 (H, W, 3)
    format: str  # what the content is ("JPEG", "PNG", ...), whatever the file's name says
    notes: list[str] = field(default_factory=list)  # e.g. "transparent areas painted on white"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def read_image(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The picture at ``path`` as uint8 RGB (H, W, 3) (see ``open_image``)."""
    return open_image(path, max_pixels).pixels


def open_image(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read the picture at ``path``, decoded in full, oriented, in sRGB, as 8-bit RGB.

    Raises UserError with one line naming the file for anything that is not a readable
    picture: a folder, an empty or unknown file, a damaged or truncated one, one above
    ``max_pixels`` pixels.
    """
    path = Path(path)
    name = path.name or str(path)
    if path.is_dir():
        raise UserError(f"{name}: is a folder, not a picture")
    if not path.exists():
        raise UserError(f"{name}: no such file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"{name}: cannot read it ({exc.strerror})") from None
    if size == 0:
        raise UserError(f"{name}: the file is empty")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UserError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    return decode_image(data, name, max_pixels)


def decode_image(data: bytes, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
                 ) -> Picture:
    """``open_image`` for bytes in memory; ``name`` names them in messages."""
    Image = _pillow()
    from PIL import UnidentifiedImageError

    notes: list[str] = []
    im = _open(data, name, max_pixels, Image, UnidentifiedImageError)
    fmt = im.format or "?"
    try:
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            notes.append(f"the first of its {frames} frames")
        _check_complete(data, name, fmt, Image)
        try:
            im.load()  # decode every pixel now: a truncated file fails here, not later
        except MemoryError:
            raise UserError(f"{name}: {im.width}x{im.height} does not fit in memory") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error()) as exc:
            raise UserError(f"{name}: the file is damaged or cut short "
                            f"({first_line(exc)})") from None
        pixels = _to_rgb(im, notes)
    finally:
        im.close()
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise UserError(f"{name}: the picture is empty ({pixels.shape[1]}x{pixels.shape[0]})")
    return Picture(np.ascontiguousarray(pixels), fmt, notes)


def struct_error() -> type[Exception]:
    import struct

    return struct.error


def _open(data: bytes, name: str, max_pixels: int, Image: Any, unidentified: type) -> Any:
    """Pillow's image for ``data``, its size checked against ``max_pixels`` before any decoding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise UserError(f"{name}: refused, {_bomb_size(exc)} is far above the limit of "
                            f"{_megapixels(max_pixels)} (a decompression bomb?)") from None
        except unidentified:
            raise UserError(f"{name}: not a picture (or a format Pillow cannot read)") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error()) as exc:
            raise UserError(f"{name}: the file is damaged ({first_line(exc)})") from None
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise UserError(f"{name}: refused, {width}x{height} is {_megapixels(width * height)}, "
                        f"above the limit of {_megapixels(max_pixels)} (a decompression bomb, "
                        "or a picture too large to work on)")
    if width == 0 or height == 0:
        im.close()
        raise UserError(f"{name}: the picture is empty ({width}x{height})")
    return im


def _check_complete(data: bytes, name: str, fmt: str, Image: Any) -> None:
    """A PNG's chunk checksums (its pixels' decoder does not check them all)."""
    if fmt != "PNG":
        return
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            im.verify()
    except (OSError, SyntaxError, ValueError, EOFError, struct_error()) as exc:
        raise UserError(f"{name}: the file is damaged or cut short ({first_line(exc)})") from None


def _to_rgb(im: Any, notes: list[str]) -> np.ndarray:
    """Oriented, sRGB, 8-bit RGB pixels of a loaded Pillow image."""
    from PIL import ImageOps

    oriented = ImageOps.exif_transpose(im)
    if oriented is not None and oriented is not im:
        if oriented.size != im.size or _orientation(im) not in (None, 1):
            notes.append("turned upright as its EXIF orientation says")
        im = oriented
    icc = im.info.get("icc_profile")

    # Sixteen bits and other numeric modes: to 8-bit grey first.
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        im = _pil_from(_sixteen_to_eight(im))
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode in ("P", "PA"):
        im = im.convert("RGBA" if ("transparency" in im.info or im.mode == "PA") else "RGB")
    elif im.mode in ("La", "RGBa"):
        im = im.convert({"La": "LA", "RGBa": "RGBA"}[im.mode])
    elif im.mode in ("YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")

    alpha = None
    if im.mode in ("LA", "RGBA"):
        bands = im.split()
        alpha = bands[-1]
        im = bands[0] if im.mode == "LA" else _pil_merge("RGB", bands[:3])
    if icc:
        im = _to_srgb(im, icc, notes)
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, CMYK without a profile
    rgb = np.asarray(im)
    if alpha is not None:
        a = np.asarray(alpha)
        if a.min() < 255:
            notes.append("transparent areas painted on white")
            w = a.astype(np.float32)[:, :, None] / 255.0
            rgb = np.rint(rgb.astype(np.float32) * w + _WHITE * (1.0 - w)).astype(np.uint8)
    return rgb


def _orientation(im: Any) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:  # a damaged EXIF block: the picture is still good
        return None


def _to_srgb(im: Any, icc: bytes, notes: list[str]) -> Any:
    """``im`` (L, RGB or CMYK) converted from its embedded profile to sRGB."""
    from PIL import ImageCms

    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(src) or "").strip()
        out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                        renderingIntent=ImageCms.Intent.PERCEPTUAL,
                                        outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        notes.append(f"its colour profile could not be used ({first_line(exc)}); "
                     "colours taken as sRGB")
        return im
    if not description.lower().startswith("srgb"):
        notes.append(f"colours converted from {description or 'its profile'} to sRGB")
    return out


def _sixteen_to_eight(im: Any) -> np.ndarray:
    """8-bit grey from a 16-bit, 32-bit integer or float grey image."""
    a = np.asarray(im)
    if im.mode == "F":
        top = 1.0 if a.size and np.nanmax(a) <= 1.0 else 255.0
        return np.clip(np.rint(np.nan_to_num(a) * (255.0 / top)), 0, 255).astype(np.uint8)
    a = a.astype(np.int64)
    top = 255 if a.size and a.max() <= 255 and im.mode == "I" else 65535
    return np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)


def _pil_from(a: np.ndarray) -> Any:
    return _pillow().fromarray(a)


def _pil_merge(mode: str, bands: Any) -> Any:
    return _pillow().merge(mode, bands)


def _on_white(im: Any) -> Any:
    Image = _pillow()
    rgba = im.convert("RGBA")
    base = Image.new("RGBA", rgba.size, (_WHITE, _WHITE, _WHITE, 255))
    return Image.alpha_composite(base, rgba).convert("RGB")


def _megapixels(n: int) -> str:
    if n < 100_000:
        return f"{n:,} pixels"
    return f"{n / 1e6:.1f} megapixels" if n < 1e9 else f"{n / 1e9:.1f} gigapixels"


def _bomb_size(exc: BaseException) -> str:
    import re

    m = re.search(r"\((\d+) pixels\)", str(exc))
    return _megapixels(int(m.group(1))) if m else "its size"


