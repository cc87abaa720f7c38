"""The gallery: every output saved atomically beside the JSON recipe that made it, and an SQLite
index for browsing and search that can always be rebuilt from the recipes.

Layout under the gallery folder::

    2025-01-31/142501-paint.style-stylised-3fa9c1.png
    2025-01-31/142501-paint.style-stylised-3fa9c1.recipe.json
    index.sqlite

A save writes the data file (temp file, fsync, rename), then the recipe the same way, then the
index row. The recipe is the commit marker: an entry exists if and only if its recipe exists and
its data file is beside it. A save killed half way leaves at most a hidden ``.tmp`` file or a
data file without a recipe, neither of which is an entry; a save killed before its index row
is picked up the next time the gallery is opened.

One run of a task is one *item*: a compose run that writes a MIDI file and a WAV is one item
holding both. Recipes name their run (``"run"``); older recipes, which do not, are grouped by
task, seed, parameters and the moment their run started. An item's id is the id of the first
output its run saved. Favourites are items marked in ``.favourites/`` (one empty file each), so
they survive a rebuild of the index and "clear history" keeps them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from studio import paths
from studio.atomic import fsync_dir, write_atomic
from studio.errors import UserError
from studio.models import sha256_file
from studio.tasks import Output
from studio.thumbnails import describe, media_kind

log = logging.getLogger(__name__)

RECIPE_SUFFIX = ".recipe.json"
INDEX_NAME = "index.sqlite"
SCHEMA_VERSION = 2  # 2: items (runs), summaries; an index of version 1 is rebuilt
EXCERPT_CHARS = 2000
TMP_STALE_S = 300.0  # rebuild() deletes temp files older than this; younger ones may be in use

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    recipe_path TEXT NOT NULL,
    task TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    params_json TEXT NOT NULL,
    text_excerpt TEXT NOT NULL,
    recipe_json TEXT NOT NULL,
    item TEXT NOT NULL,
    run TEXT NOT NULL,
    seed TEXT NOT NULL,
    started REAL NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_created ON entries (created DESC, id DESC);
CREATE INDEX IF NOT EXISTS entries_task ON entries (task);
CREATE INDEX IF NOT EXISTS entries_item ON entries (item);
CREATE INDEX IF NOT EXISTS entries_run ON entries (run);
"""
_COLUMNS = ("id", "path", "recipe_path", "task", "name", "kind", "created", "params_json",
            "text_excerpt", "recipe_json", "item", "run", "seed", "started", "summary")
FAVOURITES = ".favourites"
THUMBNAILS = ".thumbnails"
SAME_RUN_S = 1.0  # outputs of an old recipe whose runs started this close are one run


# ---------------------------------------------------------------------------------------------
# Files.


_IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def encode_output(output: Output) -> bytes:
    """The bytes saved for an output: text as UTF-8, bytes as they are, an image as PNG (or
    JPEG / WebP when its suffix says so) through Pillow, without metadata."""
    if output.kind == "text":
        return output.data.encode("utf-8")
    if output.kind == "file":
        return bytes(output.data)
    from studio.imageio import write_image

    return write_image(output.data, _image_format(output))


def _image_format(output: Output) -> str:
    return _IMAGE_FORMATS.get(output.file_suffix.lower(), "png")


def image_encoder(output: Output) -> str:
    """What encoded an image output's file, recorded in its recipe: "Again" expects the same
    bytes only from the same encoder."""
    from studio.imageio import JPEG_QUALITY, WEBP_QUALITY, png_encoder

    fmt = _image_format(output)
    if fmt == "png":
        return png_encoder()
    import PIL

    quality = JPEG_QUALITY if fmt == "jpeg" else WEBP_QUALITY
    return f"Pillow {PIL.__version__} {fmt.upper()}, quality {quality}"


