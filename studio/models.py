"""Model cards and the model store: where weights lie, what they are, and loading them safely.

Layout. Every installed model is one folder named after its id, holding its card and its files:

    <root>/<id>/card.json            the card (JSON, see ``ModelCard``)
    <root>/<id>/<file name>          each file the card lists (weights are .safetensors)

There are two roots: shipped models under ``paths.shipped_models_dir()`` (assets/models) and the
user's under ``paths.models_dir()``; a user model shadows a shipped one with the same id. Plugins
declare more cards through the ``studio_models`` hook (a ModelCard, a dict or a Path to a card
JSON); a card without a folder is known but not installed until it is downloaded or imported.
A card is written after its files, so a half-installed model is never listed as installed.

Weights are read from safetensors only. Foreign checkpoints are imported once through
``model_import.import_checkpoint``, which reads ``.pth``/``.pt``/``.bin`` with
``torch.load(weights_only=True)`` and nothing else (``foreign_checkpoints.py``), so no code
in a checkpoint ever runs.

A plugin whose models come as foreign checkpoints (published ``.pth`` files in another key
layout) gives its declared card a ``convert`` function (``ModelCard.convert``, not saved in the
JSON): ``studio models import FILE --id ID`` and ``studio models download ID`` then store
``convert(state, card)`` instead of the raw keys (``model_import.install_converted``). The host
knows no architecture; the plugin's converter does.

A file whose publisher gives no checksum is declared with an empty ``sha256``: its first download
is trusted as it comes and its sha256 recorded (trust on first use), in the installed card's
``sources`` and in the store's ledger (``<user store>/.sources.json``, kept by ``downloads.py``),
which later downloads of the same address must match.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from studio import paths
from studio.atomic import write_atomic
from studio.errors import UserError, first_line

CHUNK = 1024 * 1024
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class ModelCardError(UserError):
    """A card that cannot be read: the message names the card and the field."""


# ---------------------------------------------------------------------------------------------
# Files on disk.


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Cards.


@dataclass
class ModelFile:
    """One file of a model: its name in the model's folder, sha256, size in bytes, and where it
    can be downloaded (empty when it cannot)."""

    name: str
    sha256: str
    size: int
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "sha256": self.sha256, "size": self.size}
        if self.url:
            d["url"] = self.url
        return d


@dataclass
class ModelCard:
    """What a model is, where it came from, and how good it is."""

    id: str
    capability: str
    title: str = ""
    architecture: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    files: list[ModelFile] = field(default_factory=list)
    licence: str = ""
    training_data: str = ""
    command: str = ""
    quality: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Where installed files came from: [{"name", "url", "sha256", "size", "checksum",
    # "recorded"}]; "checksum" is "published", "first use" (none was published: this first
    # copy was trusted as it came, later downloads are checked against it) or "imported".
    sources: list[dict[str, Any]] = field(default_factory=list)
    folder: Path | None = field(default=None, compare=False)  # not serialised
    # A plugin's converter for checkpoints in a foreign layout: convert(state, card) -> state
    # to store, raising UserError naming the keys that do not fit; it may fill the card's
    # config from the weights. One marked ``convert.reads_any = True`` takes any checkpoint of
    # its capability (``studio models import FILE --capability C``). Not serialised.
    convert: Callable[[dict[str, Any], ModelCard], dict[str, Any]] | None = field(
        default=None, compare=False, repr=False)

    # Field name -> (type, required) as read from JSON.
    _SCHEMA = {
        "id": (str, True), "capability": (str, True), "title": (str, True),
        "architecture": (str, True), "config": (dict, True), "files": (list, True),
        "licence": (str, True), "training_data": (str, True), "command": (str, True),
        "quality": (dict, True), "description": (str, False), "sources": (list, False),
    }

    @property
    def weights_sha256(self) -> str:
        """The sha256 of the first .safetensors file, or "" when there is none."""
        return next((f.sha256 for f in self.files if f.name.endswith(".safetensors")), "")

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def path_of(self, file: ModelFile) -> Path | None:
        return None if self.folder is None else self.folder / file.name

    @classmethod
    def from_dict(cls, d: Any, folder: Path | None = None, source: str = "") -> ModelCard:
        """A card from its JSON form, checked. ``source`` names it in messages (a path)."""
        if not isinstance(d, dict):
            raise ModelCardError(f"model card {source or '?'}: expected an object, "
                                 f"got {type(d).__name__}")
        card_id = d.get("id")
        name = repr(card_id) if isinstance(card_id, str) and card_id else (source or "?")
        if source and name != source:
            name = f"{name} ({source})"

        def fail(what: str) -> ModelCardError:
            return ModelCardError(f"model card {name}: {what}")

        values: dict[str, Any] = {}
        for key, (tp, required) in cls._SCHEMA.items():
            if key not in d:
                if required:
                    raise fail(f"missing field {key!r}")
                continue
            if not isinstance(d[key], tp):
                raise fail(f"field {key!r} should be {_type_word(tp)}, "
                           f"not {_type_word(type(d[key]))}")
            values[key] = d[key]
        if not ID_RE.match(values["id"]):
            raise fail("field 'id' should be letters, digits, '.', '_' or '-'")
        values["files"] = [_file_from(x, i, fail) for i, x in enumerate(values["files"])]
        names = [f.name for f in values["files"]]
        if len(set(names)) != len(names):
            raise fail("field 'files' names the same file twice")
        for i, src in enumerate(values.get("sources", [])):
            if not isinstance(src, dict):
                raise fail(f"sources[{i}] should be an object, not {_type_word(type(src))}")
        return cls(**values, folder=folder)

    @property
    def unverified(self) -> list[ModelFile]:
        """Files whose sha256 is not known yet (none published, not downloaded yet)."""
        return [f for f in self.files if not f.sha256]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("folder", "convert") or (f.name == "sources" and not self.sources):
                continue
            value = getattr(self, f.name)
            d[f.name] = [x.to_dict() for x in value] if f.name == "files" else value
        return d

    def save(self, path: Path) -> None:
        """Write the card as JSON, atomically."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        write_atomic(Path(path), text.encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        """Read a card JSON; its folder is the file's folder."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelCardError(f"model card {path}: cannot read it ({exc.strerror})") from None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelCardError(f"model card {path}: not valid JSON ({exc})") from None
        return cls.from_dict(d, folder=path.parent, source=str(path))


