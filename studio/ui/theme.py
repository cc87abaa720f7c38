"""The dark theme: Fusion with a dark palette and one stylesheet, spacing on an 8 px grid."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BG = "#1e1f22"
SURFACE = "#26282c"
RAISED = "#2e3136"
BORDER = "#3a3d43"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"
ACCENT = "#e0a458"  # warm ochre, a painter's colour
ACCENT_DARK = "#b9823d"
ERROR = "#e06c75"
OK = "#98c379"

# one colour per capability tile, picked by a stable hash of its id
TILE_COLOURS = ("#e0a458", "#61afef", "#c678dd", "#98c379", "#e06c75", "#56b6c2", "#d19a66")

STYLESHEET = f"""
* {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QWidget {{ color: {TEXT}; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QListWidget#switcher {{ background: {SURFACE}; border: none; padding: 8px 0; outline: 0; }}
QListWidget#switcher::item {{ padding: 10px 12px; margin: 2px 8px; border-radius: 6px; }}
QListWidget#switcher::item:selected {{ background: {RAISED}; color: {ACCENT}; }}
QListWidget#switcher::item:hover:!selected {{ background: #2a2c30; }}
QDockWidget {{ color: {MUTED}; font-weight: 600; }}
QDockWidget::title {{ background: {SURFACE}; padding: 6px 8px; text-align: left; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 16px; padding: 8px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; }}
QLineEdit, QPlainTextEdit, QTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 4px; padding: 4px 6px;
    selection-background-color: {ACCENT_DARK};
}}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus {{
    border-color: {ACCENT};
}}
QLineEdit[invalid="true"] {{ border-color: {ERROR}; }}
QPushButton, QToolButton {{
    background: {RAISED}; border: 1px solid {BORDER}; border-radius: 4px; padding: 5px 12px;
}}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #6b6f75; }}
QPushButton#primary {{ background: {ACCENT}; color: #1b1b1b; border: none; font-weight: 600; }}
QPushButton#primary:hover {{ background: #ebb36c; }}
QPushButton#disclosure {{ background: transparent; border: none; padding: 2px 0; color: {MUTED}; }}
QPushButton#disclosure:hover, QPushButton#disclosure:checked {{ color: {ACCENT}; }}
QProgressBar {{ background: {SURFACE}; border: none; border-radius: 3px; height: 6px;
    text-align: center; color: transparent; max-height: 6px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QStatusBar {{ background: {SURFACE}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; }}
QTableWidget, QListWidget, QTreeWidget {{ background: {SURFACE}; border: 1px solid {BORDER};
    border-radius: 4px; alternate-background-color: #2a2c30; }}
QHeaderView::section {{ background: {RAISED}; color: {MUTED}; border: none; padding: 4px 8px; }}
QLabel#title {{ font-size: 15pt; font-weight: 600; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#error {{ color: {ERROR}; }}
QFrame#notification {{ background: #3a2a2d; border: 1px solid {ERROR}; border-radius: 6px; }}
QFrame#notification[level="info"] {{ background: #2a3a2d; border-color: {OK}; }}
QFrame#card {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 6px; }}
QScrollArea {{ border: none; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 6px; background: {BG}; top: -1px; }}
QTabBar::tab {{ background: {SURFACE}; color: {MUTED}; padding: 6px 16px; margin-right: 2px;
    border-top-left-radius: 4px; border-top-right-radius: 4px; }}
QTabBar::tab:selected {{ background: {RAISED}; color: {TEXT}; }}
QSplitter::handle {{ background: {BG}; }}
QMenu {{ background: {RAISED}; border: 1px solid {BORDER}; }}
QMenu::item:selected {{ background: {ACCENT_DARK}; }}
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: SURFACE,
        QPalette.AlternateBase: RAISED, QPalette.ToolTipBase: RAISED, QPalette.ToolTipText: TEXT,
        QPalette.Text: TEXT, QPalette.Button: RAISED, QPalette.ButtonText: TEXT,
        QPalette.BrightText: ERROR, QPalette.Highlight: ACCENT_DARK,
        QPalette.HighlightedText: "#111111", QPalette.Link: ACCENT, QPalette.PlaceholderText: MUTED,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.Disabled, QPalette.Text, QColor("#6b6f75"))
    pal.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#6b6f75"))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
