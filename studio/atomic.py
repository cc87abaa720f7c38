"""Writing files so that a crash leaves the old file or the new one, never a part: a hidden
temporary file in the same folder (``paths.temp_file_beside``), fsync, rename, fsync of the
folder. The gallery, the model store and training checkpoints all write this way."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from studio import paths


def fsync_file(path: Path) -> None:
    """Flush a written file to the disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename) to the disk, where the system allows it (Windows
    cannot open a folder, and its renames need no folder fsync)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system that cannot flush a folder
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` (its folder made if missing). With ``replace=False`` an
    existing ``path`` is left alone and FileExistsError raised."""
    write_atomic_with(path, lambda tmp: tmp.write_bytes(data), replace=replace)


def write_atomic_with(path: Path, fill: Callable[[Path], object], *,
                      replace: bool = True) -> None:
    """As ``write_atomic``, for a writer that takes a file name (safetensors' ``save_file``,
    ``shutil.copyfile``): ``fill(tmp)`` writes the temporary file, which then gets the usual
    permissions whatever the writer gave it (``save_file`` makes an owner-only file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = paths.temp_file_beside(path)
    os.close(fd)
    tmp = Path(name)
    try:
        fill(tmp)
        paths.give_usual_permissions(tmp)
        fsync_file(tmp)
        if replace:
            os.replace(tmp, path)
        else:
            _rename_new(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def _rename_new(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` exists (a hard link fails atomically)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: check, then rename
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    tmp.unlink()
