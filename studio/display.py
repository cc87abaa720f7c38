"""Whether the window can open here, asked before Qt is: Qt aborts the process (status 134,
a page of plugin names) when there is no display or its X11 plugin lacks a system library.

``python -m studio.display`` prints what is missing and the packages that provide it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Libraries Qt's X11 plugin (and the Qt libraries under it) loads, by the Debian/Ubuntu package
# that provides them. Qt 6.5+ needs libxcb-cursor0, which a fresh desktop often lacks.
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.M)
_CANNOT_OPEN = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "Qt/plugins/platforms/libqxcb.so"
    return path if path.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``plugin`` needs that the system cannot find (empty: it loads)."""
    try:
        ctypes.CDLL(str(plugin))
        return []
    except OSError as exc:
        first = _CANNOT_OPEN.findall(str(exc))
    if shutil.which("ldd"):  # every missing one, not only the first the loader met
        done = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
        found = list(dict.fromkeys(_NOT_FOUND.findall(done.stdout)))
        if found:
            return found
    return first or [plugin.name]


def install_hint(libraries: list[str]) -> str:
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(lib, lib) for lib in libraries))
    return "sudo apt install " + " ".join(packages)


def _x11_reachable() -> bool:
    """Whether an X server answers on $DISPLAY (the connection Qt's plugin would make)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # the plugin check names the library
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(None, None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def problem() -> str | None:
    """Why the window cannot open here, in one line; None when it can (or when Qt chooses its
    platform some other way: QT_QPA_PLATFORM set, a Wayland session, not Linux)."""
    env = os.environ
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY"):
            return None
        return ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset): "
                "start it from a desktop session, or use `studio run TASK` in a terminal")
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return None  # Qt takes its Wayland plugin
    plugin = xcb_plugin()
    if plugin is not None:
        missing = missing_libraries(plugin)
        if missing:
            return (f"the window needs system libraries that are missing ({', '.join(missing)});"
                    f" install them: {install_hint(missing)}")
    if not _x11_reachable():
        return f"cannot connect to the X display {env['DISPLAY']!r}: is its server running?"
    return None


if __name__ == "__main__":
    found = problem()
    print(f"studio: {found}" if found else "studio: the window can open here")
    sys.exit(1 if found else 0)