def _type_word(tp: type) -> str:
    return {str: "a string", dict: "an object", list: "a list", int: "an integer",
            bool: "true or false", float: "a number", type(None): "null"}.get(tp, tp.__name__)


def _file_from(x: Any, i: int, fail: Callable[[str], ModelCardError]) -> ModelFile:
    where = f"files[{i}]"
    if not isinstance(x, dict):
        raise fail(f"{where} should be an object, not {_type_word(type(x))}")
    for key, tp in (("name", str), ("sha256", str), ("size", int), ("url", str)):
        if key not in x:
            if key == "url":
                continue
            raise fail(f"{where}: missing field {key!r}")
        if not isinstance(x[key], tp) or isinstance(x[key], bool):
            raise fail(f"{where}.{key} should be {_type_word(tp)}, not {_type_word(type(x[key]))}")
    name = x["name"]
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise fail(f"{where}.name {name!r} should be a plain file name")
    if x["sha256"] and not SHA_RE.match(x["sha256"]):
        raise fail(f"{where}.sha256 should be 64 lowercase hex digits (or empty where none "
                   "is published)")
    if x["size"] < 0:
        raise fail(f"{where}.size should not be negative")
    return ModelFile(name, x["sha256"], x["size"], x.get("url", ""))


CARD_NAME = "card.json"


def card_path(folder: Path) -> Path:
    """Where a model's card lies in its folder."""
    return Path(folder) / CARD_NAME


# ---------------------------------------------------------------------------------------------
# The store.

_verified: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256
_verified_lock = threading.Lock()


