"""A label to drag the shown piece's MIDI file from, into a DAW or a file manager."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from studio.ui import theme


class DragHandle(QLabel):
    """Press and drag: a QDrag with the MIDI file's URL, for a DAW or a file manager."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self.path: Path | None = None
        self._press: QPoint | None = None
        self.setObjectName("draghandle")
        self.setCursor(Qt.OpenHandCursor)
        self.setAlignment(Qt.AlignCenter)
        self.setStyleSheet(f"QLabel#draghandle {{ border: 1px dashed {theme.BORDER};"
                           f" border-radius: 4px; padding: 4px 10px; }}"
                           f"QLabel#draghandle:hover {{ border-color: {theme.ACCENT}; }}"
                           f"QLabel#draghandle:disabled {{ color: #6b6f75; }}")
        self.set_path(None)

    def set_path(self, path: Path | None) -> None:
        self.path = path
        self.setEnabled(path is not None)
        self.setToolTip(f"Drag {path.name} into a DAW or a file manager" if path
                        else "Generate or open music first")

    def mime_data(self) -> QMimeData | None:
        if self.path is None or not self.path.exists():
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(self.path))])
        mime.setText(str(self.path))
        return mime

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._press = event.position().toPoint()

    def mouseMoveEvent(self, event) -> None:
        if self._press is None or not event.buttons() & Qt.LeftButton:
            return
        moved = (event.position().toPoint() - self._press).manhattanLength()
        if moved < QApplication.startDragDistance():
            return
        self._press = None
        mime = self.mime_data()
        if mime is not None:
            drag = QDrag(self)
            drag.setMimeData(mime)
            drag.exec(Qt.CopyAction)

    def mouseReleaseEvent(self, event) -> None:
        self._press = None
