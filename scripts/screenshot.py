"""Regenerate the README screenshot from the real window.

    python scripts/screenshot.py docs/screenshot.png [--capability ID] [--tab TITLE]
                                 [--drop FILE] [--run] [--size WxH]
    python scripts/screenshot.py --all DIR [--size WxH]
    python scripts/screenshot.py --montage docs/screenshot.png [--photo FILE] [--size WxH]

It opens the studio (offscreen unless a DISPLAY is set) with a fresh user data folder, selects the
capability (and its tab titled TITLE), drops FILE on the window as a user would, runs the page's
task once when --run is given (so the job queue and the gallery show something), and saves a grab
of the whole window. --all saves one grab per capability and per tab of its panel, named
DIR/<capability>-<size>.png for the panel's first tab and DIR/<capability>-<tab>-<size>.png for
the others. --montage runs each capability once (write continues a prompt, compose composes,
paint translates --photo when given, drive watches its agent for a few seconds) and saves the
four grabs as one picture, two by two, at the size of one window.
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
    ap.add_argument("--action", default=None,
                    help="with --run: call this method of the panel's current tab instead of "
                         "the panel's default run (e.g. dream, on drive's Drive tab)")
    ap.add_argument("--seconds", type=float, default=600.0,
                    help="with --run: grab after this many seconds if the run goes on")
    ap.add_argument("--montage", type=Path, default=None, metavar="OUT",
                    help="every capability after a run, two by two, in one picture")
    ap.add_argument("--photo", type=Path, default=None, help="the picture paint translates "
                                                             "in the montage")
    ap.add_argument("--size", default="1280x800")
    args = ap.parse_args()
    if sum(x is not None for x in (args.out, args.all, args.montage)) != 1:
        ap.error("give one of OUT, --all DIR or --montage OUT")

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
    if args.montage:
        return montage(app, window, ids, args.montage, args.photo)
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
        panel = window.current_panel()
        if args.action:
            from PySide6.QtWidgets import QTabWidget

            tabs = panel.findChild(QTabWidget)
            start = getattr(tabs.currentWidget() if tabs else panel, args.action)
            start()
            job = window.jobs.running
        else:
            job = panel.run_default()
        run(app, job, args.seconds)
    settle(app)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(args.out)):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(args.out)
    window.close()
    return 0


def run(app, job, limit: float = 600.0) -> None:
    """Let ``job`` run to its end, or for ``limit`` seconds."""
    end = time.monotonic() + limit
    while job is not None and not job.state.finished and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


PROMPT = "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\nROMEO:\n"


def montage(app, window, ids: list[str], out: Path, photo: Path | None) -> int:
    """Each capability after a run, two by two, scaled into one window's size."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QImage, QPainter

    grabs = []
    for row, cap in enumerate(ids):
        window.switcher.setCurrentRow(row)
        settle(app)
        if cap == "write":
            prompt = Path(tempfile.mkdtemp()) / "prompt.txt"
            prompt.write_text(PROMPT)
            window.drop_files([prompt])
        elif cap == "paint" and photo is not None:
            window.drop_files([photo.resolve()])
        job = window.current_panel().run_default()
        run(app, job, limit=8.0 if cap == "drive" else 600.0)  # drive watches a whole lap
        settle(app, 40)
        grabs.append(window.grab().toImage())
        if job is not None and not job.state.finished:
            job.cancel()
            run(app, job, limit=10.0)
    w, h = grabs[0].width(), grabs[0].height()
    sheet = QImage(w * 2, h * ((len(grabs) + 1) // 2), QImage.Format.Format_RGB32)
    sheet.fill(Qt.GlobalColor.black)
    painter = QPainter(sheet)
    for i, g in enumerate(grabs):
        painter.drawImage(QRect((i % 2) * w, (i // 2) * h, w, h), g)
    painter.end()
    sheet = sheet.scaledToWidth(w, Qt.TransformationMode.SmoothTransformation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not sheet.save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(out)
    window.close()
    return 0


def settle(app, rounds: int = 20) -> None:
    """Let the window draw; then dismiss the audio notice (a machine without sound output shows
    one after compose's run), which says nothing about the picture."""
    from studio.ui.notifications import Notification

    for _ in range(rounds):
        app.processEvents()
        time.sleep(0.02)
    for top in app.topLevelWidgets():
        for banner in top.findChildren(Notification):
            if banner.isVisible() and banner.message.startswith("no audio output"):
                banner.close_()
    for _ in range(10):  # the banner's place closes up
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
