"""Docker's JSON progress messages for pull and push, as ``docker pull``/``push`` render them.

Owns the message shapes (``status``/``id``/``progressDetail``/``progress``) and the text
bar. The sink is any callable taking one message dict; berthd turns them into lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["Progress", "Sink", "bar_text", "human_size"]

Sink = Callable[[dict[str, Any]], None]
_WIDTH = 50


def human_size(n: float) -> str:
    """Go's units.HumanSize: decimal units, 3 significant digits (``1.23MB``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000
    return f"{n:.4g}TB"


def bar_text(current: int, total: int) -> str:
    if total <= 0:
        return human_size(current)
    filled = min(_WIDTH, int(_WIDTH * current / total))
    arrow = ">" if filled < _WIDTH else ""
    spaces = _WIDTH - filled - len(arrow)
    return f"[{'=' * filled}{arrow}{' ' * max(spaces, 0)}] {human_size(current):>8}/{human_size(total)}"


class Progress:
    """Emits messages to a sink; ``bar`` updates are throttled per id (like Docker, ~10/s)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._last: dict[str, float] = {}

    def status(self, text: str, id: str = "") -> None:
        msg: dict[str, Any] = {"status": text}
        if id:
            msg["id"] = id
        self._sink(msg)

    def layer(self, id: str, text: str) -> None:
        self._sink({"status": text, "progressDetail": {}, "id": id})

    def bar(self, id: str, action: str, current: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last.get(id, 0.0) < 0.1 and current < total:
            return
        self._last[id] = now
        self._sink({"status": action, "progressDetail": {"current": current, "total": total},
                    "progress": bar_text(current, total), "id": id})

    def aux(self, data: dict[str, Any]) -> None:
        self._sink({"progressDetail": {}, "aux": data})
