"""Gallery items: one run is one item (a MIDI and its WAV together), with a readable title and a
thumbnail of what it holds; favourites survive a rebuild and "clear"; an older gallery's outputs
are grouped by run when its index is rebuilt."""

from __future__ import annotations

import io
import json
import sqlite3
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from studio.errors import UserError
from studio.gallery import Gallery
from studio.tasks import Context, Event, Output, Task, param
from studio.thumbnails import describe, thumbnail

RED, BLUE, BG = (224, 108, 117), (97, 175, 239), (30, 31, 34)


def midi_bytes(bars: int = 2, voices: int = 2) -> bytes:
    """``bars`` bars of 4/4 at 120 bpm: voice v plays quarter notes on pitch 60 + 7 v."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0))
    for v in range(voices):
        inst = pretty_midi.Instrument(0, name=f"v{v}")
        for beat in range(4 * bars):
            inst.notes.append(pretty_midi.Note(90, 60 + 7 * v, beat * 0.5, beat * 0.5 + 0.4))
        pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size) * 20000).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


@dataclass
class MusicParams:
    bars: int = param(2, min=1, max=8)
    title: bool = param(True)


def music(p: MusicParams, ctx: Context) -> Iterator[Event]:
    title = f"{p.bars} bars, C major" if p.title else ""
    yield Output(midi_bytes(p.bars), name="music", suffix=".mid", title=title)
    yield Output(wav_bytes(), name="music", suffix=".wav", title=title)


MUSIC = Task("demo.music", "Music", MusicParams, music)


def run(task: Task, sink, seed: int = 5, **values):
    from studio import device as devices
    from studio.execution import Execution

    return Execution(task, task.make_params(values), devices.pick("cpu"), sink=sink,
                     seed=seed).run()


def test_one_run_is_one_item_holding_its_midi_and_wav(tmp_path):
    g = Gallery(tmp_path)
    run(MUSIC, g, seed=491831430)
    run(MUSIC, g, seed=7, bars=4, title=False)
    assert len(g) == 4  # four files
    newer, older = g.items()
    assert older.title == "2 bars, C major, seed 491831430"
    assert [e.path.suffix for e in older.entries] == [".mid", ".wav"]
    assert older.primary.path.suffix == ".mid" and older.audio.path.suffix == ".wav"
    assert older.id == older.entries[0].id
    # without the task's title: what the MIDI holds, read from the file
    assert newer.title == "4 bars, seed 7"
    # any of its files names the item
    assert g.item(older.entries[1].id).id == older.id
    assert [i.id for i in g.items(query="major")] == [older.id]


def test_titles_say_what_each_kind_of_file_holds(tmp_path):
    g = Gallery(tmp_path)
    recipe = {"task": "demo.t", "params": {}, "seed": 3, "duration_s": 0.1}
    g.save(Output(np.zeros((30, 40, 3), np.uint8), name="photo-monet"), dict(recipe, seed=1))
    g.save(Output("four little words here", name="text"), dict(recipe, seed=2))
    g.save(Output(wav_bytes(2.0), name="song", suffix=".wav"), dict(recipe, seed=3))
    # a plain word ("text", "song") names the kind, not the piece: left out
    assert [i.title for i in g.items()] == ["0:02 of audio, seed 3", "4 words, seed 2",
                                            "photo-monet, 40x30, seed 1"]


def test_video_title_and_first_frame(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "drive.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:] = (0, 0, 255) if i == 0 else (255, 0, 0)  # BGR: red first, then blue
        out.write(frame)
    out.release()
    assert describe(path, "file") == "0:02 of video, 64x48"
    first = thumbnail(path, "video", 32)
    assert first.shape == (24, 32, 3)
    r, g, b = first[12, 16]
    assert r > 200 and g < 60 and b < 60  # the first frame, red, in RGB


def test_thumbnails_of_midi_and_sound(tmp_path):
    mid = tmp_path / "a.mid"
    mid.write_bytes(midi_bytes(bars=2, voices=2))
    roll = thumbnail(mid, "music", 200, (RED, BLUE), BG)
    assert roll.shape == (150, 200, 3)
    colours = {tuple(c) for c in roll.reshape(-1, 3)}
    assert colours == {RED, BLUE, BG}
    red_rows = np.where((roll == RED).all(axis=2).any(axis=1))[0]
    blue_rows = np.where((roll == BLUE).all(axis=2).any(axis=1))[0]
    assert blue_rows.max() < red_rows.min()  # the higher voice is drawn higher up
    wav = tmp_path / "a.wav"
    wav.write_bytes(wav_bytes(1.0))
    wave_pic = thumbnail(wav, "audio", 100, (RED,), BG)
    loud = (wave_pic == RED).all(axis=2).sum(axis=0)
    assert loud[-5:].mean() > loud[:5].mean()  # the test tone fades in
    broken = tmp_path / "b.mid"
    broken.write_bytes(b"not midi")
    assert thumbnail(broken, "music", 100) is None and describe(broken, "file") == ""


def test_favourites_survive_a_rebuild_and_clear_keeps_them(tmp_path):
    g = Gallery(tmp_path)
    for seed in (1, 2, 3):
        run(MUSIC, g, seed=seed)
    third, second, first = g.items()
    g.set_favourite(second.id)
    assert [i.id for i in g.items(favourites_only=True)] == [second.id]
    (tmp_path / "index.sqlite").unlink()
    g.close()
    g = Gallery(tmp_path)  # the index rebuilt from the recipes
    assert [(i.id, i.favourite) for i in g.items()] == [(third.id, False), (second.id, True),
                                                        (first.id, False)]
    assert g.clear_history() == 2
    assert [i.id for i in g.items()] == [second.id]
    assert not any(e.path.exists() for e in first.entries + third.entries)
    assert all(e.path.exists() for e in second.entries)
    g.set_favourite(second.id, False)
    assert g.favourites() == set()
    with pytest.raises(UserError, match="no output 'nope' in the gallery"):
        g.set_favourite("nope")


def _old_recipe(day: Path, stem: str, suffix: str, data: bytes, saved: str, duration: float,
                seed: int) -> None:
    """An output as a Studio without runs saved it: no "run" in its recipe."""
    (day / (stem + suffix)).write_bytes(data)
    recipe = {"task": "demo.music", "params": {"bars": 2}, "seed": seed, "device": "cpu",
              "duration_s": duration, "output": {"name": "music", "kind": "file",
                                                 "suffix": suffix},
              "file": f"{day.name}/{stem}{suffix}", "saved": saved}
    (day / (stem + ".recipe.json")).write_text(json.dumps(recipe))


def test_an_older_gallery_is_grouped_by_run_when_its_index_is_rebuilt(tmp_path, caplog):
    day = tmp_path / "2026-01-01"
    day.mkdir()
    mid, wav = midi_bytes(), wav_bytes()
    # one run (started 10:00:00) saved a MIDI at 10:00:01 and its WAV at 10:00:01.5; "Again"
    # of the same recipe (same seed and parameters) started at 10:00:05
    _old_recipe(day, "100001-demo.music-music-aaaaaa", ".mid", mid,
                "2026-01-01T10:00:01+00:00", 1.0, 7)
    _old_recipe(day, "100001-demo.music-music-bbbbbb", ".wav", wav,
                "2026-01-01T10:00:01.500000+00:00", 1.5, 7)
    _old_recipe(day, "100006-demo.music-music-cccccc", ".mid", mid,
                "2026-01-01T10:00:06+00:00", 1.0, 7)
    db = sqlite3.connect(tmp_path / "index.sqlite")  # the old index (version 1)
    db.execute("CREATE TABLE entries (id TEXT PRIMARY KEY)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    g = Gallery(tmp_path)
    again, first = g.items()
    assert [e.id for e in first.entries] == ["100001-demo.music-music-aaaaaa",
                                             "100001-demo.music-music-bbbbbb"]
    assert [e.id for e in again.entries] == ["100006-demo.music-music-cccccc"]
    assert first.title == "2 bars, seed 7"
    assert "unreadable" not in caplog.text  # an upgrade, not damage


def test_cli_lists_items_with_their_files_and_favourites(user_data, capsys):
    from studio.cli import main

    g = Gallery()
    run(MUSIC, g, seed=11)
    run(MUSIC, g, seed=12)
    newer, older = g.items()
    g.close()
    assert main(["gallery", "favourite", older.entries[1].id]) == 0  # its WAV names it
    assert capsys.readouterr().out == f"marked {older.id} (2 bars, C major, seed 11)\n"
    assert main(["gallery", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(newer.id) and lines[0].endswith("   2 bars, C major, seed 12")
    assert lines[3].startswith(older.id) and lines[3].endswith(" * 2 bars, C major, seed 11")
    assert lines[4:] == [f"    {e.path}" for e in older.entries]
    assert main(["gallery", "list", "--favourites"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(older.id)
    assert main(["gallery", "clear"]) == 0
    assert capsys.readouterr().out == "deleted 1 item; kept 1 favourite\n"
    assert main(["gallery", "remove", older.id]) == 0
    assert not any(e.path.exists() for e in older.entries)
    assert main(["gallery", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "the gallery is empty"