def _slug(text: str, limit: int = 40) -> str:
    """``text`` made safe for a file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return slug[:limit] or "output"


def _suffix(output: Output) -> str:
    suffix = output.file_suffix
    return suffix if re.fullmatch(r"(\.[A-Za-z0-9_-]{1,16}){1,3}", suffix) else ".bin"


def _recipe_bytes(recipe: dict[str, Any]) -> bytes:
    return (json.dumps(recipe, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _complete_recipe(recipe: dict[str, Any], output: Output, data: bytes, file: str,
                     saved: datetime) -> dict[str, Any]:
    full = dict(recipe)
    full.setdefault("output", {"name": output.name, "kind": output.kind,
                               "suffix": output.file_suffix})
    full["file"] = file
    full["sha256"] = hashlib.sha256(data).hexdigest()
    if output.kind == "image":
        full["encoder"] = image_encoder(output)
    full["saved"] = saved.astimezone(UTC).isoformat(timespec="microseconds")
    return full


# ---------------------------------------------------------------------------------------------
# The gallery.


@dataclass
class GalleryEntry:
    """One saved output: its data file and the recipe that made it."""

    id: str
    path: Path
    recipe: dict[str, Any]
    task: str
    name: str
    kind: str  # "text" | "image" | "file"
    created: str  # ISO 8601, UTC
    item: str = ""  # the id of the item (run) it belongs to
    summary: str = ""  # the task's title for it, or what the file holds ("8 bars", "512x512")

    @property
    def recipe_path(self) -> Path:
        return self.path.with_name(self.id + RECIPE_SUFFIX)

    @property
    def media(self) -> str:
        """"image", "video", "music" (MIDI), "audio", "text" or "file"."""
        return media_kind(self.path, self.kind)


# The output a tile shows, best first: a compose run shows its MIDI's piano roll, not its WAV.
_SHOWN_FIRST = ("image", "video", "music", "text", "audio", "file")


@dataclass
class GalleryItem:
    """One run's outputs (one or more entries, in the order they were saved): a tile."""

    id: str
    entries: list[GalleryEntry]
    favourite: bool = False

    @property
    def task(self) -> str:
        return self.entries[0].task

    @property
    def created(self) -> str:
        return self.entries[0].created

    @property
    def recipe(self) -> dict[str, Any]:
        return self.primary.recipe

    @property
    def seed(self) -> Any:
        return self.entries[0].recipe.get("seed")

    @property
    def primary(self) -> GalleryEntry:
        """The output that stands for the item: an image, video, MIDI or text before audio."""
        return min(self.entries, key=lambda e: _SHOWN_FIRST.index(e.media))

    @property
    def audio(self) -> GalleryEntry | None:
        """The item's sound file, if it has one."""
        return next((e for e in self.entries if e.media == "audio"), None)

    @property
    def title(self) -> str:
        """A readable name: the task's own title for the output (``Output.title``), else its
        name when that says something and what the file holds; then the seed. E.g. "8 bars,
        D minor, seed 491831430", "photo-monet, 768x512, seed 7"."""
        primary = self.primary
        titled = next((e for e in self.entries if (e.recipe.get("output") or {}).get("title")),
                      None)
        if titled is not None:
            parts = [titled.summary]
        else:
            parts = [primary.name] if not re.fullmatch(r"[a-z]*", primary.name) else []
            if primary.summary:
                parts.append(primary.summary)
        if not parts:
            parts.append(self.task)
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return ", ".join(parts)


