"""Help ▸ User guide, Keyboard shortcuts and About, and what the status bar says of the CPU."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")


def test_status_bar_says_what_one_thread_means(monkeypatch):
    from studio import device as devices
    from studio.ui.main_window import device_status

    monkeypatch.setattr(devices, "cpu_count", lambda: 2)
    assert device_status(devices.DeviceInfo("cpu", "1 threads", 1)) == \
        "CPU (1 of 2 cores for tasks)"
    monkeypatch.setattr(devices, "cpu_count", lambda: 1)
    assert device_status(devices.DeviceInfo("cpu", "1 threads", 1)) == "CPU (1 core for tasks)"
    assert device_status(devices.DeviceInfo("cuda", "NVIDIA H100", 1)) == "CUDA: NVIDIA H100"


def test_about_names_versions_device_and_the_shipped_models_licences(qtbot, registry):
    from PySide6.QtWidgets import QTextBrowser

    from studio.models import ModelStore
    from studio.ui.help_dialogs import about_html

    store = ModelStore.from_registry(registry)
    shipped = [c for c in store.cards() if store.origin(c) == "shipped"]
    assert shipped  # the starter models under assets/models
    page = QTextBrowser()
    qtbot.addWidget(page)
    page.setHtml(about_html(registry, store, "CPU (1 of 2 cores for tasks)"))
    text = page.toPlainText()
    for words in ("Studio 0.1.0", "Python", "PyTorch", "Qt", "CPU (1 of 2 cores for tasks)",
                  "studio_testkit"):
        assert words in text, words
    for card in shipped:
        assert card.title in text and card.licence in text.replace("\n", " ")


def test_shortcuts_come_from_the_menus_and_the_guide_is_the_readme(qtbot):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QMenuBar

    from studio.ui.help_dialogs import GuideDialog, menu_shortcuts

    bar = QMenuBar()
    qtbot.addWidget(bar)
    file = bar.addMenu("&File")
    file.addAction("Run", QKeySequence("Ctrl+Return"), lambda: None)
    file.addAction("No keys", lambda: None)
    assert menu_shortcuts(bar) == [("File", "Run", QKeySequence("Ctrl+Return").toString(
        QKeySequence.NativeText))]
    guide = GuideDialog()
    qtbot.addWidget(guide)
    assert "Quick start" in guide.view.toPlainText()
