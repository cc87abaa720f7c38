"""Training text: plain .txt/.md files (a Project Gutenberg file loses its header and licence
footer) or a CSV of wine reviews in the book's format, one review per document.

Each file gives a list of documents; the trainer joins documents with ``<|endoftext|>`` and keeps
the last part of every file for validation (``split``), so each source is seen in both parts.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from studio.errors import UserError
from studio_write.text_input import read_text_file
from studio_write.tokenizer import END

TEXT_SUFFIXES = (".txt", ".md")
WINE_FIELDS = ("country", "province", "variety", "description")
_GUTENBERG_START = "*** START OF"
_GUTENBERG_END = "*** END OF"
_GUTENBERG_TAIL = re.compile(r"^end of (the )?project gutenberg", re.IGNORECASE)


@dataclass
class Source:
    """The documents of one file."""

    path: Path
    documents: list[str]

    @property
    def chars(self) -> int:
        return sum(len(d) for d in self.documents)


def split_paths(spec: str) -> list[Path]:
    """``a.txt|b.txt`` -> paths, each checked to exist (ValueError naming the missing one)."""
    paths = [Path(s.strip()).expanduser() for s in spec.split("|") if s.strip()]
    if not paths:
        raise ValueError("--files: give one or more text files, separated by |")
    for p in paths:
        if not p.is_file():
            raise ValueError(f"--files: no such file: {p}")
    return paths


def strip_gutenberg(text: str) -> str:
    """The text between the ``*** START OF`` and ``*** END OF`` lines of a Project Gutenberg
    file; other text is returned unchanged."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith(_GUTENBERG_START)),
                 None)
    if start is None:
        return text
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].lstrip().startswith(_GUTENBERG_END)), len(lines))
    body = lines[start + 1:end]
    while body and (not body[-1].strip() or _GUTENBERG_TAIL.match(body[-1].strip())):
        body.pop()  # "End of the Project Gutenberg EBook of ..." just above the END line
    return "".join(body).strip() + "\n"


def wine_documents(text: str, name: str = "the CSV") -> list[str]:
    """``wine review : {country} : {province} : {variety} : {description}`` for each row with a
    description."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in WINE_FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{name}: not a wine-review CSV (no column {', '.join(missing)})")
    docs = []
    for row in reader:
        description = (row.get("description") or "").strip()
        if description:
            country, province, variety = (" ".join((row.get(f) or "").split())
                                          for f in WINE_FIELDS[:3])
            docs.append(f"wine review : {country} : {province} : {variety} : {description}")
    return docs


def read_source(path: Path) -> Source:
    """The documents of one file; ValueError with one line when it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", *TEXT_SUFFIXES, ""):
        raise ValueError(f"{path.name}: unsupported file type {suffix!r} (use .txt, .md or .csv)")
    try:  # UTF-8, or UTF-16/32 by its mark; else which byte is wrong
        text = read_text_file(path)
    except UserError as exc:
        raise ValueError(str(exc)) from None
    if suffix == ".csv":
        docs = wine_documents(text, path.name)
    else:
        text = strip_gutenberg(text).replace("\r\n", "\n")
        docs = [text] if text.strip() else []
    if END in "".join(docs):
        docs = [d.replace(END, "") for d in docs]
    if not any(d.strip() for d in docs):
        raise ValueError(f"{path.name}: no text to train on")
    return Source(path, docs)


def read_sources(paths: list[Path]) -> list[Source]:
    return [read_source(p) for p in paths]


def split(source: Source, val_fraction: float) -> tuple[str, str]:
    """The file's documents joined by ``<|endoftext|>``, cut at ``1 - val_fraction`` of its
    characters (moved to the next document or line boundary): (train text, validation text)."""
    text = END.join(source.documents)
    if val_fraction <= 0:
        return text, ""
    cut = int(len(text) * (1 - val_fraction))
    after = [i for i in (text.find(END, cut), text.find("\n", cut)) if i >= 0]
    before = [i for i in (text.rfind(END, 0, cut), text.rfind("\n", 0, cut)) if i >= 0]
    if after or before:
        boundary = min(after) if after else max(before)
        cut = boundary + (len(END) if text.startswith(END, boundary) else 1)
    return text[:cut], text[cut:]


def count_chars(text: str) -> int:
    """Characters of a training text, each ``<|endoftext|>`` counted as one (a separator)."""
    return len(text) - text.count(END) * (len(END) - 1)