class Gallery:
    """Outputs under ``root`` (default: the user's gallery folder). Implements OutputSink.

    Opening it brings the index in line with the files (adding entries whose save was cut off
    before its index row, dropping ones whose files are gone); a missing or corrupt index is
    rebuilt from the recipes. Safe to use from several threads and processes at once.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else paths.gallery_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / INDEX_NAME
        self._lock = threading.RLock()
        fresh = not self.index_path.exists()
        self._outdated = False  # set by _connect for an older Studio's index
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # locked, or no permission: not a damaged file
            log.warning("gallery index %s is unreadable (%s); rebuilding it", self.index_path, exc)
            self._db = self._recreate()
            fresh = True
        if fresh or self._outdated:
            self.rebuild()
        else:
            self.refresh()

    # -- saving ---------------------------------------------------------------------------

    def save(self, output: Output, recipe: dict[str, Any]) -> Path:
        """Save ``output`` with its recipe; return the data file's path."""
        data = encode_output(output)
        now = datetime.now().astimezone()
        day = self.root / now.strftime("%Y-%m-%d")
        day.mkdir(parents=True, exist_ok=True)
        stem = self._new_stem(day, now, str(recipe.get("task", "")), output.name)
        data_path = day / (stem + _suffix(output))
        write_atomic(data_path, data, replace=False)
        full = _complete_recipe(recipe, output, data, data_path.relative_to(self.root).as_posix(),
                                now)
        recipe_path = day / (stem + RECIPE_SUFFIX)
        write_atomic(recipe_path, _recipe_bytes(full), replace=False)
        excerpt = output.data[:EXCERPT_CHARS] if output.kind == "text" else ""
        try:
            with self._lock, self._db:
                self._add_rows([self._row(stem, data_path, recipe_path, full, full["saved"],
                                          excerpt)])
        except sqlite3.Error as exc:  # the files are saved; the next open indexes them
            log.warning("could not index %s: %s", data_path, exc)
        return data_path

    def _new_stem(self, day: Path, now: datetime, task: str, name: str) -> str:
        base = f"{now:%H%M%S}-{_slug(task or 'task')}-{_slug(name)}"
        while True:
            stem = f"{base}-{secrets.token_hex(3)}"
            if not (day / (stem + RECIPE_SUFFIX)).exists() and self._lookup(stem) is None:
                return stem

    # -- reading --------------------------------------------------------------------------

    def entries(self, limit: int | None = None, task: str | None = None) -> list[GalleryEntry]:
        """Entries, newest first; only ``task``'s if given."""
        sql = "SELECT * FROM entries"
        args: list[Any] = []
        if task:
            sql += " WHERE task = ?"
            args.append(task)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._query(sql, args)

    def search(self, query: str, limit: int | None = None) -> list[GalleryEntry]:
        """Entries whose task, name, parameters, summary or text hold every word of ``query``
        (case-insensitive), newest first."""
        clauses, args = _word_clauses(query)
        sql = "SELECT * FROM entries"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._query(sql, args)

    def get(self, entry_id: str) -> GalleryEntry:
        """The entry with this id; UserError if there is none."""
        entry = self._lookup(entry_id)
        if entry is None:
            raise UserError(f"no output {entry_id!r} in the gallery")
        return entry

    def _lookup(self, entry_id: str) -> GalleryEntry | None:
        found = self._query("SELECT * FROM entries WHERE id = ?", [entry_id])
        return found[0] if found else None

    def find(self, ref: str) -> list[GalleryEntry]:
        """Entries that ``ref`` names: the full id, the short code at its end ("3fa9c1"), or
        the start of an id. One entry when the reference is unambiguous."""
        exact = self._lookup(ref)
        if exact is not None:
            return [exact]
        like = re.sub(r"([\\%_])", r"\\\1", ref)
        return self._query("SELECT * FROM entries WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? "
                           "ESCAPE '\\' ORDER BY created DESC, id DESC",
                           [f"%-{like}", f"{like}%"])

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    # -- items (runs) ---------------------------------------------------------------------

    def items(self, limit: int | None = None, task: str | None = None, query: str = "",
              favourites_only: bool = False) -> list[GalleryItem]:
        """Items, newest first: only ``task``'s, only those with an output matching every word
        of ``query`` (as ``search``), only favourites, as asked."""
        clauses, args = _word_clauses(query)
        if task:
            clauses.append("task = ?")
            args.append(task)
        favourites = self.favourites()
        if favourites_only:
            if not favourites:
                return []
            clauses.append(f"item IN ({', '.join('?' * len(favourites))})")
            args += sorted(favourites)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = (f"WITH chosen AS (SELECT item, MIN(created) AS first FROM entries WHERE item IN "
               f"(SELECT item FROM entries{where}) GROUP BY item ORDER BY first DESC, item DESC "
               "LIMIT ?) SELECT entries.* FROM entries JOIN chosen ON entries.item = chosen.item "
               "ORDER BY chosen.first DESC, entries.item DESC, entries.created, entries.id")
        args.append(-1 if limit is None else int(limit))
        return _group(self._query(sql, args), favourites)

    def item(self, ref: str) -> GalleryItem:
        """The item ``ref`` names: an item's id or any of its outputs' (or the short code at
        the end, or a unique start, as ``find``); UserError if it names none or several."""
        found = {e.item: e for e in self.find(ref)}
        if not found:
            raise UserError(f"no output {ref!r} in the gallery")
        if len(found) > 1:
            names = ", ".join(sorted(found)[:5])
            raise UserError(f"{ref!r} names {len(found)} items ({names}); give more of the id")
        item_id = next(iter(found))
        entries = self._query("SELECT * FROM entries WHERE item = ? ORDER BY created, id",
                              [item_id])
        return _group(entries, self.favourites())[0]

    def favourites(self) -> set[str]:
        """The ids of the favourite items."""
        try:
            return {n for n in os.listdir(self.root / FAVOURITES) if not n.startswith(".")}
        except FileNotFoundError:
            return set()

    def set_favourite(self, item_id: str, favourite: bool = True) -> None:
        """Mark (or unmark) an item as a favourite; UserError if there is no such item."""
        item = self.item(item_id)
        folder = self.root / FAVOURITES
        marker = folder / item.id
        if favourite:
            folder.mkdir(exist_ok=True)
            marker.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()

    def remove_item(self, item_id: str) -> GalleryItem:
        """Delete an item: every output of its run, their recipes, its favourite mark."""
        item = self.item(item_id)
        for entry in item.entries:
            self._remove_entry(entry)
        with contextlib.suppress(FileNotFoundError):
            (self.root / FAVOURITES / item.id).unlink()
        return item

    def clear_history(self, keep_favourites: bool = True) -> int:
        """Delete every item (but the favourites, unless ``keep_favourites`` is False);
        return how many were deleted."""
        keep = self.favourites() if keep_favourites else set()
        doomed = [i for i in self.items() if i.id not in keep]
        for item in doomed:
            for entry in item.entries:
                self._remove_entry(entry)
            with contextlib.suppress(FileNotFoundError):
                (self.root / FAVOURITES / item.id).unlink()
        return len(doomed)

    def thumbnail_path(self, entry: GalleryEntry, size: int) -> Path:
        """Where a thumbnail of ``entry`` at ``size`` pixels is cached."""
        return self.root / THUMBNAILS / f"{entry.id}-{size}.png"

    # -- changing -------------------------------------------------------------------------

    def remove(self, entry_id: str) -> None:
        """Delete an entry's files and its index row; UserError if there is no such entry.
        The recipe goes first, so an interrupted removal leaves no half entry."""
        self._remove_entry(self.get(entry_id))

    def _remove_entry(self, entry: GalleryEntry) -> None:
        for path in (entry.recipe_path, entry.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        fsync_dir(entry.path.parent)
        with self._lock, self._db:
            self._db.execute("DELETE FROM entries WHERE id = ?", [entry.id])
        with contextlib.suppress(OSError):
            entry.path.parent.rmdir()  # only if that was the day's last entry
        thumbs = self.root / THUMBNAILS
        with contextlib.suppress(OSError):
            for name in os.listdir(thumbs):
                if name.startswith(entry.id + "-"):
                    (thumbs / name).unlink()

    def rebuild(self) -> int:
        """Re-create the index from the recipe files; return how many entries it holds.

        Recipes whose data file is missing and data files with no recipe are not entries;
        temp files left by interrupted saves (older than TMP_STALE_S) are deleted.
        """
        rows = []
        for day, names in self._scan():
            for name in names:
                if _is_temp(name):
                    _remove_if_stale(day / name)
                elif name.endswith(RECIPE_SUFFIX):
                    row = self._read_row(day / name, names)
                    if row is not None:
                        rows.append(row)
        with self._lock:
            try:
                self._replace_rows(rows)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise
                log.warning("gallery index %s is damaged (%s); re-creating it",
                            self.index_path, exc)
                self._db.close()
                self._db = self._recreate()
                self._replace_rows(rows)
        return len(rows)

    def refresh(self) -> None:
        """Bring the index in line with the files: index complete entries it lacks, drop rows
        whose recipe or data file is gone. Cheap: lists the folders, reads only new recipes."""
        on_disk: dict[str, tuple[Path, set[str]]] = {}
        for day, names in self._scan():
            for name in names:
                if name.endswith(RECIPE_SUFFIX) and not _is_temp(name):
                    on_disk[name[:-len(RECIPE_SUFFIX)]] = (day, names)
        with self._lock:
            indexed = dict(self._db.execute("SELECT id, path FROM entries").fetchall())
            gone = [i for i, rel in indexed.items()
                    if i not in on_disk or Path(rel).name not in on_disk[i][1]]
            new = []
            for stem, (day, names) in on_disk.items():
                row = None if stem in indexed else self._read_row(day / (stem + RECIPE_SUFFIX),
                                                                   names)
                if row is not None:
                    new.append(row)
            if gone or new:
                with self._db:
                    self._db.executemany("DELETE FROM entries WHERE id = ?", [[i] for i in gone])
                    self._add_rows(new)

    def verify(self) -> list[str]:
        """Problems a user should know about, one line each (an empty list when all is well):
        an entry whose file is missing or differs from its recipe's sha256, an unreadable
        recipe, a recipe whose data file is gone, a complete entry missing from the index."""
        problems = []
        for entry in self.entries():
            recipe = _load_recipe(entry.recipe_path)
            if recipe is None:
                problems.append(f"{entry.id}: recipe missing or unreadable: {entry.recipe_path}")
            elif not entry.path.is_file():
                problems.append(f"{entry.id}: file missing: {entry.path}")
            elif sha256_file(entry.path) != recipe.get("sha256"):
                problems.append(f"{entry.id}: file differs from its recipe's sha256: "
                                f"{entry.path}")
        with self._lock:
            indexed = {r[0] for r in self._db.execute("SELECT id FROM entries")}
        for day, names in self._scan():
            for name in sorted(names):
                if not name.endswith(RECIPE_SUFFIX) or _is_temp(name):
                    continue
                stem = name[:-len(RECIPE_SUFFIX)]
                if stem in indexed:
                    continue  # checked above
                recipe = _load_recipe(day / name)
                if recipe is None:
                    problems.append(f"{stem}: recipe unreadable: {day / name}")
                elif _data_name(stem, recipe) not in names:
                    problems.append(f"{stem}: recipe without its file: {day / name}")
                elif stem not in indexed:
                    problems.append(f"{stem}: not in the index (run rebuild)")
        return problems

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the index ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.index_path, timeout=30, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if 0 < version < SCHEMA_VERSION:  # an older Studio's: rebuilt from the recipes
                with db:
                    db.execute("DROP TABLE IF EXISTS entries")
                self._outdated = True
            elif version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"unknown index version {version}")  # re-created
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("SELECT COUNT(*) FROM entries").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _recreate(self) -> sqlite3.Connection:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(self.index_path) + suffix).unlink()
        return self._connect()

    def _replace_rows(self, rows: list[dict[str, Any]]) -> None:
        with self._db:
            self._db.execute("DELETE FROM entries")
            self._add_rows(rows)

    def _add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows (in a transaction the caller holds), each joined to its run's item: the
        item of an indexed output of the same run, else a new one named after the row."""
        marks = ", ".join("?" * len(_COLUMNS))
        by_run: dict[str, str] = {}
        by_key: dict[tuple, list[tuple[float, str]]] = {}
        for row in sorted(rows, key=lambda r: (r["created"], r["id"])):
            key = (row["task"], row["seed"], row["params_json"])
            if row["run"]:
                item = by_run.get(row["run"]) or self._item_of_run(row["run"])
                by_run[row["run"]] = item = item or row["id"]
            else:  # an older recipe: the run that started at the same moment with the same
                near = [i for t, i in by_key.get(key, []) if abs(t - row["started"]) < SAME_RUN_S]
                item = near[0] if near else (self._item_of_old_run(row) or row["id"])
                by_key.setdefault(key, []).append((row["started"], item))
            row["item"] = item
            self._db.execute(f"INSERT OR REPLACE INTO entries ({', '.join(_COLUMNS)}) "
                             f"VALUES ({marks})", [row[c] for c in _COLUMNS])

    def _item_of_run(self, run: str) -> str | None:
        found = self._db.execute("SELECT item FROM entries WHERE run = ? ORDER BY created "
                                 "LIMIT 1", [run]).fetchone()
        return found[0] if found else None

    def _item_of_old_run(self, row: dict[str, Any]) -> str | None:
        found = self._db.execute(
            "SELECT item FROM entries WHERE run = '' AND task = ? AND seed = ? AND params_json = ? "
            "AND abs(started - ?) < ? ORDER BY created LIMIT 1",
            [row["task"], row["seed"], row["params_json"], row["started"], SAME_RUN_S]).fetchone()
        return found[0] if found else None

    def _query(self, sql: str, args: list[Any]) -> list[GalleryEntry]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._entry(dict(zip(_COLUMNS, r, strict=True))) for r in rows]

    def _entry(self, row: dict[str, Any]) -> GalleryEntry:
        return GalleryEntry(id=row["id"], path=self.root / row["path"],
                            recipe=json.loads(row["recipe_json"]), task=row["task"],
                            name=row["name"], kind=row["kind"], created=row["created"],
                            item=row["item"], summary=row["summary"])

    def _row(self, stem: str, data_path: Path, recipe_path: Path, recipe: dict[str, Any],
             created: str, excerpt: str) -> dict[str, Any]:
        out = recipe.get("output") or {}
        kind = str(out.get("kind", "file"))
        summary = str(out.get("title") or "") or describe(data_path, kind)
        return {
            "id": stem, "path": data_path.relative_to(self.root).as_posix(),
            "recipe_path": recipe_path.relative_to(self.root).as_posix(),
            "task": str(recipe.get("task", "")), "name": str(out.get("name", "")),
            "kind": kind, "created": created,
            "params_json": json.dumps(recipe.get("params", {}), sort_keys=True,
                                      ensure_ascii=False, default=str),
            "text_excerpt": excerpt, "recipe_json": json.dumps(recipe, ensure_ascii=False,
                                                               default=str),
            "item": stem, "run": str(recipe.get("run") or ""),
            "seed": json.dumps(recipe.get("seed")), "started": _started(recipe, created),
            "summary": summary,
        }

    def _read_row(self, recipe_path: Path, names: set[str]) -> dict[str, Any] | None:
        """The index row for a recipe file, or None when it is no complete entry."""
        recipe = _load_recipe(recipe_path)
        if recipe is None:
            return None
        stem = recipe_path.name[:-len(RECIPE_SUFFIX)]
        data_name = _data_name(stem, recipe)
        if data_name not in names:
            return None
        data_path = recipe_path.with_name(data_name)
        created = str(recipe.get("saved") or recipe.get("created") or datetime.fromtimestamp(
            recipe_path.stat().st_mtime, UTC).isoformat(timespec="microseconds"))
        excerpt = ""
        if (recipe.get("output") or {}).get("kind") == "text":
            with open(data_path, encoding="utf-8", errors="replace") as f:
                excerpt = f.read(EXCERPT_CHARS)
        return self._row(stem, data_path, recipe_path, recipe, created, excerpt)

    def _scan(self) -> Iterator[tuple[Path, set[str]]]:
        """Each day folder with the names of the files in it."""
        with os.scandir(self.root) as it:
            days = sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))
        for day in days:
            try:
                yield Path(day), set(os.listdir(day))
            except FileNotFoundError:  # removed meanwhile
                continue


def _word_clauses(query: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) for rows that hold every word of ``query``."""
    clauses: list[str] = []
    args: list[Any] = []
    columns = ("task", "name", "params_json", "text_excerpt", "summary")
    for word in query.split():
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        args += [pattern] * len(columns)
    return clauses, args


