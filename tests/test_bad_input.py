"""The files and text real users bring, through the command line: each class is read right or
refused with one line that says what is wrong and exit status 2, never 1 and never a traceback.

Every input is made here (prompts in odd encodings, MIDI cut short or lying about its chunks,
long MIDI at 10,080 ticks per beat, hostile and broken checkpoints, odd pictures). The CLI runs
in this process (``studio.testing.run_cli``), so the suite costs one interpreter.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest

TPB = 10_080  # ticks per beat of the long real-world exports


# --- inputs ----------------------------------------------------------------------------------


def midi_bytes(tracks: list[list], tpb: int = 480) -> bytes:
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for messages in tracks:
        mid.tracks.append(mido.MidiTrack(messages))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def melody(pitches: list[int], beats: float = 1.0, tpb: int = 480, channel: int = 0) -> list:
    """One note per ``beats``, back to back."""
    out: list = [mido.MetaMessage("track_name", name="melody", time=0)]
    for p in pitches:
        out.append(mido.Message("note_on", note=p, velocity=80, channel=channel, time=0))
        out.append(mido.Message("note_off", note=p, velocity=0, channel=channel,
                                time=round(beats * tpb)))
    return out


def quartet(beats: int, tpb: int = TPB) -> bytes:
    """A string quartet movement: four voices, one note a beat each, ``beats`` beats long, with
    a tempo of 96 bpm and 3/4 time in the conductor track."""
    conductor = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96), time=0),
                 mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)]
    voices = []
    for v, base in enumerate((76, 69, 62, 48)):
        track = [mido.MetaMessage("track_name", name=f"voice {v + 1}", time=0),
                 mido.Message("program_change", program=40 + v, channel=v, time=0)]
        for b in range(beats):
            pitch = base + (b * (v + 2)) % 7
            track.append(mido.Message("note_on", note=pitch, velocity=70, channel=v, time=0))
            track.append(mido.Message("note_off", note=pitch, velocity=0, channel=v, time=tpb))
        voices.append(track)
    return midi_bytes([conductor, *voices], tpb)


def short_song() -> bytes:
    return midi_bytes([melody([60, 62, 64, 65])])


def truncated_midi() -> bytes:
    return short_song()[:-9]  # cut inside the track


def header_only_midi() -> bytes:
    return short_song()[:14]


def lying_chunk_midi() -> bytes:
    data = bytearray(short_song())
    data[18:22] = (len(data) * 10).to_bytes(4, "big")  # the track claims ten times the file
    return bytes(data)


def zero_tracks_midi() -> bytes:
    data = bytearray(short_song()[:14])
    data[10:12] = b"\x00\x00"
    return bytes(data)


def running_status_after_sysex_midi() -> bytes:
    """A track that opens with a sysex and then continues with data bytes (running status) with
    no channel status before them to repeat."""
    track = bytes([0x00, 0xF0, 0x03, 0x7E, 0x7F, 0xF7,  # sysex
                   0x00, 0x3C, 0x50,  # running status with nothing to run on
                   0x00, 0xFF, 0x2F, 0x00])
    header = short_song()[:14]
    return header + b"MTrk" + len(track).to_bytes(4, "big") + track


def unclosed_note_midi() -> bytes:
    """A note-on that no note-off ends, and one that ends: the first must sound to the end."""
    track = [mido.Message("note_on", note=48, velocity=80, time=0),
             mido.Message("note_on", note=60, velocity=80, time=0),
             mido.Message("note_off", note=60, velocity=0, time=480),
             mido.Message("note_on", note=62, velocity=80, time=0),
             mido.Message("note_off", note=62, velocity=0, time=480 * 3)]
    return midi_bytes([track])


def musicxml(measures: str, tempo: str = "") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1">'
            '<part-list><score-part id="P1"><part-name>Voice</part-name></score-part>'
            f'</part-list><part id="P1"><measure number="1"><attributes><divisions>1'
            f'</divisions><time><beats>4</beats><beat-type>4</beat-type></time></attributes>'
            f'{tempo}{measures}</measure></part></score-partwise>')


def xml_note(step: str, duration: int, tie: str = "") -> str:
    ties = "".join(f'<tie type="{t}"/>' for t in tie.split()) if tie else ""
    return (f"<note><pitch><step>{step}</step><octave>4</octave></pitch>"
            f"<duration>{duration}</duration>{ties}</note>")


def unended_tie_xml() -> str:
    """C held over two notes whose tie starts and is never stopped (an exporter's slip)."""
    return musicxml(xml_note("C", 2, "start") + xml_note("C", 2) + xml_note("E", 4))


def deep_json(depth: int = 100_000) -> str:
    return '{"train": ' + "[" * depth + "]" * depth + "}"


def state_dict_file(path: Path, state: dict) -> Path:
    import torch

    torch.save(state, path)
    return path


class Evil:
    """Unpickling this would create a file: a stand-in for running any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def evil_pth(path: Path, marker: Path, route: str) -> Path:
    """A checkpoint that runs code when unpickled: a torch zip, a legacy torch file, or a bare
    pickle (protocol 5)."""
    import torch

    payload = {"w": torch.zeros(2), "payload": Evil(marker)}
    if route == "zip":
        torch.save(payload, path)
    elif route == "legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=5))
    return path


def png(path: Path, image, **save) -> Path:
    image.save(path, **save)
    return path


# --- running ---------------------------------------------------------------------------------


def cli(*args: str | Path, data: Path) -> tuple[int, str, str]:
    from studio.testing import run_cli

    result = run_cli(*map(str, args), data_dir=data)
    return result.code, result.stdout, result.stderr


def refused(args: tuple, data: Path, *words: str) -> str:
    """Runs the command, checks it refused with exit 2 and one line holding ``words``."""
    code, out, err = cli(*args, data=data)
    lines = [line for line in err.splitlines() if line.startswith("studio: error:")]
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --- 1. prompts ------------------------------------------------------------------------------

GEN = ("run", "write.generate", "--model", "write.classics", "--max-tokens", "2", "--seed", "1")


def test_prompt_with_bytes_that_are_not_utf8_names_the_byte(tmp_path):
    # what the shell hands over for "café" typed in Latin-1: Python keeps 0xe9 as a surrogate
    prompt = os.fsdecode(b"caf\xe9 au lait")
    refused((*GEN, "--prompt", prompt, "--out", tmp_path), tmp_path,
            "--prompt: not UTF-8 text: byte 0xe9 at line 1, column 4")


def test_prompt_files_in_utf16_and_of_any_size(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("ROMEO. Wherefore art thou".encode("utf-16"))  # with its BOM
    code, out, err = cli(*GEN, "--prompt-file", utf16, "--out", tmp_path / "a", data=tmp_path)
    assert code == 0, err
    assert out.startswith("ROMEO. Wherefore art thou")
    big = tmp_path / "big.txt"
    big.write_text("To be, or not to be. " * 10_000, encoding="utf-8")  # 210 KB > ARG_MAX
    code, out, err = cli(*GEN, "--prompt-file", big, "--out", tmp_path / "b", data=tmp_path)
    assert code == 0, err
    assert "the prompt is longer than the context" in err


def test_prompt_from_standard_input(tmp_path, monkeypatch):
    class Piped(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr("sys.stdin", Piped(io.BytesIO("\ufeffKING. Speak".encode())))
    code, out, err = cli(*GEN, "--prompt", "-", "--out", tmp_path, data=tmp_path)
    assert code == 0, err
    assert out.startswith("KING. Speak")
    (recipe,) = tmp_path.glob("*.recipe.json")  # the text read, not "-": Again replays it
    assert json.loads(recipe.read_text())["params"]["prompt"] == "KING. Speak"


@pytest.mark.parametrize(("content", "words"), [
    (b"line one\nline \xff two", ["bad.txt: not UTF-8 text: byte 0xff at line 2, column 6"]),
    ("no mark".encode("utf-16-le"), ["bad.txt: not text: a NUL byte", "byte order mark"]),
    (b"\xff\xfeA\x00\x00\xd8", ["bad.txt: not UTF-16 text"]),  # a lone surrogate half
])
def test_prompt_files_that_are_not_text(tmp_path, content, words):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    refused((*GEN, "--prompt-file", bad, "--out", tmp_path), tmp_path, *words)


def test_missing_prompt_file_and_both_prompts(tmp_path):
    refused((*GEN, "--prompt-file", tmp_path / "nope.txt"), tmp_path, "no such file", "nope.txt")
    (tmp_path / "p.txt").write_text("x")
    refused((*GEN, "--prompt", "a", "--prompt-file", tmp_path / "p.txt"), tmp_path,
            "not both")


# --- 2, 3, 5. music files --------------------------------------------------------------------


def test_long_quartet_at_10080_ticks_per_beat_reads_whole():
    from studio_compose.midi_io import read_midi

    beats = 1_200  # a last tick of 12,096,000: pretty_midi refused anything past 10,000,000
    score = read_midi(quartet(beats))
    assert len(score.notes) == 4 * beats
    assert score.n_steps == 4 * beats  # four steps a beat
    assert score.tempo == pytest.approx(96)
    assert score.duration == pytest.approx(beats * 60 / 96)  # 750 s
    assert score.steps_per_bar == 12  # 3/4
    assert score.voices == ["voice 1", "voice 2", "voice 3", "voice 4"]
    assert score.programs == [40, 41, 42, 43]


def test_an_absurdly_long_file_is_refused_with_the_limit():
    from studio_compose.midi_io import MusicError, read_midi

    track = [mido.Message("note_on", note=60, velocity=80, time=0),
             mido.Message("note_off", note=60, velocity=0, time=200_000 * 96)]
    with pytest.raises(MusicError, match=r"too long: 200,000 beats \(at most 125,000 beats"):
        read_midi(midi_bytes([track], tpb=96))


MIDI_CASES: dict[str, tuple[Callable[[], bytes], list[str]]] = {
    "truncated": (truncated_midi, ["track 1 of 1 says it is", "only", "cut short"]),
    "header_only": (header_only_midi, ["the header announces 1 track but the file holds only "
                                       "the header"]),
    "lying_chunk": (lying_chunk_midi, ["track 1 of 1 says it is 720 bytes long but only 50 "
                                       "bytes follow"]),
    "zero_tracks": (zero_tracks_midi, ["the header says the file holds no tracks"]),
    "running_status_after_sysex": (running_status_after_sysex_midi,
                                   ["track 1: a data byte (0x3C) at byte 7", "running status"]),
}


@pytest.mark.parametrize("case", list(MIDI_CASES))
def test_broken_midi_says_what_is_broken(tmp_path, case):
    make, words = MIDI_CASES[case]
    path = tmp_path / f"{case}.mid"
    path.write_bytes(make())
    line = refused(("run", "compose.render", "--file", path, "--out", tmp_path), tmp_path,
                   f"{case}.mid: ", *words)
    assert line.count(f"{case}.mid") == 1


def test_a_riff_wrapped_midi_file_reads_as_the_file_inside():
    from studio_compose.midi_io import read_midi

    inner = short_song()
    body = b"RMID" + b"data" + len(inner).to_bytes(4, "little") + inner
    riff = b"RIFF" + len(body).to_bytes(4, "little") + body
    assert [n.pitch for n in read_midi(riff).notes] == [60, 62, 64, 65]


def test_a_note_never_switched_off_sounds_to_the_end_and_is_reported(tmp_path):
    from studio_compose.midi_io import read_midi

    score = read_midi(unclosed_note_midi())
    held = next(n for n in score.notes if n.pitch == 48)
    assert (held.start, held.length) == (0, 16)  # to the track's end, beat 4
    assert score.remarks == ["1 note never switched off: held to the end of the track"]
    path = tmp_path / "held.mid"
    path.write_bytes(unclosed_note_midi())
    code, _, err = cli("run", "compose.render", "--file", path, "--out", tmp_path, data=tmp_path)
    assert code == 0, err
    assert "warning: held.mid: 1 note never switched off" in err


def test_musicxml_unended_tie_holds_and_default_tempo_matches_midi(tmp_path):
    from studio_compose.midi_io import read_midi, read_musicxml

    path = tmp_path / "tie.musicxml"
    path.write_text(unended_tie_xml())
    score = read_musicxml(path)
    assert [(n.pitch, n.start, n.length) for n in score.notes] == [(60, 0, 16), (64, 16, 16)]
    assert score.tempo == read_midi(short_song()).tempo == 120


# --- 4. training data ------------------------------------------------------------------------


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(deep_json())
    refused(("run", "compose.train", "--data", path, "--steps", "1", "--model-id", "x"),
            tmp_path, "deep.json: refused, its JSON is nested too deeply")


def test_training_folder_names_what_it_skips_and_why(tmp_path):
    from studio_compose.data import read_corpus

    four = [mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)]
    waltz = [mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0)]
    tune = melody([60, 62, 64, 65] * 4)
    (tmp_path / "four.mid").write_bytes(midi_bytes([four, tune]))
    (tmp_path / "waltz.mid").write_bytes(midi_bytes([waltz, tune]))
    (tmp_path / "broken.mid").write_bytes(truncated_midi())
    corpus = read_corpus(tmp_path, steps_per_bar=16)
    assert len(corpus.train) == 1 and "1 pieces; 2 skipped" in corpus.description
    assert corpus.skipped[0].startswith("broken.mid: track 1 of 1 says it is")
    assert corpus.skipped[1] == ("waltz.mid: in 3/4, its 12-step bars do not fit the model's "
                                 "16-step bars (train with --steps-per-bar 24 for this meter)")
    assert corpus.skipped_note().startswith("skipped 2: broken.mid: ")
    assert len(read_corpus(tmp_path, steps_per_bar=24).train) == 1  # the waltz, now
    assert len(read_corpus(tmp_path, steps_per_bar=8).train) == 1  # half bars of 4/4 line up

    code, _, err = cli("run", "compose.train", "--data", tmp_path, "--steps", "1",
                       "--batch-size", "2", "--pitches", "36", "--lowest-pitch", "48",
                       "--eval-interval", "1", "--model-id", "x", data=tmp_path / "user")
    assert code == 0, err
    assert "warning: skipped waltz.mid: in 3/4" in err
    assert "warning: skipped broken.mid: track 1 of 1" in err
    card = json.loads((tmp_path / "user" / "models" / "x" / "card.json").read_text())
    assert "skipped 2: broken.mid: " in card["training_data"]
    assert "waltz.mid: in 3/4" in card["training_data"]


# --- 6. checkpoints --------------------------------------------------------------------------


IMPORT = ("models", "import")


@pytest.mark.parametrize("route", ["zip", "legacy", "bare"])
def test_unsafe_pickle_is_called_unsafe_on_every_route(tmp_path, route):
    marker = tmp_path / "pwned"
    src = evil_pth(tmp_path / "evil.pth", marker, route)
    refused((*IMPORT, src, "--id", "evil", "--capability", "paint"), tmp_path,
            "refused to load evil.pth: unsafe pickle, it would run code")
    assert not marker.exists()
    assert not (tmp_path / "models" / "evil").exists()


def test_broken_checkpoints_say_what_is_wrong(tmp_path):
    import torch

    (tmp_path / "empty.pth").write_bytes(b"")
    refused((*IMPORT, tmp_path / "empty.pth", "--id", "m", "--capability", "paint"), tmp_path,
            "cannot read empty.pth: the file is empty (0 bytes)")
    state_dict_file(tmp_path / "nothing.pth", {})
    refused((*IMPORT, tmp_path / "nothing.pth", "--id", "m", "--capability", "paint"), tmp_path,
            "nothing.pth: the state dict is empty (no tensors to import)")
    state_dict_file(tmp_path / "nan.pth", {"conv.weight": torch.tensor([1.0, float("nan")]),
                                           "conv.bias": torch.tensor([float("inf")])})
    refused((*IMPORT, tmp_path / "nan.pth", "--id", "m", "--capability", "paint"), tmp_path,
            "refused nan.pth: conv.weight holds 1 NaN or infinite value (and 1 more)")
    state_dict_file(tmp_path / "ints.pth", {"conv.weight": torch.ones(2, dtype=torch.int64),
                                            "bn.num_batches_tracked": torch.tensor(3)})
    refused((*IMPORT, tmp_path / "ints.pth", "--id", "m", "--capability", "paint"), tmp_path,
            "refused ints.pth: conv.weight holds int64 numbers where weights are floating point")
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04 not really a zip")
    refused((*IMPORT, tmp_path / "junk.pth", "--id", "m", "--capability", "paint"), tmp_path,
            "cannot read junk.pth: not a PyTorch checkpoint, or a damaged one")
    assert not (tmp_path / "models" / "m").exists()


def write_checkpoint(folder: Path) -> Path:
    """A write model trained with settings of its own (one layer, 48 wide, 2 heads, a context of
    64), saved as a bare state dict with the shipped tokenizer beside it."""
    import shutil

    import torch

    from studio_write.gpt import GPT, GPTConfig

    cfg = GPTConfig(vocab_size=4096, block_size=64, n_layer=1, n_head=2, n_embd=48)
    torch.save(GPT(cfg).state_dict(), folder / "mine.pth")
    root = Path(__file__).parent.parent / "assets" / "models" / "write.classics"
    shutil.copy(root / "tokenizer.json", folder / "tokenizer.json")
    return folder / "mine.pth"


def test_write_import_reads_its_settings_carries_its_tokenizer_and_runs(tmp_path):
    src = write_checkpoint(tmp_path)
    refused((*IMPORT, src, "--id", "mine", "--capability", "write"), tmp_path,
            "mine.pth does not fit mine: the number of attention heads is not in the weights",
            "--config n_head=N")
    code, out, err = cli(*IMPORT, src, "--id", "mine", "--capability", "write", "--config",
                         "n_head=2", data=tmp_path)
    assert code == 0, err
    assert "n_head=2, vocab_size=4096, block_size=64, n_layer=1, n_embd=48" in out
    folder = tmp_path / "models" / "mine"
    card = json.loads((folder / "card.json").read_text())
    assert card["config"]["n_layer"] == 1 and card["config"]["n_head"] == 2
    assert {f["name"] for f in card["files"]} >= {"tokenizer.json"}
    code, out, err = cli("run", "write.generate", "--model", "mine", "--prompt", "KING.",
                         "--max-tokens", "3", "--out", tmp_path / "o", data=tmp_path)
    assert code == 0, err
    assert out.startswith("KING.")


def test_a_model_folder_copied_whole_imports_from_its_card(tmp_path):
    import shutil

    folder = tmp_path / "copied"
    shutil.copytree(Path(__file__).parent.parent / "assets" / "models" / "write.classics",
                    folder)
    code, out, err = cli(*IMPORT, folder / "model.safetensors", "--id", "copy", data=tmp_path)
    assert code == 0, err
    assert "n_head=4" in out
    code, out, err = cli("run", "write.generate", "--model", "copy", "--prompt", "KING.",
                         "--max-tokens", "3", "--out", tmp_path / "o", data=tmp_path)
    assert code == 0, err


def test_write_import_without_its_tokenizer_is_refused(tmp_path):
    src = write_checkpoint(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    refused((*IMPORT, src, "--id", "mine", "--capability", "write", "--config", "n_head=2"),
            tmp_path, "mine.pth: a write model needs its tokenizer.json, and there is none "
                      "beside it")
    assert not (tmp_path / "models" / "mine").exists()


def test_compose_import_takes_its_card_beside_it_or_names_what_does_not_fit(tmp_path):
    import torch

    from studio_compose.musegan import Critic, Generator, MuseGANConfig

    cfg = MuseGANConfig(n_pitches=72, lowest_pitch=36)
    state = {f"generator.{k}": v for k, v in Generator(cfg).state_dict().items()}
    state |= {f"critic.{k}": v for k, v in Critic(cfg).state_dict().items()}
    src = tmp_path / "gan" / "gan.pth"
    src.parent.mkdir()
    torch.save(state, src)
    refused((*IMPORT, src, "--id", "gan", "--capability", "compose"), tmp_path,
            "gan.pth does not fit gan: 5 shape mismatches", "card.json")
    card = {"id": "gan", "capability": "compose", "title": "", "architecture": "musegan",
            "config": cfg.to_dict(), "files": [], "licence": "", "training_data": "",
            "command": "", "quality": {}}
    (src.parent / "card.json").write_text(json.dumps(card))
    code, out, err = cli(*IMPORT, src, "--id", "gan", "--capability", "compose", data=tmp_path)
    assert code == 0, err
    code, _, err = cli("run", "compose.generate", "--model", "gan", "--bars", "2", "--no-wav",
                       "--out", tmp_path / "o", data=tmp_path)
    assert code == 0, err


def test_generation_on_mismatched_weights_names_the_model_and_the_file(tmp_path):
    src = write_checkpoint(tmp_path)
    assert cli(*IMPORT, src, "--id", "mine", "--capability", "write", "--config", "n_head=2",
               data=tmp_path)[0] == 0
    path = tmp_path / "models" / "mine" / "card.json"
    card = json.loads(path.read_text())
    card["config"]["n_layer"] = 2  # a card edited by hand
    path.write_text(json.dumps(card))
    line = refused(("run", "write.generate", "--model", "mine", "--prompt", "x",
                    "--out", tmp_path / "o"), tmp_path, "model 'mine' (", ".safetensors)",
                   "missing 12 keys")
    assert "\n" not in line


# --- 7. pictures -----------------------------------------------------------------------------


def pictures(folder: Path) -> dict[str, tuple[Path, int]]:
    """Each odd picture and the exit status paint.translate must end with."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    return {
        "one_pixel_high": (png(folder / "row.png", rgb.resize((64, 1))), 0),
        "long_and_thin": (png(folder / "thin.png", rgb.resize((3000, 3))), 0),
        "sixteen_bit": (png(folder / "deep.png", Image.fromarray(
            (rng.integers(0, 65535, (32, 48))).astype(np.uint16))), 0),
        "palette": (png(folder / "pal.png", rgb.convert("P", palette=Image.ADAPTIVE)), 0),
        "exif_rotated": (png(folder / "turned.jpg", rgb, exif=exif), 0),
        "lying_extension": (png(folder / "photo.jpg", rgb, format="PNG"), 0),
        "not_a_picture": (folder / "notes.png", 2),
        "cut_short": (folder / "cut.png", 2),
    }


def test_odd_pictures_are_translated_or_refused_with_2(tmp_path):
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    cases = pictures(pics)
    cases["not_a_picture"][0].write_text("hello")
    whole = (pics / "row.png").read_bytes()
    cases["cut_short"][0].write_bytes(whole[: len(whole) // 2])
    for name, (path, status) in cases.items():
        code, _, err = cli("run", "paint.translate", "--image", path, "--model", "paint.monet",
                           "--scale", "full", "--out", tmp_path / name, data=tmp_path)
        assert code == status, (name, err)
        assert "Traceback" not in err
        if status == 0:
            [out] = (tmp_path / name).glob("*.png")
            shown = {"exif_rotated": (40, 64), "one_pixel_high": (64, 1),
                     "long_and_thin": (3000, 3)}.get(name)
            if shown:  # turned as the camera said; a thin strip stays a thin strip
                assert Image.open(out).size == shown, name
        else:
            assert f"{path.name}: " in err, err

