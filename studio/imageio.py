"""PNG without PIL, Qt or OpenCV: writing the images tasks produce, and reading back the ones
written here (8-bit grey, grey + alpha, RGB or RGBA, not interlaced).

The bytes are deterministic: the same array always gives the same file, so a re-run that
reproduces an image reproduces its file's sha256 too.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMPRESSION_LEVEL = 6

# channels -> PNG colour type, and back
_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
_CHANNELS = {v: k for k, v in _COLOUR_TYPES.items()}


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
    raise ValueError(f"cannot save a {a.dtype} image as PNG: give uint8, or floats in [0, 1]")


def encode_png(array: Any) -> bytes:
    """PNG bytes for an image of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4)."""
    a = to_uint8(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _COLOUR_TYPES:
        raise ValueError(f"cannot save an array of shape {a.shape} as PNG: give (H, W), "
                         "(H, W, 3) or (H, W, 4)")
    height, width, channels = a.shape
    if height == 0 or width == 0:
        raise ValueError(f"cannot save an empty image (shape {a.shape}) as PNG")
    rows = np.ascontiguousarray(a).reshape(height, width * channels)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter 0 on each row
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return b"".join([
        SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(raw, COMPRESSION_LEVEL)),
        _chunk(b"IEND", b""),
    ])


def decode_png(data: bytes) -> np.ndarray:
    """The image in PNG ``data``: (H, W) for grey, (H, W, C) otherwise, uint8.

    Reads 8-bit, non-interlaced grey, grey + alpha, RGB and RGBA PNGs with any of the five
    row filters; other PNGs (palette, 16-bit, interlaced) raise ValueError.
    """
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    header = None
    idat = []
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or len(header) != 13:
        raise ValueError("PNG has no valid IHDR chunk")
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(
        ">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour} "
                         "(only 8-bit grey, grey + alpha, RGB and RGBA are read)")
    if interlace:
        raise ValueError("unsupported PNG: interlaced")
    channels = _CHANNELS[colour]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"PNG image data is damaged: {exc}") from None
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG image data has the wrong length")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    image = _unfilter(rows, channels).reshape(height, width, channels)
    return image[:, :, 0] if channels == 1 else image


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError("PNG is truncated")
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if crc != zlib.crc32(body, zlib.crc32(kind)):
            raise ValueError(f"PNG chunk {kind.decode('latin-1')} has a bad checksum")
        yield kind, body
        pos += 12 + length


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo the per-row filters (None, Sub, Up, Average, Paeth); returns (H, W * bpp) uint8."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.empty((height, stride), np.uint8)
    prior = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: a running sum over pixels, per channel, modulo 256
            cur = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            cur = line + prior
        elif kind in (3, 4):
            cur = _unfilter_sequential(line, prior, bpp, kind)
        else:
            raise ValueError(f"PNG row {y} has an unknown filter type {kind}")
        out[y] = cur
        prior = cur
    return out


def _unfilter_sequential(line: np.ndarray, prior: np.ndarray, bpp: int, kind: int) -> np.ndarray:
    """Average (3) and Paeth (4): each pixel depends on the one before, so go pixel by pixel."""
    line = line.astype(np.int32).reshape(-1, bpp)
    up = prior.astype(np.int32).reshape(-1, bpp)
    cur = np.zeros_like(line)
    left = np.zeros(bpp, np.int32)
    upleft = np.zeros(bpp, np.int32)
    for x in range(line.shape[0]):
        b = up[x]
        if kind == 3:
            pred = (left + b) // 2
        else:
            p = left + b - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - b), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, b, upleft))
        cur[x] = (line[x] + pred) & 0xFF
        left, upleft = cur[x], b
    return cur.astype(np.uint8).reshape(-1)
