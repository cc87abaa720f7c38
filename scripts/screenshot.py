"""Regenerate the README screenshot from the real window.

    python scripts/screenshot.py docs/screenshot.png [--capability ID] [--tab TITLE]
                                 [--drop FILE] [--run]

It opens the studio (offscreen unless a DISPLAY is set) with a fresh user data folder, selects the
capability (and its tab titled TITLE), drops FILE on the window as a user would, runs the page's
task once when --run is given (so the job queue and the gallery show something), and saves a grab
of the whole window.
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
    ap.add_argument("out", type=Path)
    ap.add_argument("--capability", default=None)
    ap.add_argument("--tab", default=None, help="the title of the panel's tab to show")
    ap.add_argument("--drop", type=Path, default=None, help="a file to drop on the window")
    ap.add_argument("--run", action="store_true", help="run the page's task once first")
    ap.add_argument("--size", default="1280x800")
    args = ap.parse_args()

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
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(args.out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
