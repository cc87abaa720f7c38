"""``studio gallery list|search|show|again|rebuild|remove``: the saved outputs and their recipes.

An ID is the one ``list`` prints; its short code at the end ("3fa9c1") or a unique start of it
will do as well.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from studio.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="browse, search and re-run saved outputs",
                       description="Saved outputs and the recipes that made them.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = actions.add_parser("list", help="saved outputs, newest first")
    ls.add_argument("--task", default=None, help="only this task's outputs")
    ls.add_argument("--limit", type=int, default=None, help="at most this many")
    ls.set_defaults(func=list_entries)

    search = actions.add_parser("search", help="outputs whose task, name, parameters or text "
                                               "hold every word")
    search.add_argument("query", nargs="+", help="words to look for")
    search.set_defaults(func=search_entries)

    show = actions.add_parser("show", help="an output's path and recipe")
    show.add_argument("id")
    show.set_defaults(func=show_entry)

    again = actions.add_parser("again", help="run an output's recipe again (same seed)")
    again.add_argument("id")
    again.add_argument("--out", type=Path, default=None,
                       help="save to this folder instead of the gallery")
    again.set_defaults(func=run_again)

    rebuild = actions.add_parser("rebuild", help="rebuild the index from the recipe files")
    rebuild.set_defaults(func=rebuild_index)

    remove = actions.add_parser("remove", help="delete an output and its recipe")
    remove.add_argument("id")
    remove.set_defaults(func=remove_entry)


def list_entries(args: argparse.Namespace) -> int:
    gallery = _open()
    found = gallery.entries(limit=args.limit, task=args.task)
    if not found:
        print(f"no outputs of {args.task} in the gallery" if args.task else "the gallery is empty")
    _print_entries(found)
    return 0


def search_entries(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    found = _open().search(query)
    if not found:
        print(f"nothing in the gallery matches {query!r}")
    _print_entries(found)
    return 0


def show_entry(args: argparse.Namespace) -> int:
    import json

    entry = _entry(_open(), args.id)
    print(f"id:     {entry.id}")
    print(f"file:   {entry.path}")
    print(f"recipe: {entry.recipe_path}")
    print(json.dumps(entry.recipe, indent=2, ensure_ascii=False))
    return 0


def run_again(args: argparse.Namespace) -> int:
    from studio.gallery import DirectorySink, again
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.runner import run_in_terminal, warn_plugin_failures

    gallery = _open()
    entry = _entry(gallery, args.id)
    registry = load_plugins()
    warn_plugin_failures(registry)
    sink = DirectorySink(args.out) if args.out is not None else gallery
    models = ModelStore.from_registry(registry)
    return run_in_terminal(
        lambda reporter: again(entry.recipe, registry, sink, models=models, device=args.device,
                               on_event=reporter),
        args.debug, entry.task)


def rebuild_index(args: argparse.Namespace) -> int:
    gallery = _open()
    count = gallery.rebuild()
    print(f"rebuilt the index of {gallery.root}: {count} output{'s' if count != 1 else ''}")
    return 0


def remove_entry(args: argparse.Namespace) -> int:
    gallery = _open()
    entry = _entry(gallery, args.id)
    gallery.remove(entry.id)
    print(f"removed {entry.id} ({entry.path})")
    return 0


def _open() -> Any:
    from studio.gallery import Gallery

    return Gallery()


def _entry(gallery: Any, ref: str) -> Any:
    found = gallery.find(ref)
    if not found:
        raise UserError(f"no output {ref!r} in the gallery (see `studio gallery list`)")
    if len(found) > 1:
        names = ", ".join(e.id for e in found[:5])
        raise UserError(f"{ref!r} names {len(found)} outputs ({names}); give more of the id")
    return found[0]


def _print_entries(entries: list[Any]) -> None:
    for e in entries:
        print(f"{e.id}  {_local_time(e.created)}  {e.kind:<5}  {e.path}")


def _local_time(iso: str) -> str:
    from datetime import datetime

    try:
        return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return iso
