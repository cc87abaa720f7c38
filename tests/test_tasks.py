"""The task protocol as a plugin author and a user see it: the schema built from a parameter
dataclass, conversions and their messages, events, and the command-line flags of a task."""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from pathlib import Path

import numpy as np
import pytest

from studio.errors import UserError
from studio.runner import parse_task_args, task_parser
from studio.tasks import Output, ParamError, ParamSpec, Task, param, schema_of


@dataclass
class AllParams:
    prompt: str = param("a cat", help="what to draw", multiline=True, label="Prompt text")
    steps: int = param(50, min=1, max=5000, help="denoising steps")
    guidance: float = param(7.5, min=0.0, max=20.0)
    sampler: str = param("ddim", choices=("ddim", "euler"))
    shout: bool = param(False, help="add an exclamation mark")
    image: Path | None = param(None, filter="Images (*.png *.jpg)")
    save_to: Path = param(Path("out.png"), save=True)
    max_tokens: int | None = param(None, min=1)
    seed_text: str | None = param(None)


@dataclass
class NeedsFile:
    source: Path = param(help="a file to read", filter="Text (*.txt)")
    count: int = param(3)


def _run(p, ctx):
    yield Output("done")


TASK = Task("demo.all", "All types", AllParams, _run, "Every parameter type.")
FILE_TASK = Task("demo.file", "Needs a file", NeedsFile, _run)


def _spec(name: str, cls: type = AllParams) -> ParamSpec:
    return next(s for s in schema_of(cls) if s.name == name)


# --- the schema -------------------------------------------------------------------------------


def test_schema_of_every_supported_type():
    specs = schema_of(AllParams)

    assert [(s.name, s.type, s.optional, s.required, s.default) for s in specs] == [
        ("prompt", str, False, False, "a cat"),
        ("steps", int, False, False, 50),
        ("guidance", float, False, False, 7.5),
        ("sampler", str, False, False, "ddim"),
        ("shout", bool, False, False, False),
        ("image", Path, True, False, None),
        ("save_to", Path, False, False, Path("out.png")),
        ("max_tokens", int, True, False, None),
        ("seed_text", str, True, False, None),
    ]


def test_schema_keeps_the_param_metadata():
    prompt, steps, sampler, image, save_to = (
        _spec("prompt"), _spec("steps"), _spec("sampler"), _spec("image"), _spec("save_to"))

    assert (prompt.help, prompt.multiline, prompt.title) == ("what to draw", True, "Prompt text")
    assert (steps.min, steps.max, steps.help, steps.title) == (1, 5000, "denoising steps", "Steps")
    assert sampler.choices == ("ddim", "euler")
    assert (image.filter, image.save) == ("Images (*.png *.jpg)", False)
    assert save_to.save is True
    assert _spec("max_tokens").title == "Max tokens"


def test_advanced_is_kept_in_the_spec_and_the_flag_stays():
    @dataclass
    class Knobs:
        steps: int = param(10)
        lr: float = param(1e-3, min=0.0, max=1.0, advanced=True, help="learning rate")

    steps, lr = schema_of(Knobs)
    assert (steps.advanced, lr.advanced) == (False, True)
    assert (lr.default, lr.help, lr.max) == (1e-3, "learning rate", 1.0)
    params, _ = parse_task_args(Task("demo.knobs", "Knobs", Knobs, _run), ["--lr", "0.5"])
    assert params.lr == 0.5


def test_a_field_without_default_is_required():
    source = _spec("source", NeedsFile)

    assert (source.required, source.default, source.filter) == (True, None, "Text (*.txt)")


def test_flag_names_use_dashes():
    assert _spec("max_tokens").flag == "--max-tokens"
    assert _spec("steps").flag == "--steps"


def test_unsupported_field_type_names_the_field():
    @dataclass
    class Bad:
        ok: int = param(1)
        tags: list = param([])

    with pytest.raises(TypeError, match=r"Bad\.tags: unsupported parameter type"):
        schema_of(Bad)


def test_unresolvable_annotation_is_a_type_error():
    @dataclass
    class Typo:
        size: Intt = param(3)  # noqa: F821

    with pytest.raises(TypeError, match="Typo: cannot resolve the parameter types: name 'Intt'"):
        schema_of(Typo)


@pytest.mark.parametrize("name", ["seed", "out", "device", "help"])
def test_names_taken_by_studio_run_are_refused(name):
    Clash = make_dataclass("Clash", [(name, int, param(1))])

    with pytest.raises(TypeError, match=f"Clash.{name}: the parameter name '{name}' is reserved"):
        schema_of(Clash)


# --- converting and checking values -----------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "value"), [
    ("steps", "12", 12),
    ("steps", 12.0, 12),
    ("guidance", "0.5", 0.5),
    ("guidance", 3, 3.0),
    ("prompt", "a dog", "a dog"),
    ("shout", "yes", True),
    ("shout", "on", True),
    ("shout", "false", False),
    ("shout", "0", False),
    ("save_to", "new/result.png", Path("new/result.png")),
])
def test_convert_strings_to_the_field_type(name, text, value):
    converted = _spec(name).convert(text)

    assert converted == value
    assert type(converted) is type(value)


