"""Reading and writing pictures through Pillow: every kind of picture read as upright sRGB RGB,
bad files refused with one line, outputs without metadata, PNG bytes that repeat."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from studio.errors import UserError
from studio.imageio import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    decode_png,
    encode_png,
    open_image,
    read_image,
    write_image,
)


def noise(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) % 256], -1).astype(np.uint8)


def saved(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# Writing


def test_png_round_trip_is_exact_and_its_bytes_repeat():
    img = noise()
    data = encode_png(img)
    np.testing.assert_array_equal(decode_image(data).pixels, img)
    # the same pixels give the same bytes, whatever the array's memory layout
    assert encode_png(img.copy()) == data
    assert encode_png(np.asfortranarray(img)) == data
    assert encode_png(np.ascontiguousarray(img[:, ::-1])[:, ::-1].copy()) == data
    assert write_image(img, "png") == data


def test_png_holds_no_chunk_but_the_pixels():
    data = encode_png(noise())
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
    assert set(kinds) == {b"IHDR", b"IDAT", b"IEND"}


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lossy_formats_round_trip_closely(fmt):
    img = gradient()
    data = write_image(img, fmt)
    back = decode_image(data)
    assert back.format == {"jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert back.pixels.shape == img.shape
    assert np.abs(back.pixels.astype(int) - img).mean() < 3


def test_outputs_carry_no_metadata_from_the_input(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS
    src = write(tmp_path, "photo.jpg", saved(Image.fromarray(gradient()), "JPEG",
                                             exif=exif.tobytes(), comment=b"secret"))
    assert Image.open(src).getexif().get_ifd(0x8825)  # the input does carry a location
    pixels = read_image(src)
    for fmt in ("png", "jpeg", "webp"):
        out = Image.open(io.BytesIO(write_image(pixels, fmt)))
        assert not out.getexif() and "exif" not in out.info and "icc_profile" not in out.info
        assert "comment" not in out.info


def test_write_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="gif"):
        write_image(noise(), "gif")
    with pytest.raises(ValueError, match="shape"):
        write_image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="int64"):
        write_image(np.zeros((2, 2, 3), np.int64))


def test_jpeg_paints_transparency_on_white():
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent black
    back = decode_image(write_image(rgba, "jpeg")).pixels
    assert back.min() >= 250


def test_decode_png_reads_grey_alpha_and_sixteen_bits():
    grey = noise()[:, :, 0]
    np.testing.assert_array_equal(decode_png(encode_png(grey)), grey)
    two = noise()[:, :, :2]
    np.testing.assert_array_equal(decode_png(encode_png(two)), two)
    rows = b"".join(b"\x00" + np.full(4, 40000, ">u2").tobytes() for _ in range(3))
    assert decode_png(raw_png(4, 3, 16, 0, rows)).tolist() == [[156] * 4] * 3
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a")


# ---------------------------------------------------------------------------------------------
# Reading every kind of picture


def test_a_png_named_jpg_is_read_by_its_content(tmp_path):
    img = noise()
    pic = open_image(write(tmp_path, "holiday.jpg", encode_png(img)))
    assert pic.format == "PNG"
    np.testing.assert_array_equal(pic.pixels, img)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 57), (57, 1)])
def test_tiny_and_one_pixel_high_pictures(tmp_path, h, w):
    img = noise(h, w)
    got = read_image(write(tmp_path, "tiny.png", encode_png(img)))
    assert got.shape == (h, w, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, img)


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((2, 3, 3), np.uint8)
    img[0, 0] = (255, 0, 0)  # red at the top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees anticlockwise: show it turned clockwise
    path = write(tmp_path, "turned.jpg", saved(Image.fromarray(img), "PNG", exif=exif.tobytes()))
    pic = open_image(path)
    assert pic.pixels.shape == (3, 2, 3)
    assert tuple(pic.pixels[0, 1]) == (255, 0, 0)  # now at the top right
    assert any("upright" in n for n in pic.notes)


def test_cmyk_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 6), (0, 255, 255, 0))  # pure red in ink
    px = read_image(write(tmp_path, "print.jpg", saved(cmyk, "JPEG", quality=95)))
    assert px.shape == (6, 8, 3)
    assert px[3, 4, 0] > 240 and px[3, 4, 1] < 15 and px[3, 4, 2] < 15


def test_sixteen_bit_grey_and_colour_become_eight_bit(tmp_path):
    grey = np.full((5, 4), 40000, np.uint16)  # 40000 / 257 = 155.6
    px = read_image(write(tmp_path, "g16.png", saved(Image.fromarray(grey), "PNG")))
    assert px.shape == (5, 4, 3) and (px == 156).all()
    rows = b"".join(b"\x00" + np.tile(np.array([65535, 32768, 0], ">u2"), 4).tobytes()
                    for _ in range(3))
    px = read_image(write(tmp_path, "rgb16.png", raw_png(4, 3, 16, 2, rows)))
    assert px.shape == (3, 4, 3) and (px == [255, 128, 0]).all()


def test_grey_and_black_and_white_become_rgb(tmp_path):
    grey = noise()[:, :, 0]
    px = read_image(write(tmp_path, "grey.png", encode_png(grey)))
    np.testing.assert_array_equal(px, np.repeat(grey[:, :, None], 3, axis=2))
    bw = Image.new("1", (5, 3), 1)
    assert (read_image(write(tmp_path, "bw.bmp", saved(bw, "BMP"))) == 255).all()


def test_palette_and_alpha_are_painted_on_white(tmp_path):
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30] + [200, 100, 50] * 255)
    pal.putpixel((1, 1), 1)
    px = read_image(write(tmp_path, "pal.png", saved(pal, "PNG", transparency=0)))
    assert tuple(px[0, 0]) == (255, 255, 255)  # the transparent index
    assert tuple(px[1, 1]) == (200, 100, 50)

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = [[0, 128], [255, 255]]
    pic = open_image(write(tmp_path, "alpha.png", encode_png(rgba)))
    assert pic.pixels[:, :, 0].tolist() == [[255, 127], [0, 0]]
    assert any("white" in n for n in pic.notes)

    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 1] = 255
    assert (read_image(write(tmp_path, "la.png", encode_png(la))) == 0).all()


def test_an_animation_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 4), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    pic = open_image(path)
    assert tuple(pic.pixels[0, 0]) == (255, 0, 0)
    assert any("first of its 3 frames" in n for n in pic.notes)
    webp = tmp_path / "anim.webp"
    frames[1].save(webp, save_all=True, append_images=[frames[0]], duration=100, lossless=True)
    assert tuple(read_image(webp)[0, 0]) == (0, 0, 255)


def _profile_with_red_and_green_swapped() -> bytes:
    """sRGB's profile with its red and green primaries' tags exchanged: a colour space where
    (200, 0, 0) is sRGB's (0, 200, 0)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack_from(">I", data, 128)
    table = {}
    for i in range(count):
        sig, off, size = struct.unpack_from(">4sII", data, 132 + 12 * i)
        table[sig] = (i, off, size)
    (ir, off_r, size_r), (ig, off_g, size_g) = table[b"rXYZ"], table[b"gXYZ"]
    struct.pack_into(">4sII", data, 132 + 12 * ir, b"rXYZ", off_g, size_g)
    struct.pack_into(">4sII", data, 132 + 12 * ig, b"gXYZ", off_r, size_r)
    return bytes(data)


