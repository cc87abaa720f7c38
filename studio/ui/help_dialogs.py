"""The Help menu's windows: the user guide (the README and the pages under docs/, read in the
window), the keyboard shortcuts, and About (versions, the device, the shipped models' licences)."""

from __future__ import annotations

import importlib.metadata
import platform
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QImageReader, QKeySequence, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMenuBar,
    QTextBrowser,
    QVBoxLayout,
)

import studio
from studio.ui import theme
from studio.ui.dialogs import fit_to_screen


def guide_path() -> Path | None:
    """The README of a source checkout (with docs/ beside it), or None in an installed wheel."""
    readme = Path(studio.__file__).resolve().parents[1] / "README.md"
    return readme if readme.is_file() else None


def guide_text() -> str:
    """The user guide in Markdown: the README, or the copy a wheel carries in its metadata."""
    path = guide_path()
    if path is not None:
        return path.read_text(encoding="utf-8")
    try:
        meta = importlib.metadata.metadata("studio")
        return meta.get_payload() or meta.get("Description", "")  # type: ignore[attr-defined]
    except importlib.metadata.PackageNotFoundError:
        return ""


class GuideDialog(QDialog):
    """The README rendered, its links to docs/ followed in the same view, the pictures shown."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Studio user guide")
        fit_to_screen(self, 900, 760)
        self.view = QTextBrowser()
        self.view.setOpenLinks(False)
        self.view.anchorClicked.connect(self._follow)
        self.view.sourceChanged.connect(lambda _url: self.fit_images())
        path = guide_path()
        if path is not None:
            self.view.setSearchPaths([str(path.parent)])
            self.view.setSource(QUrl.fromLocalFile(str(path)), QTextDocument.MarkdownResource)
        else:
            self.view.setMarkdown(guide_text() or "The user guide is not installed with this "
                                  "copy of Studio: see the README of its source.")
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        back = buttons.addButton("Back", QDialogButtonBox.ActionRole)
        back.clicked.connect(self.view.backward)
        self.view.backwardAvailable.connect(back.setEnabled)
        back.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(buttons)

    def fit_images(self) -> None:
        """Scale the pictures (the README's screenshots) down to the page's width."""
        doc = self.view.document()
        width = self.view.viewport().width() - 2 * int(doc.documentMargin()) - 8
        base = Path(self.view.source().toLocalFile()).parent
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                fmt = frag.charFormat()
                if fmt.isImageFormat():
                    image = fmt.toImageFormat()
                    natural = QImageReader(str(base / image.name())).size()
                    if natural.width() > 0:
                        scale = min(1.0, width / natural.width())
                        image.setWidth(natural.width() * scale)
                        image.setHeight(natural.height() * scale)
                        cursor = QTextCursor(doc)
                        cursor.setPosition(frag.position())
                        cursor.setPosition(frag.position() + frag.length(), QTextCursor.KeepAnchor)
                        cursor.setCharFormat(image)
                it += 1
            block = block.next()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_images()

    def _follow(self, url: QUrl) -> None:
        """Markdown pages open here; anything else (a web address, a picture) outside."""
        if url.scheme() in ("", "file") and url.path().endswith(".md"):
            target = self.view.source().resolved(url)
            if Path(target.toLocalFile()).is_file():
                self.view.setSource(target, QTextDocument.MarkdownResource)
                return
        QDesktopServices.openUrl(self.view.source().resolved(url))


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action of the menu bar that has a shortcut."""
    found = []

    def walk(menu: Any, path: str) -> None:
        for act in menu.actions():
            if act.menu() is not None:
                walk(act.menu(), f"{path} ▸ {act.menu().title().replace('&', '')}")
            elif act.shortcuts():
                keys = ", ".join(k.toString(QKeySequence.NativeText) for k in act.shortcuts())
                found.append((path, act.text().replace("&", "").rstrip("…"), keys))

    for act in bar.actions():
        if act.menu() is not None:
            walk(act.menu(), act.menu().title().replace("&", ""))
    return found


def _rows(rows: list[tuple[str, str]]) -> str:
    return ("<table cellspacing='0' cellpadding='4'>" + "".join(
        f"<tr><td style='color:{theme.ACCENT}; font-weight:600'>{escape(k)}</td>"
        f"<td>{escape(v)}</td></tr>" for k, v in rows) + "</table>")


def shortcuts_html(bar: QMenuBar, gallery: tuple[tuple[str, str], ...]) -> str:
    window = [(keys, f"{action} ({menu})") for menu, action, keys in menu_shortcuts(bar)]
    return ("<h2>Keyboard shortcuts</h2><h3>Anywhere in the window</h3>" + _rows(window)
            + "<h3>In the gallery</h3>" + _rows(list(gallery))
            + "<h3>Everywhere</h3>" + _rows([
                ("Tab / Shift+Tab", "Next / previous field"),
                ("Ctrl+click", "Select a second gallery item (to compare)"),
                ("Mouse wheel", "Zoom a picture; double-click fits it again")]))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def about_html(registry: Any, models: Any, device: str) -> str:
    """Versions, the device, the plugins and the licences of the shipped models."""
    from PySide6 import __version__ as pyside
    from PySide6.QtCore import qVersion

    versions = [("Studio", studio.__version__), ("Python", platform.python_version()),
                ("PyTorch", _version("torch")), ("Qt", f"{qVersion()} (PySide6 {pyside})"),
                ("NumPy", _version("numpy")), ("System", platform.platform(terse=True))]
    plugins = [(p.name, f"{p.status} · {p.distribution} {p.version}".strip())
               for p in getattr(registry, "plugins", [])]
    shipped = []
    try:
        for card in models.cards():
            if models.origin(card) == "shipped":
                shipped.append((card.title or card.id, card.licence or "—"))
    except Exception:  # an unreadable store: no models listed
        pass
    models_html = "".join(
        f"<p><b>{escape(t)}</b><br><span style='color:{theme.MUTED}'>{escape(lic)}</span></p>"
        for t, lic in shipped) or "<p>—</p>"
    return (f"<h2>Studio {escape(studio.__version__)}</h2>"
            "<p>A desktop creative studio for the generative models of David Foster's "
            "<i>Generative Deep Learning</i>: paint, write, compose and drive, each a "
            "plugin; every output saved with the recipe that makes it again.</p>"
            f"<h3>Computing on</h3><p>{escape(device)}</p>"
            "<h3>Versions</h3>" + _rows(versions)
            + "<h3>Plugins</h3>" + _rows(plugins)
            + "<h3>Shipped models and their licences</h3>" + models_html)


class HtmlDialog(QDialog):
    def __init__(self, title: str, html: str, parent=None, size: tuple[int, int] = (640, 560)):
        super().__init__(parent)
        self.setWindowTitle(title)
        fit_to_screen(self, *size)
        self.view = QTextBrowser()
        self.view.setOpenExternalLinks(True)
        self.view.setHtml(html)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(buttons)
