"""``studio models list|show|verify|import|download|remove``: the model store from the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from studio.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, check, import, download and remove models",
                       description="Models: installed ones and those plugins can download.")
    p.set_defaults(func=lambda args: p.print_help() or 0)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    a = actions.add_parser("list", help="every known model, installed or not")
    a.set_defaults(func=list_models)

    a = actions.add_parser("show", help="a model's card")
    a.add_argument("id", help="model id")
    a.set_defaults(func=show)

    a = actions.add_parser("verify", help="check installed models' files (sizes and sha256)")
    a.add_argument("id", nargs="?", help="only this model")
    a.set_defaults(func=verify)

    a = actions.add_parser("import", help="import a checkpoint (.pth, .pt, .bin, .safetensors)",
                           description="Import a checkpoint. With the id of a model a plugin "
                                       "declares (see `studio models list`), or --like one, the "
                                       "checkpoint is converted and checked as that plugin "
                                       "says, and the model gets that card.")
    a.add_argument("src", type=Path, help="the checkpoint file")
    a.add_argument("--id", required=True, dest="model_id", help="id of the new model")
    a.add_argument("--like", default=None, metavar="ID",
                   help="a declared model this checkpoint is one of (its converter and card)")
    a.add_argument("--capability", default="", help="capability that uses it, e.g. paint")
    a.add_argument("--title", default=None, help="a readable name (default: the id)")
    a.add_argument("--licence", default="unknown", help="the weights' licence")
    a.add_argument("--dtype", default="float16",
                   choices=("float16", "bfloat16", "float32", "keep"),
                   help="store floating tensors as this (default: float16)")
    a.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the model the weights do not hold (e.g. n_head=4); "
                        "a card.json beside the checkpoint gives them all")
    a.set_defaults(func=import_model)

    a = actions.add_parser("download", help="download a model's files")
    a.add_argument("id", help="model id")
    a.set_defaults(func=download)

    a = actions.add_parser("remove", help="delete a user-installed model")
    a.add_argument("id", help="model id")
    a.set_defaults(func=remove)


def _store() -> Any:
    from studio.models import ModelStore
    from studio.plugins import load_plugins

    registry = load_plugins()
    for failure in registry.failures:
        print(f"studio: warning: plugin {failure}", file=sys.stderr)
    return ModelStore.from_registry(registry)


def _warn(store: Any) -> None:
    for line in store.errors:
        print(f"studio: warning: {line}", file=sys.stderr)


def human_size(n: int) -> str:
    """Bytes in decimal units: "812 B", "4.1 KB", "45.0 MB", "1.2 GB"."""
    if n < 1000:
        return f"{n} B"
    size = n / 1000
    for unit in ("KB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def list_models(args: argparse.Namespace) -> int:
    store = _store()
    cards = store.cards()
    _warn(store)
    if not cards:
        print("no models (import one with `studio models import`, or install a plugin that "
              "offers some)")
        return 0
    rows = [["ID", "CAPABILITY", "INSTALLED", "SIZE", "LICENCE"]]
    for card in cards:
        installed = "yes" if store.is_installed(card) else "no"
        size = "?" if card.unverified and not card.size else human_size(card.size)
        rows.append([card.id, card.capability, installed, size, card.licence])
    for line in _table(rows):
        print(line)
    return 0


def show(args: argparse.Namespace) -> int:
    store = _store()
    card = store.get(args.id)
    installed = f"yes, {store.origin(card)}: {card.folder}" if store.is_installed(card) else "no"
    pairs = [
        ("id", card.id), ("title", card.title), ("capability", card.capability),
        ("architecture", card.architecture), ("installed", installed),
        ("size", human_size(card.size)), ("licence", card.licence),
        ("training data", card.training_data), ("command", card.command),
        ("description", card.description),
        ("config", ", ".join(f"{k}={v}" for k, v in card.config.items())),
        ("quality", ", ".join(f"{k}: {v}" for k, v in card.quality.items())),
    ]
    width = max(len(k) for k, _ in pairs) + 1
    for key, value in pairs:
        if value:
            print(f"{key + ':':<{width}} {value}")
    print("files:")
    for f in card.files:
        url = f"  {f.url}" if f.url else ""
        if f.sha256:
            print(f"  {f.name}  {human_size(f.size)}  sha256 {f.sha256[:16]}...{url}")
        else:
            print(f"  {f.name}  size unknown  sha256 not published (recorded at the first "
                  f"download: trust on first use){url}")
    if card.sources:
        print("sources:")
    for src in card.sources:
        print("  " + source_line(src))
    return 0


def source_line(src: dict[str, Any]) -> str:
    """One line about where an installed file came from and how far it can be trusted."""
    name, sha = src.get("name", "?"), str(src.get("sha256", ""))[:16]
    where = f" from {src['url']}" if src.get("url") else ""
    size = f" ({human_size(int(src['size']))})" if isinstance(src.get("size"), int) else ""
    checksum = src.get("checksum")
    if checksum == "first use":
        trust = (f"sha256 {sha}... recorded at its first download ({src.get('recorded', '?')}); "
                 "no checksum is published, so that first copy was unverified (trust on first "
                 "use); later downloads are checked against it")
    elif checksum == "published":
        trust = f"sha256 {sha}... checked against the published checksum"
    else:
        trust = f"sha256 {sha}..., imported from a local file ({src.get('recorded', '?')})"
    return f"{name}{size}{where}: {trust}"


def verify(args: argparse.Namespace) -> int:
    store = _store()
    if args.id:
        ids = [store.get(args.id).id]
    else:
        ids = [c.id for c in store.cards() if c.folder is not None]
        _warn(store)
    bad = 0
    for model_id in ids:
        problems = store.verify(model_id)
        for problem in problems:
            print(f"{model_id}: {problem}")
        if problems:
            bad += 1
        else:
            print(f"{model_id}: ok")
    if not ids:
        print("no installed models to verify")
    return 1 if bad else 0


def import_model(args: argparse.Namespace) -> int:
    from studio.model_import import import_checkpoint, install_converted
    from studio.models import sha256_file

    if not args.src.is_file():
        raise UserError(f"no such file: {args.src}")
    store = _store()
    dtype = None if args.dtype == "keep" else args.dtype
    like = store.declared(args.like or args.model_id)
    if args.like and like is None:
        raise UserError(f"--like: no declared model {args.like!r} (see `studio models list`)")
    beside = args.src.parent / "card.json"
    if not args.capability and like is None and beside.is_file():  # a model folder copied whole
        from studio.models import ModelCard

        args.capability = ModelCard.load(beside).capability
    importer = None if like is not None else _importer(store, args)
    if importer is not None:  # the plugin reads its settings from the weights and checks them
        card = install_converted(args.src, importer, store.user_dir, dtype=dtype,
                                 model_id=args.model_id)
        settings = ", ".join(f"{k}={v}" for k, v in card.config.items())
        print(f"imported {card.id}: {human_size(card.size)} in {card.folder} ({settings})")
        return 0
    if like is not None:
        from datetime import UTC, datetime

        source = {"name": args.src.name, "sha256": sha256_file(args.src),
                  "size": args.src.stat().st_size, "checksum": "imported",
                  "recorded": datetime.now(UTC).isoformat(timespec="seconds")}
        card = install_converted(args.src, like, store.user_dir, source=source, dtype=dtype,
                                 model_id=args.model_id)
        how = f" (converted as {like.id})" if like.convert is not None else ""
        print(f"imported {card.id}{how}: {human_size(card.size)} in {card.folder}")
        return 0
    fields = {"licence": args.licence, "command": ""}
    if args.title:
        fields["title"] = args.title
    card = import_checkpoint(args.src, args.model_id, args.capability, card_fields=fields,
                             store_dir=store.user_dir, dtype=dtype)
    print(f"imported {card.id}: {human_size(card.size)} in {card.folder}")
    return 0


def _importer(store: Any, args: argparse.Namespace) -> Any:
    """A card for the checkpoint from the converter the ``--capability``'s plugin declares for
    any checkpoint of its kind (``convert.reads_any``), or None when it declares none. Its
    config starts from the model's card.json beside the checkpoint, then ``--config``."""
    from studio.models import ModelCard

    declared = (entry[1] if isinstance(entry, tuple) else entry for entry in store.extra_cards)
    plugin_card = next((c for c in declared if isinstance(c, ModelCard)
                        and c.capability == args.capability
                        and getattr(c.convert, "reads_any", False)), None)
    if plugin_card is None:
        return None
    beside = args.src.parent / "card.json"
    config = dict(ModelCard.load(beside).config) if beside.is_file() else {}
    config |= _settings(args.config)
    card = ModelCard(id=args.model_id, capability=args.capability,
                     title=args.title or args.model_id,
                     architecture=plugin_card.architecture, config=config,
                     files=plugin_card.files, licence=args.licence, training_data="unknown",
                     description=f"Imported from {args.src.name}.")
    card.convert = plugin_card.convert
    return card


def _settings(pairs: list[str]) -> dict[str, Any]:
    """``--config KEY=VALUE`` values: JSON where they parse (4, true, 0.5), else strings."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UserError(f"--config {pair!r}: give KEY=VALUE, e.g. n_head=4")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def download(args: argparse.Namespace) -> int:
    from studio import device as devices
    from studio.downloads import DOWNLOAD_TASK
    from studio.execution import Execution
    from studio.runner import run_in_terminal

    store = _store()
    card = store.get(args.id)
    if store.is_installed(card):
        print(f"{card.id} is already installed in {card.folder}")
        return 0
    params = DOWNLOAD_TASK.make_params({"model_id": card.id})
    execution = Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store)
    return run_in_terminal(execution.run, args.debug,
                           on_cancel="studio: cancelled (run the same command again to resume)")


def remove(args: argparse.Namespace) -> int:
    store = _store()
    folder = store.remove(args.id)
    print(f"removed {args.id} ({folder})")
    return 0