def _cached_sha256(path: Path) -> str:
    """The file's sha256, computed once per (path, mtime, size)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    with _verified_lock:
        known = _verified.get(key)
    if known is None:
        known = sha256_file(path)
        with _verified_lock:
            _verified[key] = known
    return known


class ModelStore:
    """Every model Studio knows: those in ``roots`` (lowest priority first; the last root is the
    user's store, where imports and downloads go) and those plugins declare (``extra_cards``:
    card-likes, or ``(plugin_name, card-like)`` pairs). A card in a root shadows a declared one,
    and a later root shadows an earlier one."""

    def __init__(self, roots: Iterable[Path] | None = None, extra_cards: Iterable[Any] = ()):
        if roots is None:
            roots = [paths.shipped_models_dir(), paths.models_dir()]
        self.roots = [Path(r) for r in roots]
        if not self.roots:
            raise ValueError("a model store needs at least one root")
        self.extra_cards = list(extra_cards)
        self.errors: list[str] = []  # cards that could not be read, from the last scan

    @classmethod
    def from_registry(cls, registry: Any, roots: Iterable[Path] | None = None) -> ModelStore:
        """The default store plus the cards the registry's plugins declare. A bad entry is
        skipped and recorded in ``errors``; this never raises for one."""
        store = cls(roots, extra_cards=list(getattr(registry, "model_entries", None) or []))
        store.cards()  # fills ``errors`` now
        return store

    @property
    def user_dir(self) -> Path:
        return self.roots[-1]

    def cards(self) -> list[ModelCard]:
        """Every known card, sorted by id; unreadable cards are skipped and listed in
        ``self.errors``."""
        errors: list[str] = []
        found: dict[str, ModelCard] = {}
        for entry in self.extra_cards:
            source, item = entry if isinstance(entry, tuple) else ("", entry)
            try:
                card = card_from(item)
            except UserError as exc:
                errors.append(f"plugin {source}: {exc}" if source else str(exc))
                continue
            found.setdefault(card.id, card)
        for root in self.roots:
            for card in _scan(root, errors):
                found[card.id] = card
        self.errors = errors
        return [found[k] for k in sorted(found)]

    def get(self, model_id: str) -> ModelCard:
        cards = self.cards()
        for card in cards:
            if card.id == model_id:
                return card
        known = ", ".join(c.id for c in cards) or "none"
        raise UserError(f"unknown model {model_id!r} (known: {known})")

    def origin(self, card: ModelCard) -> str:
        """"user", "shipped" (another root) or "plugin" (declared, wherever its files are)."""
        if card.folder is not None:
            if card.folder.parent == self.user_dir:
                return "user"
            if card.folder.parent in self.roots:
                return "shipped"
        return "plugin"

    def is_installed(self, card: ModelCard) -> bool:
        """All the card's files are present with their sizes (hashes are checked on load). A card
        with no files counts as installed."""
        if not card.files:
            return True
        if card.folder is None or card.unverified:
            return False
        for f in card.files:
            p = card.folder / f.name
            if not p.is_file() or p.stat().st_size != f.size:
                return False
        return True

    def verify(self, model_id: str) -> list[str]:
        """Problems with an installed model's files, each a line (empty when all is well).
        Every hash is computed afresh."""
        card = self.get(model_id)
        if card.folder is None:
            return ["not installed"] if card.files else []
        problems = []
        for f in card.files:
            p = card.folder / f.name
            if not p.is_file():
                problems.append(f"missing file {f.name}")
                continue
            size = p.stat().st_size
            if size != f.size:
                problems.append(f"size mismatch for {f.name}: expected {f.size} bytes, "
                                f"found {size}")
                continue
            digest = sha256_file(p)
            st = p.stat()
            with _verified_lock:
                _verified[(str(p.resolve()), st.st_mtime_ns, st.st_size)] = digest
            if digest != f.sha256:
                problems.append(_sha_problem(f.name, f.sha256, digest))
        return problems

    def load(self, model_id: str, device: str = "cpu") -> tuple[ModelCard, dict[str, Any]]:
        """The card and its weights (all its .safetensors files merged) as tensors on
        ``device``. Each file's sha256 is checked once per mtime and size."""
        card = self.get(model_id)
        if not self.is_installed(card):
            how = (f"run `studio models download {card.id}`"
                   if card.files and all(f.url for f in card.files)
                   else "import it with `studio models import`")
            raise UserError(f"model {card.id!r} is not installed; {how}")
        weights = [f for f in card.files if f.name.endswith(".safetensors")]
        if not weights or card.folder is None:
            raise UserError(f"model {card.id!r} has no .safetensors weights")
        for f in card.files:
            digest = _cached_sha256(card.folder / f.name)
            if digest != f.sha256:
                raise UserError(f"model {card.id!r} is corrupt: "
                                f"{_sha_problem(f.name, f.sha256, digest)}; "
                                "download or import it again")
        from safetensors.torch import load_file

        tensors: dict[str, Any] = {}
        for f in weights:
            try:
                part = load_file(str(card.folder / f.name), device=device)
            except Exception as exc:
                raise UserError(f"model {card.id!r}: cannot read {f.name}: "
                                f"{first_line(exc)}") from None
            clash = sorted(set(part) & set(tensors))
            if clash:
                raise UserError(f"model {card.id!r}: tensor {clash[0]!r} is in two files")
            tensors.update(part)
        return card, tensors

    def declared(self, model_id: str) -> ModelCard | None:
        """The card a plugin declared for ``model_id`` (with its ``convert``), if any."""
        for entry in self.extra_cards:
            item = entry[1] if isinstance(entry, tuple) else entry
            try:
                card = card_from(item)
            except UserError:
                continue
            if card.id == model_id:
                return card
        return None

    def remove(self, model_id: str) -> Path:
        """Delete a user-installed model's folder; returns it. Shipped and declared-only models
        cannot be removed."""
        card = self.get(model_id)
        if self.origin(card) != "user":
            raise UserError(f"model {card.id!r} is not installed in the user store "
                            f"({self.user_dir}); only user models can be removed")
        assert card.folder is not None
        card_path(card.folder).unlink(missing_ok=True)  # unlisted first
        shutil.rmtree(card.folder, ignore_errors=True)
        return card.folder