def test_convert_existing_path(tmp_path):
    picture = tmp_path / "in.png"
    picture.write_bytes(b"png")

    assert _spec("image").convert(str(picture)) == picture


@pytest.mark.parametrize(("name", "value", "message"), [
    ("steps", "9000", "--steps: 9000 is above the maximum 5000"),
    ("steps", 0, "--steps: 0 is below the minimum 1"),
    ("guidance", "-1", "--guidance: -1.0 is below the minimum 0"),
    ("steps", "many", "--steps: 'many' is not a valid int"),
    ("steps", 2.5, "--steps: 2.5 is not a valid int"),
    ("guidance", "lots", "--guidance: 'lots' is not a valid float"),
    ("shout", "maybe", "--shout: 'maybe' is not a valid bool"),
    ("sampler", "plms", "--sampler: 'plms' is not one of ddim, euler"),
    ("image", "missing.png", "--image: no such file: missing.png"),
    ("prompt", None, "--prompt is required"),
])
def test_bad_values_have_one_line_messages_naming_the_flag(name, value, message):
    with pytest.raises(ParamError) as info:
        _spec(name).convert(value)

    assert str(info.value) == message


@pytest.mark.parametrize("text", ["none", "None", "", None])
def test_optional_takes_none(text):
    assert _spec("max_tokens").convert(text) is None
    assert _spec("image").convert(text) is None


def test_optional_still_checks_a_value():
    assert _spec("max_tokens").convert("8") == 8
    with pytest.raises(ParamError, match="--max-tokens: 0 is below the minimum 1"):
        _spec("max_tokens").convert("0")


# --- make_params ------------------------------------------------------------------------------


def test_make_params_defaults():
    p = TASK.make_params()

    assert p == AllParams()
    assert (p.steps, p.sampler, p.image) == (50, "ddim", None)


def test_make_params_converts_values():
    p = TASK.make_params({"steps": "20", "shout": "true", "max_tokens": "none"})

    assert (p.steps, p.shout, p.max_tokens) == (20, True, None)


def test_make_params_unknown_key():
    with pytest.raises(ParamError, match="demo.all: unknown parameter colour, size"):
        TASK.make_params({"size": 3, "colour": "red"})


def test_make_params_required_missing():
    with pytest.raises(ParamError, match="^--source is required$"):
        FILE_TASK.make_params({"count": 2})


def test_make_params_checks_a_required_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hi", encoding="utf-8")

    assert FILE_TASK.make_params({"source": str(notes)}).source == notes
    with pytest.raises(ParamError, match="--source: no such file"):
        FILE_TASK.make_params({"source": str(tmp_path / "gone.txt")})


def test_params_to_json_is_plain_data():
    p = TASK.make_params({"save_to": "a/b.png"})

    data = TASK.params_to_json(p)

    assert data["save_to"] == str(Path("a/b.png"))
    assert data["steps"] == 50 and data["image"] is None


# --- outputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("output", "kind", "suffix"), [
    (Output("a poem"), "text", ".txt"),
    (Output(np.zeros((4, 4, 3), dtype=np.uint8)), "image", ".png"),
    (Output(b"MThd", suffix=".mid"), "file", ".mid"),
    (Output(b"RIFF", suffix="wav"), "file", ".wav"),
    (Output(b"\x00"), "file", ".bin"),
])
def test_output_kind_and_suffix(output, kind, suffix):
    assert (output.kind, output.file_suffix) == (kind, suffix)


# --- command-line flags -----------------------------------------------------------------------


def test_task_parser_has_a_flag_per_field():
    parser = task_parser(TASK)

    flags = {opt for action in parser._actions for opt in action.option_strings}
    assert {"--prompt", "--steps", "--guidance", "--sampler", "--shout", "--no-shout",
            "--image", "--save-to", "--max-tokens", "--seed-text"} <= flags
    assert {"--seed", "--out", "--device"} <= flags
    helptext = parser.format_help()
    assert "denoising steps (1..5000; default 50)" in helptext
    assert "one of ddim, euler" in helptext


def test_parse_task_args_converts_and_checks():
    params, opts = parse_task_args(TASK, ["--steps", "20", "--max-tokens", "64", "--shout",
                                          "--seed", "7", "--out", "results"])

    assert (params.steps, params.max_tokens, params.shout) == (20, 64, True)
    assert params.prompt == "a cat"  # untouched fields keep their defaults
    assert (opts.seed, opts.out) == (7, Path("results"))


def test_no_flag_turns_a_bool_off():
    @dataclass
    class Loud:
        shout: bool = param(True)

    params, _ = parse_task_args(Task("demo.loud", "Loud", Loud, _run), ["--no-shout"])

    assert params.shout is False


@pytest.mark.parametrize(("argv", "message"), [
    (["--steps", "9000"], "--steps: 9000 is above the maximum 5000"),
    (["--sampler", "plms"], "--sampler: 'plms' is not one of ddim, euler"),
    (["--colour", "red"], "unrecognized arguments: --colour red"),
    (["--steps"], "argument --steps: expected one argument"),
])
def test_bad_flags_are_one_line_user_errors(argv, message):
    with pytest.raises(UserError) as info:
        parse_task_args(TASK, argv)

    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_required_flag_missing():
    with pytest.raises(UserError, match="^--source is required$"):
        parse_task_args(FILE_TASK, [])
