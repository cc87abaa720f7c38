"""Text as users bring it: a prompt typed, piped in, or in a file of any size, in UTF-8 or in
UTF-16/UTF-32 with a byte order mark. Bytes that are not text in any of these are refused with
a line that says which byte, where, instead of failing deep in the tokenizer.

A command-line argument is bytes too: Python hands over the bytes that are not UTF-8 as lone
surrogates, which are turned back into those bytes here and refused the same way.
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import BinaryIO

from studio.errors import UserError

MAX_TEXT_BYTES = 64 * 2**20  # a prompt file or piped prompt; far more than any context holds
STDIN = "-"
# Longest first: a UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))


def decode_text(data: bytes, name: str) -> str:
    """``data`` as text: by its byte order mark (UTF-8, UTF-16 or UTF-32), else as UTF-8.
    Raises UserError naming the first byte that cannot be read, with its line and column."""
    encoding, label, body = "utf-8", "UTF-8", data
    for bom, codec, what in _BOMS:
        if data.startswith(bom):
            encoding, label, body = codec, what, data[len(bom):]
            break
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}: not {label} text: {_where(body, exc, encoding)}; save it as "
                        "UTF-8 (or UTF-16 with a byte order mark)") from None
    nul = text.find("\0")
    if nul >= 0:  # valid UTF-8, but no text holds NUL: UTF-16 without its mark, or a binary
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise UserError(f"{name}: not text: a NUL byte (0x00) at line {line}, column {column} "
                        "(UTF-16 without a byte order mark, or not a text file); save it as "
                        "UTF-8")
    return text


def _where(body: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    bad = body[exc.start:exc.end]
    before = body[:exc.start].decode(encoding, errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    what = " ".join(f"0x{b:02x}" for b in bad[:4])
    return (f"byte{'s' if len(bad) > 1 else ''} {what} at line {line}, column {column} "
            f"(byte {exc.start:,} of the text) {exc.reason}")


def argument_text(text: str, flag: str) -> str:
    """A command-line argument as text: bytes that were not UTF-8 are refused by name."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogateescape")
    return decode_text(raw, flag)


def read_text_file(path: Path, what: str = "") -> str:
    """A text file of any size up to ``MAX_TEXT_BYTES``, decoded as ``decode_text`` says."""
    path = Path(path).expanduser()
    name = what or path.name
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise UserError(f"{name}: too large ({size / 2**20:.0f} MB, at most "
                            f"{MAX_TEXT_BYTES // 2**20} MB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{name}: is a folder, not a text file") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    return decode_text(data, name)


def read_stream(stream: BinaryIO | None, name: str) -> str:
    """All the text piped into ``stream`` (standard input), decoded as ``decode_text`` says."""
    if stream is None:
        raise UserError(f"{name}: there is no standard input to read")
    data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise UserError(f"{name}: more than {MAX_TEXT_BYTES // 2**20} MB came in")
    return decode_text(data, name)


def prompt_text(prompt: str, prompt_file: Path | None) -> str:
    """The prompt a run asked for: ``prompt_file``'s text, standard input for ``--prompt -``
    (when something is piped in), else ``prompt`` itself."""
    if prompt_file is not None:
        if prompt:
            raise UserError("give --prompt or --prompt-file, not both")
        return read_text_file(prompt_file)
    stdin = sys.stdin
    if prompt == STDIN and stdin is not None and not stdin.isatty():
        return read_stream(getattr(stdin, "buffer", None), "standard input (--prompt -)")
    return argument_text(prompt, "--prompt")
