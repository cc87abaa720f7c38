"""Where Studio keeps things: the user data folder (gallery, installed models, downloads) and
the shipped assets. ``STUDIO_DATA_DIR`` overrides the user folder (tests, portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def data_dir() -> Path:
    override = os.environ.get("STUDIO_DATA_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("studio", appauthor=False))


def gallery_dir() -> Path:
    return data_dir() / "gallery"


def models_dir() -> Path:
    """Models the user installed (imported or downloaded)."""
    return data_dir() / "models"


def downloads_dir() -> Path:
    """Partial downloads, kept outside the model store so a resume can pick them up."""
    return data_dir() / "downloads"


def shipped_models_dir() -> Path:
    return ASSETS / "models"
