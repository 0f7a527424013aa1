"""The event bus: every service publishes what happened; /events, the CLI and the monitor listen.

An ``Event`` is Docker's events.Message as a value. The bus keeps the last ``capacity``
events (for ``since`` replays, as moby keeps its last 256) and hands each new event to
every live subscriber's queue. Publishing never blocks: a subscriber that falls
``queue_size`` events behind is cut off (its stream ends), so one stuck client cannot
grow berthd's memory.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument
from berth.services.container_model import Container
from berth.timefmt import now_ns

__all__ = ["Event", "EventBus", "EventFilter", "Subscription", "container_event"]

_FILTER_KEYS = frozenset({"config", "container", "daemon", "event", "image", "label", "network",
                          "node", "plugin", "scope", "secret", "service", "type", "volume"})
_TYPES = frozenset({"container", "image", "network", "volume", "daemon", "plugin", "node",
                    "service", "secret", "config", "builder"})


@dataclass(frozen=True)
class Event:
    """One event. ``attributes`` are Docker's Actor.Attributes (name, image, labels, exitCode...)."""

    type: str
    action: str
    actor_id: str
    attributes: tuple[tuple[str, str], ...] = ()
    time_ns: int = 0
    scope: str = "local"

    @classmethod
    def make(cls, type: str, action: str, actor_id: str,
             attributes: Mapping[str, str] | None = None, time_ns: int | None = None) -> Event:
        return cls(type=type, action=action, actor_id=actor_id,
                   attributes=tuple(sorted((attributes or {}).items())),
                   time_ns=now_ns() if time_ns is None else time_ns)

    def attribute(self, key: str) -> str | None:
        return dict(self.attributes).get(key)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        # moby still fills the deprecated status/id/from for container and image events.
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor_id
            image = self.attribute("image")
            if self.type == "container" and image is not None:
                out["from"] = image
        out.update({"Type": self.type, "Action": self.action,
                    "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
                    "scope": self.scope, "time": self.time_ns // 1_000_000_000,
                    "timeNano": self.time_ns})
        return out


@dataclass(frozen=True)
class EventFilter:
    """Docker's events filters: OR within a key, AND across keys."""

    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, filters: Mapping[str, list[str]]) -> EventFilter:
        for key in filters:
            if key not in _FILTER_KEYS:
                raise InvalidArgument(f"Invalid filter '{key}'")
        for value in filters.get("type", []):
            if value not in _TYPES:
                raise InvalidArgument(f"Invalid event type filter '{value}'")
        return cls(tuple(sorted((k, tuple(v)) for k, v in filters.items() if v)))

    def matches(self, ev: Event) -> bool:
        attrs = dict(ev.attributes)
        return all(any(self._match(key, v, ev, attrs) for v in values) for key, values in self.terms)

    @staticmethod
    def _match(key: str, value: str, ev: Event, attrs: dict[str, str]) -> bool:
        if key == "type":
            return ev.type == value
        if key == "event":
            # "exec_start: sh" matches the filter "exec_start", as in moby.
            return ev.action == value or ev.action.split(":", 1)[0] == value
        if key == "scope":
            return ev.scope == value
        if key == "label":
            name, eq, want = value.partition("=")
            return name in attrs and (not eq or attrs[name] == want)
        if key in ("container", "network", "volume", "plugin", "node", "service", "secret",
                   "config", "daemon"):
            if ev.type != key:
                return False
            return ev.actor_id.startswith(value) or attrs.get("name") == value
        if key == "image":
            if ev.type == "image":
                name = attrs.get("name", "")
                return ev.actor_id.startswith(value) or name == value or _same_image(name, value)
            image = attrs.get("image")
            return image is not None and (image == value or _same_image(image, value))
        return False


def _same_image(have: str, want: str) -> bool:
    """``busybox`` matches ``busybox:latest`` and ``docker.io/library/busybox:latest``."""
    def norm(ref: str) -> str:
        ref = re.sub(r"^(docker\.io/)?(library/)?", "", ref)
        return ref if ":" in ref.rsplit("/", 1)[-1] or "@" in ref else ref + ":latest"
    return norm(have) == norm(want)


class Subscription:
    """A live subscriber: events arrive on ``get()``; ``None`` means it was cut off."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=size + 1)
        self._size = size
        self.overflowed = False

    def _offer(self, ev: Event) -> bool:
        if self._queue.qsize() >= self._size:
            self.overflowed = True
            self._queue.put_nowait(None)
            return False
        self._queue.put_nowait(ev)
        return True

    async def get(self) -> Event | None:
        return await self._queue.get()


class EventBus:
    def __init__(self, capacity: int = 1024, queue_size: int = 4096) -> None:
        self._history: deque[Event] = deque(maxlen=capacity)
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._queue_size = queue_size

    def publish(self, ev: Event) -> None:
        self._history.append(ev)
        for sub in list(self._subs):
            if not sub._offer(ev):
                self._subs.discard(sub)
        for listener in self._listeners:
            listener(ev)

    def emit(self, type: str, action: str, actor_id: str,
             attributes: Mapping[str, str] | None = None) -> None:
        self.publish(Event.make(type, action, actor_id, attributes))

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """Synchronous in-process listeners (called in publish order; must not block)."""
        self._listeners.append(fn)

    def history(self, since_ns: int | None = None, until_ns: int | None = None) -> list[Event]:
        return [e for e in self._history
                if (since_ns is None or e.time_ns >= since_ns)
                and (until_ns is None or e.time_ns <= until_ns)]

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = Subscription(self._queue_size)
        self._subs.add(sub)
        try:
            yield sub
        finally:
            self._subs.discard(sub)


def container_event(action: str, c: Container, extra: Mapping[str, str] | None = None) -> Event:
    """A container event with moby's attributes: labels, image (as given), name, for ``die``
    the exit code, plus the action's own (``extra``: kill's signal, rename's oldName...)."""
    attrs: dict[str, str] = {str(k): str(v) for k, v in (c.config.get("Labels") or {}).items()}
    attrs.update({"image": c.image_ref, "name": c.name})
    if action == "die":
        attrs["exitCode"] = str(c.state.exit_code)
    attrs.update(extra or {})
    return Event.make("container", action, c.id, attrs)
