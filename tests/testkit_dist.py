"""Install the test plugin as a real distribution: a generated ``.dist-info`` with an entry
point in the ``studio.plugins`` group, found by importlib.metadata like any installed plugin."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixture_plugins"


def write_dist_info(site: Path, name: str = "studio_testkit", module: str = "studio_testkit",
                    version: str = "1.0") -> Path:
    """Write ``{name}-{version}.dist-info`` under ``site`` and return ``site``."""
    dist = site / f"{name}-{version}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        f"[studio.plugins]\n{name} = {module}\n", encoding="utf-8")
    (dist / "RECORD").write_text("", encoding="utf-8")
    return site


def sys_path_entries(site: Path) -> list[str]:
    """What goes on sys.path (or PYTHONPATH) so the plugin imports and its entry point is seen."""
    return [str(site), str(FIXTURES)]
