"""Starting the window: the QApplication, the theme, plugins, the gallery and the model store.

``STUDIO_REPORT_PAINT=1`` prints "painted <seconds>" on the first paint of the main window (used
by benchmarks/startup.py); ``STUDIO_QUIT_AFTER_PAINT=1`` then quits.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from studio.ui import theme


class _FirstPaint(QObject):
    def __init__(self, started: float, quit_after: bool):
        super().__init__()
        self.started, self.quit_after, self.done = started, quit_after, False

    def eventFilter(self, obj, event) -> bool:
        if not self.done and event.type() == QEvent.Paint:
            self.done = True
            print(f"painted {time.perf_counter() - self.started:.3f}", flush=True)
            if self.quit_after:
                QTimer.singleShot(0, QApplication.instance().quit)
        return False


def build_window(device: str | None = None):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.ui.main_window import MainWindow

    registry = load_plugins()
    return MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device=device)


def run_app(device: str | None = None, argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Studio")
    app.setOrganizationName("studio")
    theme.apply(app)
    window = build_window(device)

    def excepthook(kind, value, tb):  # an exception in a slot: tell, don't die
        details = "".join(traceback.format_exception(kind, value, tb))
        print(details, file=sys.stderr)
        window.notify(f"Unexpected error: {kind.__name__}: {value}", "error", details)

    sys.excepthook = excepthook
    if os.environ.get("STUDIO_REPORT_PAINT"):
        watcher = _FirstPaint(started, bool(os.environ.get("STUDIO_QUIT_AFTER_PAINT")))
        window.installEventFilter(watcher)
    window.show()
    return app.exec()