def _group(entries: list[GalleryEntry], favourites: set[str]) -> list[GalleryItem]:
    """Entries (each item's together) as items, in the order their items first appear."""
    items: dict[str, GalleryItem] = {}
    for entry in entries:
        if entry.item not in items:
            items[entry.item] = GalleryItem(entry.item, [], entry.item in favourites)
        items[entry.item].entries.append(entry)
    return list(items.values())


def _started(recipe: dict[str, Any], saved: str) -> float:
    """When the run that saved an output started (seconds since the epoch): its saving time
    less the run's duration so far, which the recipe records."""
    try:
        when = datetime.fromisoformat(saved).timestamp()
    except ValueError:
        return 0.0
    duration = recipe.get("duration_s")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        when -= float(duration)
    return when


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _remove_if_stale(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime > TMP_STALE_S:
            path.unlink()
    except FileNotFoundError:
        pass


def _load_recipe(path: Path) -> dict[str, Any] | None:
    try:
        recipe = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recipe if isinstance(recipe, dict) else None


def _data_name(stem: str, recipe: dict[str, Any]) -> str:
    """The data file's name: from the recipe's ``file`` (its folder may have moved since)."""
    file = recipe.get("file")
    if isinstance(file, str) and file:
        return Path(file).name
    return stem + str((recipe.get("output") or {}).get("suffix", ".bin"))


# ---------------------------------------------------------------------------------------------
# A plain folder, for ``--out DIR``.


class DirectorySink:
    """Saves outputs into ``folder`` as ``<name><suffix>`` (``<name>-2<suffix>`` and so on when
    taken) with ``<name><suffix>.recipe.json`` beside each (so ``music.mid`` and ``music.wav``
    of one run sit side by side); no index."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder).expanduser()

    def save(self, output: Output, recipe: dict[str, Any]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = encode_output(output)
        base, suffix = _slug(output.name, limit=80), _suffix(output)
        n = 1
        while True:
            stem = base if n == 1 else f"{base}-{n}"
            path = self.folder / (stem + suffix)
            recipe_path = self.folder / (path.name + RECIPE_SUFFIX)
            n += 1
            if recipe_path.exists():
                continue
            try:
                write_atomic(path, data, replace=False)
            except FileExistsError:
                continue
            break
        full = _complete_recipe(recipe, output, data, path.name, datetime.now().astimezone())
        write_atomic(recipe_path, _recipe_bytes(full))
        return path
