"""The plugin contract: the hooks a Studio plugin may implement.

Two hooks, both declarative: a plugin says what it offers and the host does the rest. Each hook
is documented in docs/plugins.md with its signature, when it is called and an example; a test
fails when one is not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from studio.tasks import Task

# The plugin API's version, "major.minor". A plugin that needs something added in a later minor
# version sets ``STUDIO_API = "1.1"`` in its module; Studio refuses to load it (a failure of that
# plugin) when its own version is older or of another major version. docs/plugins.md says since
# which version each hook, field and helper exists.
API_VERSION = "1.1"

hookspec = pluggy.HookspecMarker("studio")
hookimpl = pluggy.HookimplMarker("studio")


@dataclass
class Capability:
    """One thing the studio can do (paint, write, ...), shown as one entry of the switcher.

    ``panel(host)`` builds the capability's Qt widget; ``host`` is a
    ``studio.ui.panel_host.PanelHost`` (run tasks, follow their events). Without a panel the
    window shows a drop-down of the capability's tasks, each with a form built from its schema.
    ``accepts`` lists the file suffixes a drop on the window hands to this capability.
    """

    id: str
    title: str
    tasks: Sequence[Task] = ()
    icon: str | Path = ""  # a path to an image, or empty for a lettered tile
    description: str = ""
    panel: Callable[[Any], Any] | None = None
    accepts: Sequence[str] = ()


@hookspec
def studio_capabilities() -> list[Capability]:
    """Return the capabilities this plugin adds. Called once when the plugins load."""


@hookspec
def studio_models() -> list[Any]:
    """Return the model cards this plugin ships or can download.

    Each item is a ``studio.models.ModelCard``, a dict in the card format, or a Path to a card
    JSON file. Called once when the model store is built.
    """


HOOKS = ("studio_capabilities", "studio_models")
__all__ = ["API_VERSION", "HOOKS", "Capability", "hookimpl", "hookspec"]
