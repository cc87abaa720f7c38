"""Where Studio keeps things: the user data folder (gallery, installed models, downloads) and
the shipped assets. ``STUDIO_DATA_DIR`` overrides the user folder (tests, portable installs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# assets/ of the source tree beside the package; an installed wheel carries them inside it
_PACKAGED_ASSETS = Path(__file__).resolve().parent / "assets"
ASSETS = (_PACKAGED_ASSETS if _PACKAGED_ASSETS.is_dir()
          else Path(__file__).resolve().parent.parent / "assets")


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


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it
USUAL_MODE = 0o666 & ~_UMASK  # what a new file gets (e.g. 0644)


def temp_file_beside(path: Path) -> tuple[int, str]:
    """A new hidden temporary file in ``path``'s folder (open descriptor, name), to be written
    and renamed over ``path``. It gets the permissions any new file gets (0666 less the
    umask), not mkstemp's owner-only 0600, so a saved MIDI or model is readable as usual."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, USUAL_MODE)
    return fd, name


def give_usual_permissions(path: Path | str) -> None:
    """For a file another library wrote afresh (safetensors' ``save_file`` replaces the file
    it is given, and its new file is owner-only)."""
    if os.name == "posix":
        os.chmod(path, USUAL_MODE)