def test_colour_profiles_are_converted_to_srgb(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200
    icc = _profile_with_red_and_green_swapped()
    for fmt, name in (("PNG", "p.png"), ("JPEG", "p.jpg")):
        px = read_image(write(tmp_path, name, saved(Image.fromarray(img), fmt, icc_profile=icc,
                                                    quality=100)))
        assert px[2, 2, 1] > 190 and px[2, 2, 0] < 10, fmt  # red in that space is green here
    px = read_image(write(tmp_path, "bad.png", saved(Image.fromarray(img), "PNG",
                                                     icc_profile=b"not a profile")))
    assert tuple(px[0, 0]) == (200, 0, 0)  # an unusable profile: the pixels as they are


# ---------------------------------------------------------------------------------------------
# Refusing what cannot be read


def one_line_error(path_or_data, **kw) -> str:
    with pytest.raises(UserError) as info:
        if isinstance(path_or_data, bytes):
            decode_image(path_or_data, "x.png", **kw)
        else:
            read_image(path_or_data, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    # a 30000 x 30000 PNG header with a few bytes of data: nothing is decoded
    bomb = raw_png(30000, 30000, 8, 2, b"\x00" * 100)
    msg = one_line_error(write(tmp_path, "bomb.png", bomb))
    assert msg.startswith("bomb.png: refused,") and "limit" in msg and "900.0 megapixels" in msg
    assert DEFAULT_MAX_PIXELS < 30000 * 30000
    msg = one_line_error(write(tmp_path, "big.png", encode_png(noise(40, 50))), max_pixels=1000)
    assert msg.startswith("big.png: refused, 50x40 is 2,000 pixels, above the limit of 1,000")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_truncated_files_are_refused_not_decoded_half_grey(tmp_path, fmt):
    data = write_image(noise(96, 128) // 2 + gradient(96, 128) // 2, fmt)
    for cut in (0.5, 0.9, 0.99):
        path = write(tmp_path, f"cut.{fmt}", data[:int(len(data) * cut)])
        msg = one_line_error(path)
        assert msg.startswith(f"cut.{fmt}: ") and ("damaged" in msg or "not a picture" in msg)


def test_truncated_files_are_refused_even_if_pillow_was_told_to_allow_them(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = write_image(gradient(96, 128), "jpeg")
    assert "damaged" in one_line_error(write(tmp_path, "cut.jpg", data[:len(data) // 2]))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_png_with_a_damaged_chunk_is_refused():
    data = bytearray(encode_png(noise(32, 32)))
    data[len(data) // 2] ^= 0xFF
    assert "damaged" in one_line_error(bytes(data))


def test_a_png_whose_header_lies_about_its_depth_is_refused():
    data = bytearray(encode_png(noise()))
    data[24] = 16  # bit depth in IHDR, checksum fixed: the data no longer fits
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    assert "damaged" in one_line_error(bytes(data))


def test_folders_non_pictures_and_empty_files_are_refused(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    assert one_line_error(tmp_path / "x.jpg") == "x.jpg: is a folder, not a picture"
    text = write(tmp_path, "notes.jpg", b"shopping: bread, milk\n" * 10)
    assert one_line_error(text) == "notes.jpg: not a picture (or a format Pillow cannot read)"
    assert one_line_error(write(tmp_path, "empty.png", b"")) == "empty.png: the file is empty"
    assert one_line_error(tmp_path / "gone.png") == "gone.png: no such file"
