"""``studio gallery list|search|show|again|favourite|unfavourite|remove|clear|rebuild``: the
saved outputs and their recipes.

One run is one item, however many files it wrote (a compose run's MIDI and WAV). An ID is the one
``list`` prints, or any of its files' names without the suffix; its short code at the end
("3fa9c1") or a unique start of it will do as well.
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

    ls = actions.add_parser("list", help="saved items (one a run, with its files), newest first")
    ls.add_argument("--task", default=None, help="only this task's outputs")
    ls.add_argument("--limit", type=int, default=None, help="at most this many items")
    ls.add_argument("--favourites", action="store_true", help="only the favourites")
    ls.set_defaults(func=list_entries)

    search = actions.add_parser("search", help="items whose title, task, name, parameters or "
                                               "text hold every word")
    search.add_argument("query", nargs="+", help="words to look for")
    search.set_defaults(func=search_entries)

    show = actions.add_parser("show", help="an item's title, files and recipe")
    show.add_argument("id")
    show.set_defaults(func=show_entry)

    again = actions.add_parser("again", help="run an item's recipe again (same seed)")
    again.add_argument("id")
    again.add_argument("--out", type=Path, default=None,
                       help="save to this folder instead of the gallery")
    again.set_defaults(func=run_again)

    rebuild = actions.add_parser("rebuild", help="rebuild the index from the recipe files")
    rebuild.set_defaults(func=rebuild_index)

    fav = actions.add_parser("favourite", help="mark an item as a favourite (kept by clear)")
    fav.add_argument("id")
    fav.set_defaults(func=mark_favourite, favourite=True)
    unfav = actions.add_parser("unfavourite", help="unmark a favourite")
    unfav.add_argument("id")
    unfav.set_defaults(func=mark_favourite, favourite=False)

    remove = actions.add_parser("remove", help="delete an item: its files and their recipes")
    remove.add_argument("id")
    remove.set_defaults(func=remove_entry)

    clear = actions.add_parser("clear", help="delete every item but the favourites")
    clear.add_argument("--all", action="store_true", help="the favourites too")
    clear.set_defaults(func=clear_history)


def list_entries(args: argparse.Namespace) -> int:
    found = _open().items(limit=args.limit, task=args.task, favourites_only=args.favourites)
    if not found:
        what = "favourites" if args.favourites else "outputs"
        print(f"no {what} of {args.task} in the gallery" if args.task else
              "no favourites in the gallery" if args.favourites else "the gallery is empty")
    _print_items(found)
    return 0


def search_entries(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    found = _open().items(query=query)
    if not found:
        print(f"nothing in the gallery matches {query!r}")
    _print_items(found)
    return 0


def show_entry(args: argparse.Namespace) -> int:
    import json

    item = _item(_open(), args.id)
    print(f"id:     {item.id}")
    print(f"title:  {item.title}{'  (favourite)' if item.favourite else ''}")
    for entry in item.entries:
        print(f"file:   {entry.path}")
    for entry in item.entries:
        print(f"recipe: {entry.recipe_path}")
    print(json.dumps(item.recipe, indent=2, ensure_ascii=False))
    return 0


def mark_favourite(args: argparse.Namespace) -> int:
    gallery = _open()
    item = _item(gallery, args.id)
    gallery.set_favourite(item.id, args.favourite)
    print(f"{'marked' if args.favourite else 'unmarked'} {item.id} ({item.title})")
    return 0


def clear_history(args: argparse.Namespace) -> int:
    gallery = _open()
    kept = 0 if args.all else len(gallery.favourites() & {i.id for i in gallery.items()})
    count = gallery.clear_history(keep_favourites=not args.all)
    print(f"deleted {count} item{'s' if count != 1 else ''}"
          + (f"; kept {kept} favourite{'s' if kept != 1 else ''}" if kept else ""))
    return 0


def run_again(args: argparse.Namespace) -> int:
    from studio.gallery import DirectorySink
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.recipes import again
    from studio.runner import run_in_terminal, warn_plugin_failures

    gallery = _open()
    entry = _item(gallery, args.id)  # its recipe is the run's
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
    item = gallery.remove_item(_item(gallery, args.id).id)
    print(f"removed {item.id} ({', '.join(str(e.path) for e in item.entries)})")
    return 0


def _open() -> Any:
    from studio.gallery import Gallery

    return Gallery()


def _item(gallery: Any, ref: str) -> Any:
    try:
        return gallery.item(ref)
    except UserError as exc:
        if "names" in str(exc):
            raise
        raise UserError(f"no output {ref!r} in the gallery (see `studio gallery list`)") from None


def _print_items(items: list[Any]) -> None:
    """An item a line (id, time, a star on favourites, title), then its files, indented."""
    for item in items:
        star = "*" if item.favourite else " "
        print(f"{item.id}  {_local_time(item.created)}  {star} {item.title}")
        for e in item.entries:
            print(f"    {e.path}")


def _local_time(iso: str) -> str:
    from datetime import datetime

    try:
        return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return iso
