"""The gallery: outputs saved with their recipes, found again, rebuilt, re-run; and PNG I/O."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from studio.atomic import write_atomic
from studio.errors import UserError
from studio.gallery import DirectorySink, Gallery
from studio.imageio import decode_png, encode_png
from studio.recipes import again
from studio.tasks import Log, Output


def recipe_for(task: str = "demo.task", **params) -> dict:
    return {"task": task, "params": params, "seed": 7, "device": "cpu", "models": [],
            "versions": {"studio": "0.1.0"}}


def image(h: int = 12, w: int = 17, c: int | None = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# PNG


@pytest.mark.parametrize("channels", [None, 2, 3, 4])
def test_png_round_trip(channels):
    img = image(c=channels)
    data = encode_png(img)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    back = decode_png(data)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, img)


def test_png_bytes_are_deterministic():
    assert encode_png(image(seed=3)) == encode_png(image(seed=3).copy())


def test_png_float_images_are_scaled_and_other_dtypes_refused():
    np.testing.assert_array_equal(decode_png(encode_png(np.array([[0.0, 0.5, 1.0]]))),
                                  [[0, 128, 255]])
    with pytest.raises(ValueError, match="int64"):
        encode_png(np.zeros((4, 4, 3), np.int64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encode_png(np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((2, 2, 5), np.uint8))


def _png_with_filters(img: np.ndarray, filters: list[int]) -> bytes:
    """A PNG whose rows use the given filter types (a plain reference encoder)."""
    h, w, c = img.shape
    rows = img.reshape(h, w * c).astype(int)
    raw = bytearray()
    for y in range(h):
        ft, cur = filters[y % len(filters)], rows[y]
        prior = rows[y - 1] if y else np.zeros_like(cur)
        out = []
        for x in range(w * c):
            a = cur[x - c] if x >= c else 0
            b = prior[x]
            d = prior[x - c] if x >= c else 0
            if ft == 0:
                pred = 0
            elif ft == 1:
                pred = a
            elif ft == 2:
                pred = b
            elif ft == 3:
                pred = (a + b) // 2
            else:
                p = a + b - d
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else d)
            out.append((cur[x] - pred) % 256)
        raw += bytes([ft] + out)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(body, zlib.crc32(kind)))

    colour = {3: 2, 4: 6}[c]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_png_decodes_every_row_filter(channels):
    img = image(h=10, w=9, c=channels, seed=5)
    np.testing.assert_array_equal(decode_png(_png_with_filters(img, [0, 1, 2, 3, 4])), img)


def test_png_damaged_or_foreign_data_is_refused_clearly():
    data = bytearray(encode_png(image()))
    data[24] = 16  # bit depth in IHDR: the pixel data no longer fits
    body = bytes(data[12:29])
    data[29:33] = struct.pack(">I", zlib.crc32(body))
    with pytest.raises(ValueError, match="damaged"):
        decode_png(bytes(data))
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a")


# ---------------------------------------------------------------------------------------------
# Saving and reading back


def test_save_text_image_and_bytes_and_read_them_back(tmp_path):
    g = Gallery(tmp_path / "g")
    img = image()
    blob = os.urandom(5000)
    text_path = g.save(Output("a quiet harbour at dawn", name="poem"),
                       recipe_for("demo.write", prompt="harbour"))
    img_path = g.save(Output(img, name="painting"), recipe_for("demo.paint", steps=3))
    blob_path = g.save(Output(blob, name="song", suffix=".mid"), recipe_for("demo.compose"))

    assert text_path.read_text(encoding="utf-8") == "a quiet harbour at dawn"
    assert text_path.suffix == ".txt" and img_path.suffix == ".png"
    np.testing.assert_array_equal(decode_png(img_path.read_bytes()), img)
    assert blob_path.read_bytes() == blob and blob_path.suffix == ".mid"

    day = time.strftime("%Y-%m-%d")
    assert img_path.parent == tmp_path / "g" / day
    assert "-demo.paint-painting-" in img_path.name

    found = g.entries()
    assert [e.path for e in found] == [blob_path, img_path, text_path]  # newest first
    by_path = {e.path: e for e in found}
    entry = by_path[img_path]
    assert (entry.task, entry.name, entry.kind) == ("demo.paint", "painting", "image")
    recipe = json.loads(entry.recipe_path.read_text(encoding="utf-8"))
    assert recipe == entry.recipe
    assert recipe["task"] == "demo.paint" and recipe["params"] == {"steps": 3}
    assert recipe["seed"] == 7
    assert recipe["sha256"] == hashlib.sha256(img_path.read_bytes()).hexdigest()
    assert recipe["file"] == f"{day}/{img_path.name}"
    assert by_path[blob_path].kind == "file"
    assert g.get(entry.id).path == img_path
    with pytest.raises(UserError, match="no output 'no-such-id'"):
        g.get("no-such-id")
    assert [e.path for e in g.entries(task="demo.write")] == [text_path]
    assert len(g.entries(limit=2)) == 2
    assert g.verify() == []


def test_search_by_task_and_by_words_of_a_text(tmp_path):
    g = Gallery(tmp_path)
    g.save(Output("the lighthouse keeper sings", name="poem"), recipe_for("write.generate"))
    g.save(Output("a red fox runs", name="poem"), recipe_for("write.generate", prompt="fox"))
    g.save(Output(image(), name="painting"), recipe_for("paint.style", style="Monet"))

    assert [e.task for e in g.search("paint.style")] == ["paint.style"]
    assert len(g.search("write.generate")) == 2
    assert [e.path.read_text() for e in g.search("LIGHTHOUSE sings")] == [
        "the lighthouse keeper sings"]
    assert [e.name for e in g.search("monet")] == ["painting"]  # a parameter's value
    assert g.search("lighthouse fox") == []
    assert g.search("100%") == []  # wildcards are taken literally


def test_rebuild_after_deleting_the_index_gives_the_same_entries(tmp_path):
    g = Gallery(tmp_path)
    for i in range(4):
        g.save(Output(f"text number {i}", name=f"t{i}"), recipe_for("demo.write", i=i))
    g.save(Output(image(), name="img"), recipe_for("demo.paint"))
    before = g.entries()
    g.close()
    for name in os.listdir(tmp_path):
        if name.startswith("index.sqlite"):
            os.remove(tmp_path / name)

    g = Gallery(tmp_path)
    assert g.entries() == before
    assert [e.path.read_text() for e in g.search("number 2")] == ["text number 2"]
    assert g.rebuild() == 5
    assert g.entries() == before


def test_a_corrupt_index_is_rebuilt_on_open(tmp_path):
    g = Gallery(tmp_path)
    path = g.save(Output("still here", name="note"), recipe_for())
    g.close()
    for name in os.listdir(tmp_path):
        if name.startswith("index.sqlite"):
            os.remove(tmp_path / name)
    (tmp_path / "index.sqlite").write_bytes(os.urandom(3000))

    g = Gallery(tmp_path)
    assert [e.path for e in g.entries()] == [path]
    assert g.verify() == []


def test_stray_temp_files_and_orphans_are_not_entries(tmp_path):
    g = Gallery(tmp_path)
    kept = g.save(Output("kept", name="note"), recipe_for())
    day = kept.parent
    stale = day / ".120000-demo.task-x-abcdef.png.k3j2.tmp"
    stale.write_bytes(b"half a file")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = day / ".120001-demo.task-x-abcdee.png.k3j3.tmp"
    fresh.write_bytes(b"another save, in progress")
    (day / "120002-demo.task-orphan-abcdef.png").write_bytes(encode_png(image()))
    no_data = dict(recipe_for(), file=f"{day.name}/120003-demo.task-gone-abcdef.txt")
    (day / "120003-demo.task-gone-abcdef.recipe.json").write_text(json.dumps(no_data))
    g.close()

    g = Gallery(tmp_path)
    assert [e.path for e in g.entries()] == [kept]
    assert g.rebuild() == 1
    assert [e.path for e in g.entries()] == [kept]
    assert not stale.exists()  # an interrupted save's leftover is cleaned up
    assert fresh.exists()  # a young one may belong to a save still running
    assert g.verify() == [f"120003-demo.task-gone-abcdef: recipe without its file: "
                          f"{day / '120003-demo.task-gone-abcdef.recipe.json'}"]


def test_files_changed_behind_its_back_show_in_verify_and_on_open(tmp_path):
    g = Gallery(tmp_path)
    a = g.save(Output("first", name="a"), recipe_for())
    b = g.save(Output("second", name="b"), recipe_for())
    a.write_text("edited")
    assert g.verify() == [f"{g.entries()[1].id}: file differs from its recipe's sha256: {a}"]
    b.unlink()
    g.close()
    assert [e.path for e in Gallery(tmp_path).entries()] == [a]


def test_remove_deletes_both_files_and_the_entry(tmp_path):
    g = Gallery(tmp_path)
    keep = g.save(Output("keep", name="a"), recipe_for())
    gone = g.save(Output("gone", name="b"), recipe_for())
    entry = next(e for e in g.entries() if e.path == gone)
    g.remove(entry.id)
    assert not gone.exists() and not entry.recipe_path.exists()
    assert [e.path for e in g.entries()] == [keep]
    with pytest.raises(UserError):
        g.remove(entry.id)
    g.close()
    assert [e.path for e in Gallery(tmp_path).entries()] == [keep]


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["a.bin"]
    with pytest.raises(FileExistsError):
        write_atomic(target, b"three", replace=False)
    assert target.read_bytes() == b"two" and os.listdir(tmp_path) == ["a.bin"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_files_get_the_usual_permissions_not_owner_only(tmp_path):
    import torch

    from studio import paths
    from studio.training import save_tensors

    saved = DirectorySink(tmp_path).save(Output(b"MThd", name="music", suffix=".mid"), {})
    assert saved.stat().st_mode & 0o777 == paths.USUAL_MODE  # e.g. 0644, not mkstemp's 0600
    save_tensors({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == paths.USUAL_MODE


def test_directory_sink_numbers_taken_names(tmp_path):
    sink = DirectorySink(tmp_path / "out")
    paths = [sink.save(Output(f"take {i}", name="poem"), recipe_for()) for i in range(3)]
    assert [p.name for p in paths] == ["poem.txt", "poem-2.txt", "poem-3.txt"]
    assert [p.read_text() for p in paths] == ["take 0", "take 1", "take 2"]
    recipe = json.loads((tmp_path / "out" / "poem-2.txt.recipe.json").read_text())
    assert recipe["file"] == "poem-2.txt"
    assert recipe["sha256"] == hashlib.sha256(b"take 1").hexdigest()
    img = sink.save(Output(image(), name="poem"), recipe_for())
    assert img.name == "poem.png"  # another kind of file under the same name
    assert json.loads((tmp_path / "out" / "poem.png.recipe.json").read_text())["file"] == img.name
    paths.append(img)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        [p.name for p in paths] + [p.name + ".recipe.json" for p in paths])


# ---------------------------------------------------------------------------------------------
# Again


def _run_into(registry, task_id: str, sink, seed: int = 1234, **values):
    from studio import device as devices
    from studio.execution import Execution

    task = registry.task(task_id)
    return Execution(task, task.make_params(values), devices.pick("cpu"), sink=sink,
                     seed=seed).run()


def test_again_reproduces_the_same_bytes_on_the_cpu(tmp_path, registry):
    g = Gallery(tmp_path / "g")
    [first] = _run_into(registry, "testkit.noise", g, width=40, height=30, steps=3)
    entry = g.entries()[0]
    assert entry.path == first.path
    assert entry.recipe["params"] == {"width": 40, "height": 30, "steps": 3}
    assert entry.recipe["seed"] == 1234 and entry.recipe["device"] == "cpu"

    [second] = again(entry.recipe, registry, g)
    assert second.path != first.path
    assert second.path.read_bytes() == first.path.read_bytes()
    assert decode_png(second.path.read_bytes()).shape == (30, 40, 3)
    assert len(g.entries()) == 2

    other = dict(entry.recipe, seed=99)
    [third] = again(other, registry, DirectorySink(tmp_path / "out"), device="cpu")
    assert third.path.read_bytes() != first.path.read_bytes()


def test_again_says_it_reproduced_the_bytes(tmp_path, registry):
    g = Gallery(tmp_path / "g")
    [first] = _run_into(registry, "testkit.noise", g, width=20, height=10, steps=2)
    entry = g.entries()[0]
    assert entry.recipe["encoder"].startswith("Pillow ")
    logs = []
    [second] = again(entry.recipe, registry, g, on_event=lambda e, s: logs.append(e))
    assert second.path.read_bytes() == first.path.read_bytes()
    assert logs[-1] == Log("identical bytes to the original")


def _old_encoder_png(img: np.ndarray) -> bytes:
    """What Studio's own PNG writer wrote before Pillow's: filter 0 on every row, one IDAT."""
    h, w, c = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(body, zlib.crc32(kind)))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def test_again_on_an_item_of_the_old_png_writer_compares_pixels(tmp_path, registry):
    g = Gallery(tmp_path / "g")
    [first] = _run_into(registry, "testkit.noise", g, width=20, height=10, steps=2)
    entry = g.entries()[0]
    # make it an item saved before Pillow: the old writer's bytes, a recipe without encoder
    old = _old_encoder_png(decode_png(first.path.read_bytes()))
    assert old != first.path.read_bytes()
    first.path.write_bytes(old)
    recipe = dict(entry.recipe, sha256=hashlib.sha256(old).hexdigest())
    del recipe["encoder"]
    write_atomic(entry.recipe_path, json.dumps(recipe).encode())

    logs = []
    [second] = again(recipe, registry, g, on_event=lambda e, s: logs.append(e))
    assert second.path.read_bytes() != old
    assert logs[-1].message == ("same pixels as the original (compared pixel by pixel: it was "
                                "saved by Studio's earlier PNG writer, so the bytes differ)")

    other = dict(recipe, seed=5)
    [third] = again(other, registry, DirectorySink(tmp_path / "out"),
                    on_event=lambda e, s: logs.append(e), original=first.path)
    assert logs[-1].message.startswith("differs from the original: ")
    assert "pixels changed, by up to" in logs[-1].message

    first.path.unlink()
    again(recipe, registry, DirectorySink(tmp_path / "out2"), on_event=lambda e, s: logs.append(e))
    assert "its file is gone" in logs[-1].message


def test_images_with_a_jpeg_or_webp_suffix_are_saved_as_such(tmp_path):
    g = Gallery(tmp_path / "g")
    for suffix, magic in ((".jpg", b"\xff\xd8"), (".webp", b"RIFF")):
        path = g.save(Output(image(), name="pic", suffix=suffix), recipe_for())
        assert path.suffix == suffix and path.read_bytes().startswith(magic)
        recipe = json.loads(path.with_name(path.name[:-len(suffix)] + ".recipe.json").read_text())
        assert recipe["encoder"].startswith("Pillow ") and "quality" in recipe["encoder"]


def test_again_with_an_unknown_task_is_a_user_error(registry, tmp_path):
    with pytest.raises(UserError, match="unknown task 'gone.task'"):
        again(recipe_for("gone.task"), registry, DirectorySink(tmp_path))


# ---------------------------------------------------------------------------------------------
# The command line


def test_cli_list_show_again_remove(user_data, testkit, registry, capsys):
    from studio.cli import main
    from studio.paths import gallery_dir

    g = Gallery()
    [saved] = _run_into(registry, "testkit.noise", g, width=8, height=8, steps=1)
    _run_into(registry, "testkit.echo", g, text="hello gallery")
    echo = g.entries(task="testkit.echo")[0]
    noise = g.entries(task="testkit.noise")[0]
    g.close()
    assert saved.path.is_relative_to(gallery_dir())

    assert main(["gallery", "list"]) == 0  # an item a line, its files indented below
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == [echo.id, noise.id]
    assert lines[3] == f"    {noise.path}"
    assert lines[2].endswith(f"   {noise.summary}, seed {noise.recipe['seed']}")

    assert main(["gallery", "list", "--task", "testkit.noise"]) == 0
    assert capsys.readouterr().out.split()[0] == noise.id

    assert main(["gallery", "search", "hello", "GALLERY"]) == 0
    assert capsys.readouterr().out.split()[0] == echo.id
    assert main(["gallery", "search", "hello", "nowhere"]) == 0
    assert capsys.readouterr().out.startswith("nothing in the gallery matches")

    short = noise.id.rsplit("-", 1)[1]
    assert main(["gallery", "show", short]) == 0
    out = capsys.readouterr().out
    assert str(noise.path) in out
    recipe = json.loads(out[out.index("{"):])
    assert recipe["task"] == "testkit.noise" and recipe["seed"] == noise.recipe["seed"]

    out_dir = user_data / "again"
    assert main(["gallery", "again", noise.id, "--out", str(out_dir)]) == 0
    printed = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == out_dir / "noise.png"
    assert printed.read_bytes() == noise.path.read_bytes()

    assert main(["gallery", "again", echo.id]) == 0
    assert "hello gallery" in capsys.readouterr().out
    assert len(Gallery().entries(task="testkit.echo")) == 2

    assert main(["gallery", "remove", noise.id]) == 0
    assert "removed" in capsys.readouterr().out and not noise.path.exists()
    assert main(["gallery", "rebuild"]) == 0
    assert "2 outputs" in capsys.readouterr().out


def test_cli_unknown_id_is_one_line_error(user_data, capsys):
    from studio.cli import main

    assert main(["gallery", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("studio: error: no output 'nope' in the gallery")
    assert main(["gallery", "list"]) == 0
    assert capsys.readouterr().out.strip() == "the gallery is empty"


def test_cli_run_with_out_writes_into_that_folder(user_data, testkit, tmp_path, capsys,
                                                  monkeypatch):
    import sys

    from studio import runner
    from studio.cli import main

    # TerminalReporter's default streams are bound when studio.runner is first imported (an
    # earlier test's capture, closed by now); give it this test's.
    monkeypatch.setattr(runner.TerminalReporter.__init__, "__defaults__", (sys.stdout, sys.stderr))
    out_dir = tmp_path / "outputs"
    assert main(["run", "testkit.echo", "--text", "hi", "--out", str(out_dir)]) == 0
    assert (out_dir / "echo.txt").read_text(encoding="utf-8") == "hi"
    recipe = json.loads((out_dir / "echo.txt.recipe.json").read_text(encoding="utf-8"))
    assert recipe["task"] == "testkit.echo" and recipe["params"]["text"] == "hi"
    assert recipe["sha256"] == hashlib.sha256(b"hi").hexdigest()
    assert f"saved to {out_dir / 'echo.txt'}" in capsys.readouterr().err
    assert not (user_data / "gallery").exists()  # --out leaves the gallery alone
