"""The main window: capability switcher on the left, the selected capability's panel (or a form
built from its task's schema) in the middle, the job queue and the gallery in docks, a status
bar that names the device. Settings and each capability's last parameters persist."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio import device as devices
from studio import paths
from studio.hookspecs import Capability
from studio.ui.job_view import JobQueueView
from studio.ui.jobs import Job, JobManager, JobState
from studio.ui.notifications import NotificationArea
from studio.ui.panel_host import PanelHost
from studio.ui.task_page import TaskPage
from studio.ui.widgets import capability_icon, capability_switcher


def device_status(info: devices.DeviceInfo) -> str:
    """What the status bar says about the device: "CPU (1 of 2 cores for tasks)" (the window
    keeps a core for itself, see devices.compute_threads), "CUDA: NVIDIA H100"."""
    if info.kind != "cpu":
        return info.label
    cores = devices.cpu_count()
    if info.threads < cores:
        return f"CPU ({info.threads} of {cores} cores for tasks)"
    return f"CPU ({cores} core{'s' if cores != 1 else ''} for tasks)"


DEVICE_TIP = ("The device that computes (Tools ▸ Compute device). On the CPU, tasks in the window "
              "leave one core free so that the window stays responsive while a model computes; "
              "`studio run` on the command line uses every core.")


def _probe_device(choice: str) -> tuple[str, str]:
    """(status text, error) for a device choice."""
    try:
        return device_status(devices.pick(choice, interactive=True)), ""
    except devices.DeviceError as exc:
        return "", str(exc)


def settings() -> QSettings:
    return QSettings(str(paths.data_dir() / "settings.ini"), QSettings.IniFormat)


class MainWindow(QMainWindow):
    _device_probed = Signal(str, str, str)  # choice, label, error (from the probe thread)
    def __init__(self, registry: Any, gallery: Any, models: Any, device: str | None = None):
        super().__init__()
        self.setWindowTitle("Studio")
        self.setMinimumSize(QSize(900, 600))
        self.setAcceptDrops(True)
        self.registry, self.gallery, self.models = registry, gallery, models
        self.settings = settings()
        self.device_choice = device or str(self.settings.value("device", "auto"))

        versions = {p.name: p.version for p in registry.plugins}
        self.jobs = JobManager(sink=gallery, models=models, device=self.device_choice,
                               plugin_versions=versions, parent=self)
        self.jobs.job_finished.connect(self._job_finished)
        self.notifications = NotificationArea()
        self.host = PanelHost(self.jobs, registry, models, gallery, self.notify)

        # capability switcher + pages
        self.switcher = capability_switcher()
        self.pages = QStackedWidget()
        self.panels: dict[str, QWidget] = {}
        for cap in registry.capabilities:
            self._add_capability(cap)
        if not registry.capabilities:
            self.pages.addWidget(self._empty_page())
        self.switcher.currentRowChanged.connect(self.pages.setCurrentIndex)

        centre = QWidget()
        cv = QVBoxLayout(centre)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.setSpacing(0)
        cv.addWidget(self.notifications)
        cv.addWidget(self.pages, 1)
        body = QWidget()
        bh = QHBoxLayout(body)
        bh.setContentsMargins(0, 0, 0, 0)
        bh.setSpacing(0)
        bh.addWidget(self.switcher)
        bh.addWidget(centre, 1)
        self.setCentralWidget(body)

        # docks
        self.job_view = JobQueueView(self.jobs)
        self.jobs_dock = self._dock("Jobs", "jobs", self.job_view, Qt.RightDockWidgetArea)
        from studio.ui.gallery_view import GalleryView

        self.gallery_view = GalleryView(gallery, registry=registry, models=models)
        self.gallery_view.again_requested.connect(self.again)
        self.gallery_dock = self._dock("Gallery", "gallery", self.gallery_view,
                                       Qt.RightDockWidgetArea)

        self._menus()
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.device_label)
        self.job_label = QLabel("idle")
        self.statusBar().addWidget(self.job_label)
        self.jobs.job_changed.connect(self._job_status)
        self._device_probed.connect(self._device_found)
        self._show_device()


        self._restore()
        for f in registry.failures:
            self.notify(f"Plugin {f.plugin} failed ({f.stage}): {f.message}", "error", f.traceback)

    # -- building ------------------------------------------------------------------------
    def _add_capability(self, cap: Capability) -> None:
        item = QListWidgetItem(capability_icon(cap.icon, cap.title, cap.id), cap.title)
        item.setToolTip(f"{cap.title}: {cap.description}" if cap.description else cap.title)
        item.setTextAlignment(Qt.AlignHCenter | Qt.AlignBottom)
        self.switcher.addItem(item)
        page: QWidget
        try:
            page = cap.panel(self.host) if cap.panel else TaskPage(cap, self.host)
        except Exception as exc:  # a broken panel falls back to the form
            self.notify(f"{cap.title}: its panel failed to build ({exc}); showing the form",
                        "error", traceback.format_exc())
            page = TaskPage(cap, self.host)
        self.panels[cap.id] = page
        self.pages.addWidget(page)

    def _empty_page(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        title = QLabel("No capabilities installed")
        title.setObjectName("title")
        hint = QLabel("Install a Studio plugin (see docs/plugins.md), or check Help ▸ Plugins "
                      "for plugins that failed to load.")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        lay.addStretch(1)
        lay.addWidget(title, 0, Qt.AlignHCenter)
        lay.addWidget(hint, 0, Qt.AlignHCenter)
        lay.addStretch(2)
        return w

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable
                         | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        run = file.addAction("Run", self.run_current)
        run.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        file.addAction("Interrupt", QKeySequence(Qt.Key_Escape), self.jobs.interrupt)
        file.addSeparator()
        file.addAction("Quit", QKeySequence.Quit, self.close)
        view = bar.addMenu("&View")
        view.addAction(self.jobs_dock.toggleViewAction())
        view.addAction(self.gallery_dock.toggleViewAction())
        tools = bar.addMenu("&Tools")
        tools.addAction("Models…", self.show_models)
        dev = tools.addMenu("Compute device")
        group = QActionGroup(self)
        for choice in devices.CHOICES:
            act = QAction(choice.upper() if choice != "auto" else "Automatic", self, checkable=True)
            act.setChecked(choice == self.device_choice)
            act.triggered.connect(lambda _=False, c=choice: self.set_device(c))
            group.addAction(act)
            dev.addAction(act)
        help_ = bar.addMenu("&Help")
        help_.addAction("User guide", QKeySequence(Qt.Key_F1), self.show_guide)
        help_.addAction("Keyboard shortcuts", QKeySequence("Ctrl+/"), self.show_shortcuts)
        help_.addSeparator()
        help_.addAction("Plugins…", self.show_plugins)
        help_.addAction("About Studio", self.show_about)

    # -- actions -------------------------------------------------------------------------
    def current_panel(self) -> QWidget | None:
        return self.pages.currentWidget()

    def run_current(self) -> None:
        panel = self.current_panel()
        if panel is not None and hasattr(panel, "run_default"):
            self._guard(panel.run_default)

    def again(self, entry: Any) -> Job | None:
        """Re-run a gallery entry's recipe with its seed."""
        recipe = entry.recipe
        try:
            task = self.registry.task(recipe["task"])
            params = task.make_params(recipe.get("params", {}))
        except Exception as exc:
            self.notify(f"Cannot run this again: {exc}", "error")
            return None
        from studio.recipes import input_changes

        changed = input_changes(recipe, task)
        if changed:  # run it all the same, as the command line does, but say why it may differ
            self.notify("Again, with changed inputs: " + "; ".join(changed), "warning")
        return self.jobs.submit(task, params, seed=recipe.get("seed"))

    def set_device(self, choice: str) -> None:
        self.device_choice = self.jobs.device = choice
        self.settings.setValue("device", choice)
        self._show_device()

    def show_models(self) -> None:
        from studio.ui.dialogs import ModelManager

        ModelManager(self.models, self.jobs, self.notify, self).exec()

    def show_plugins(self) -> None:
        from studio.ui.dialogs import PluginsDialog

        PluginsDialog(self.registry, self).exec()

    def show_guide(self) -> None:
        from studio.ui.help_dialogs import GuideDialog

        self._guide = GuideDialog(self)  # not modal: read it beside the window
        self._guide.show()

    def show_shortcuts(self) -> None:
        from studio.ui.gallery_view import SHORTCUTS
        from studio.ui.help_dialogs import HtmlDialog, shortcuts_html

        HtmlDialog("Keyboard shortcuts", shortcuts_html(self.menuBar(), SHORTCUTS), self).exec()

    def show_about(self) -> None:
        from studio.ui.help_dialogs import HtmlDialog, about_html

        device = self.device_label.text()
        HtmlDialog("About Studio", about_html(self.registry, self.models, device), self,
                   (720, 640)).exec()

    def notify(self, message: str, level: str = "info", details: str = "", action=None) -> None:
        self.notifications.show_message(message, level, details, action)

    def _guard(self, fn, *args) -> Any:
        """Call plugin code; an exception becomes a notification, never a crash."""
        try:
            return fn(*args)
        except Exception as exc:
            self.notify(f"{type(exc).__name__}: {exc}", "error", traceback.format_exc())
            return None

    def _show_device(self) -> None:
        """Name the device in the status bar. Asking torch means importing it (about a second),
        so the first time that happens on a thread of its own, after the window is up."""
        choice = self.device_choice
        if "torch" in sys.modules:
            self._device_found(choice, *_probe_device(choice))
            return
        self.device_label.setText(f"{choice.upper() if choice != 'auto' else 'Device'}: …")
        threading.Thread(target=lambda: self._device_probed.emit(choice, *_probe_device(choice)),
                         daemon=True, name="device-probe").start()

    def _device_found(self, choice: str, label: str, error: str) -> None:
        if choice != self.device_choice:
            return  # the user chose another device meanwhile
        if error:
            self.device_label.setText(f"{choice.upper()}: unavailable")
            self.notify(error, "error")
        else:
            self.device_label.setText(label)
            self.device_label.setToolTip(DEVICE_TIP)

    def _job_status(self, job: Job) -> None:
        running = self.jobs.running
        queued = len(self.jobs.queued())
        if running is None:
            self.job_label.setText("idle" if not queued else f"{queued} queued")
        else:
            pct = "" if running.progress is None else f" {int(100 * running.progress)}%"
            more = f" · {queued} queued" if queued else ""
            self.job_label.setText(f"{running.title}{pct}{more}")

    def _job_finished(self, job: Job) -> None:
        if job.state is JobState.FAILED:
            action = None
            if job.out_of_memory:
                action = ("Run on the CPU",
                          lambda j=job: self.jobs.submit(j.task, j.params, j.seed, "cpu"))
            self.notify(f"{job.title} failed: {job.error}", "error", job.details, action)
        if job.outputs:
            self.gallery_view.refresh()
        self._job_status(job)

    # -- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.drop_files(paths)
            event.acceptProposedAction()

    def drop_files(self, paths: list[Path]) -> bool:
        """Hand dropped files (or folders: the panel decides what to do with them) to the
        selected capability."""
        row = self.switcher.currentRow()
        if row < 0 or row >= len(self.registry.capabilities):
            self.notify("Choose a capability first, then drop files on it.", "error")
            return False
        cap = self.registry.capabilities[row]
        if cap.accepts and not any(p.is_dir() or p.suffix.lower() in cap.accepts
                                   for p in paths):
            self.notify(f"{cap.title} does not open {paths[0].suffix or 'such'} files "
                        f"(it opens {', '.join(cap.accepts)})", "error")
            return False
        panel = self.panels[cap.id]
        handled = bool(hasattr(panel, "handle_drop") and self._guard(panel.handle_drop, paths))
        if not handled:
            self.notify(f"{cap.title} has no place for a dropped file", "error")
        return handled

    # -- persistence ---------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        if state is not None:
            self.restoreState(state)
        else:  # first start: once laid out, the gallery gets most of the right column
            QTimer.singleShot(0, self._first_dock_sizes)
        for cap_id, panel in self.panels.items():
            raw = s.value(f"params/{cap_id}")
            if raw and hasattr(panel, "restore_values"):
                with contextlib.suppress(ValueError):
                    self._guard(panel.restore_values, json.loads(raw))
        ids = [c.id for c in self.registry.capabilities]
        current = s.value("capability")
        self.switcher.setCurrentRow(ids.index(current) if current in ids else 0)

    def _first_dock_sizes(self) -> None:
        """The right column a fifth of the window (280 to 420 px); the job list a quarter of
        its height (a few rows), the gallery the rest."""
        width = max(280, min(420, self.width() // 5))
        self.resizeDocks([self.gallery_dock], [width], Qt.Horizontal)
        column = self.jobs_dock.height() + self.gallery_dock.height()
        self.resizeDocks([self.jobs_dock, self.gallery_dock], [column // 4, column - column // 4],
                         Qt.Vertical)

    def save_state(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        row = self.switcher.currentRow()
        if 0 <= row < len(self.registry.capabilities):
            s.setValue("capability", self.registry.capabilities[row].id)
        for cap_id, panel in self.panels.items():
            if hasattr(panel, "current_values"):
                values = self._guard(panel.current_values)
                if values is not None:
                    s.setValue(f"params/{cap_id}", json.dumps(values, default=str))
        s.sync()

    def closeEvent(self, event) -> None:
        self.save_state()
        self.jobs.cancel_all()
        self.jobs.wait(3000)
        self.gallery_view.shutdown()
        super().closeEvent(event)