def card_from(item: Any) -> ModelCard:
    """A checked copy of a card-like a plugin declared (a ModelCard, a dict or a Path)."""
    try:
        if isinstance(item, ModelCard):
            card = ModelCard.from_dict(item.to_dict(), folder=item.folder)
            card.convert = item.convert
            return card
        if isinstance(item, Path):
            return ModelCard.load(item)
        if isinstance(item, Mapping):
            return ModelCard.from_dict(dict(item))
    except UserError:
        raise
    except Exception as exc:  # a card-like so broken it cannot even be copied
        raise ModelCardError(f"model card: {type(exc).__name__}: {first_line(exc)}") from None
    raise ModelCardError(f"model card: expected a ModelCard, a dict or a Path, "
                         f"not {type(item).__name__}")


def _scan(root: Path, errors: list[str]) -> list[ModelCard]:
    if not root.is_dir():
        return []
    cards = []
    for folder in sorted(root.iterdir()):
        path = card_path(folder)
        if folder.name.startswith(".") or not path.is_file():
            continue
        try:
            card = ModelCard.load(path)
        except UserError as exc:
            errors.append(str(exc))
            continue
        if card.id != folder.name:
            errors.append(f"model card {path}: id {card.id!r} does not match its folder")
            continue
        cards.append(card)
    return cards


def _sha_problem(name: str, expected: str, got: str) -> str:
    return f"sha256 mismatch for {name}: expected {expected[:12]}..., got {got[:12]}..."


def _listing(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else ('es' if word.endswith('ch') else 's')}"


def shape_problems(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]]) -> str:
    """One line naming missing keys, unexpected keys and shape mismatches ("" when none)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} expected {tuple(expected[k])}, got {tuple(state[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k])
    ]
    parts = []
    if missing:
        parts.append(f"missing {_count(len(missing), 'key')}: {_listing(missing)}")
    if unexpected:
        parts.append(f"unexpected {_count(len(unexpected), 'key')}: {_listing(unexpected)}")
    if mismatched:
        parts.append(f"{_count(len(mismatched), 'shape mismatch')}: "
                     f"{_listing(mismatched, 3)}")
    return "; ".join(parts)


def weight_problem(key: str, t: Any) -> str:
    """Why tensor ``key`` cannot be a model's weight ("" when it can): weights and biases are
    floating point and finite."""
    import torch

    if not isinstance(t, torch.Tensor):
        return f"{key} is a {type(t).__name__}, not a tensor"
    if key.endswith((".weight", ".bias")) and not (t.is_floating_point() or t.is_complex()):
        return f"{key} holds {str(t.dtype).removeprefix('torch.')} numbers where weights are " \
               "floating point"
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        return f"{key} holds {bad:,} NaN or infinite value{'' if bad == 1 else 's'}"
    return ""
