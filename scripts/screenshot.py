"""Regenerate the README screenshot from the real window.

    python scripts/screenshot.py docs/screenshot.png [--capability ID] [--tab TITLE]
                                 [--drop FILE] [--run] [--size WxH]
    python scripts/screenshot.py --all DIR [--size WxH]

It opens the studio (offscreen unless a DISPLAY is set) with a fresh user data folder, selects the
capability (and its tab titled TITLE), drops FILE on the window as a user would, runs the page's
task once when --run is given (so the job queue and the gallery show something), and saves a grab
of the whole window. --all saves one grab per capability and per tab of its panel, named
DIR/<capability>-<size>.png for the panel's first tab and DIR/<capability>-<tab>-<size>.png for
the others.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-shot-"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--all", type=Path, default=None, metavar="DIR",
                    help="grab every capability and every tab of its panel into DIR")
    ap.add_argument("--capability", default=None)
    ap.add_argument("--tab", default=None, help="the title of the panel's tab to show")
    ap.add_argument("--drop", type=Path, default=None, help="a file to drop on the window")
    ap.add_argument("--run", action="store_true", help="run the page's task once first")
    ap.add_argument("--size", default="1280x800")
    args = ap.parse_args()
    if (args.out is None) == (args.all is None):
        ap.error("give either OUT or --all DIR")

    from PySide6.QtWidgets import QApplication

    from studio.ui import theme
    from studio.ui.app import build_window

    app = QApplication(sys.argv[:1])
    theme.apply(app)
    window = build_window()
    w, h = map(int, args.size.split("x"))
    window.resize(w, h)
    window.show()
    ids = [c.id for c in window.registry.capabilities]
    if args.all:
        return grab_all(app, window, ids, args.all, args.size)
    if args.capability:
        window.switcher.setCurrentRow(ids.index(args.capability))
    if args.tab:
        from PySide6.QtWidgets import QTabWidget

        tabs = window.current_panel().findChild(QTabWidget)
        titles = [tabs.tabText(i) for i in range(tabs.count())] if tabs else []
        if args.tab not in titles:
            print(f"no tab {args.tab!r}; the panel has {titles}", file=sys.stderr)
            return 1
        tabs.setCurrentIndex(titles.index(args.tab))
    if args.drop:
        window.drop_files([args.drop.resolve()])
    if args.run:
        job = window.current_panel().run_default()
        while job is not None and not job.state.finished:
            app.processEvents()
            time.sleep(0.01)
    settle(app)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(args.out)
    window.close()
    return 0


def settle(app, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()
        time.sleep(0.02)


def grab_all(app, window, ids: list[str], folder: Path, size: str) -> int:
    from PySide6.QtWidgets import QTabWidget

    folder.mkdir(parents=True, exist_ok=True)
    for row, cap in enumerate(ids):
        window.switcher.setCurrentRow(row)
        settle(app)
        tabs = window.current_panel().findChild(QTabWidget)
        for i in range(tabs.count() if tabs else 1):
            name = cap  # the panel's first tab is its main view: named after the capability
            if tabs:
                tabs.setCurrentIndex(i)
                if i:
                    name += "-" + tabs.tabText(i).lower().replace(" ", "_").replace("&", "")
            settle(app)
            out = folder / f"{name}-{size}.png"
            if not window.grab().save(str(out)):
                print(f"could not write {out}", file=sys.stderr)
                return 1
            print(out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
