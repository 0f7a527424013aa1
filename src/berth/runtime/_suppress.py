"""``suppress``: ``contextlib.suppress`` for the runtime's command paths, without contextlib.

``import contextlib`` costs ~5 ms of every ``berth-runtime`` start (it imports ``functools`` and
``collections``; bench/README.md, issue 11) for the one context manager the runtime uses from it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["suppress"]


class suppress:
    """``with suppress(OSError): ...`` ends the block quietly on those exceptions (subclasses too)."""

    __slots__ = ("_types",)

    def __init__(self, *types: type[BaseException]) -> None:
        self._types = types

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        return kind is not None and issubclass(kind, self._types)
