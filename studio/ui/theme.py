"""The dark theme: Fusion with a dark palette and one stylesheet, spacing on an 8 px grid.

Every margin and gap in the window is one of ``SPACE_S``, ``SPACE`` or ``SPACE_L``: panels set
their layouts with ``pad`` rather than with numbers of their own."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QFormLayout, QGridLayout, QLayout

# the spacing grid
SPACE_S = 4  # inside one control group: a field and its Browse button, a label over its value
SPACE = 8  # between controls, and a pane's margins
SPACE_L = 16  # between groups, and between a form's labels and its fields

ICONS = Path(__file__).with_name("icons")

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



def _icon(name: str) -> str:
    return (ICONS / f"{name}.svg").as_posix()


STYLESHEET = f"""
* {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BG}; }}
QWidget {{ color: {TEXT}; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
QListWidget#switcher {{ background: {SURFACE}; border: none; padding: {SPACE}px 0; outline: 0;
    font-size: 9pt; }}
QListWidget#switcher::item {{ padding: {SPACE_S}px 0; margin: 0 {SPACE_S}px; border-radius: 6px;
    color: {MUTED}; }}
QListWidget#switcher::item:selected {{ background: {RAISED}; color: {ACCENT}; }}
QListWidget#switcher::item:hover:!selected {{ background: #2a2c30; }}
QDockWidget {{ color: {MUTED}; font-weight: 600; titlebar-close-icon: url({_icon("dock-close")});
    titlebar-normal-icon: url({_icon("dock-float")}); }}
QDockWidget::title {{ background: {SURFACE}; padding: 6px {SPACE}px; text-align: left; }}
QDockWidget::close-button, QDockWidget::float-button {{ background: transparent; border: none;
    border-radius: 3px; padding: 1px; icon-size: 14px; }}
QDockWidget::close-button:hover, QDockWidget::float-button:hover {{ background: {RAISED}; }}
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
QSpinBox, QDoubleSpinBox {{ padding-right: 20px; }}
QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button,
QDoubleSpinBox::down-button {{ subcontrol-origin: border; width: 18px; background: {RAISED};
    border-left: 1px solid {BORDER}; }}
QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-position: top right;
    border-top-right-radius: 4px; }}
QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-position: bottom right;
    border-bottom-right-radius: 4px; }}
QSpinBox::up-button:hover, QDoubleSpinBox::up-button:hover, QSpinBox::down-button:hover,
QDoubleSpinBox::down-button:hover {{ background: {BORDER}; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url({_icon("spin-up")}); width: 10px;
    height: 6px; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url({_icon("spin-down")});
    width: 10px; height: 6px; }}
QSpinBox::up-arrow:disabled, QDoubleSpinBox::up-arrow:disabled, QSpinBox::up-arrow:off,
QDoubleSpinBox::up-arrow:off {{ image: url({_icon("spin-up-disabled")}); }}
QSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:disabled, QSpinBox::down-arrow:off,
QDoubleSpinBox::down-arrow:off {{ image: url({_icon("spin-down-disabled")}); }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: top right; width: 18px;
    border: none; }}
QComboBox::down-arrow {{ image: url({_icon("combo-down")}); width: 10px; height: 6px; }}
QComboBox QAbstractItemView {{ background: {RAISED}; border: 1px solid {BORDER};
    selection-background-color: {ACCENT_DARK}; }}
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


def pad(layout: QLayout, margins: int | tuple[int, int, int, int] = SPACE,
        spacing: int = SPACE) -> QLayout:
    """Put ``layout`` on the grid: ``margins`` (one for all sides, or left, top, right, bottom)
    and ``spacing`` between its items (a form's label column gets ``SPACE_L``)."""
    m = (margins,) * 4 if isinstance(margins, int) else margins
    layout.setContentsMargins(*m)
    if isinstance(layout, QFormLayout | QGridLayout):
        layout.setHorizontalSpacing(SPACE_L if isinstance(layout, QFormLayout) else spacing)
        layout.setVerticalSpacing(spacing)
    else:
        layout.setSpacing(spacing)
    return layout


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
