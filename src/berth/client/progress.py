"""JSON-lines progress streams (pull, import, load, build): decode lines into typed messages.

Owns the line shape ``{"status","id","progress","stream","aux","error","errorDetail"}``.
Must not print; the CLI decides how to render.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from berth.record import Record, field

__all__ = ["ProgressMessage", "StreamError", "decode_progress"]


class StreamError(Exception):
    """An in-band error in a progress stream that had already begun (``errorDetail``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ProgressMessage(Record):
    status: str = ""
    id: str = ""
    progress: str = ""
    stream: str = ""
    aux: dict[str, Any] = field(default_factory=dict)


def decode_progress(lines: Iterable[bytes]) -> Iterator[ProgressMessage]:
    """Yield each message; raise StreamError at the first error line."""
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        data = json.loads(text)
        if not isinstance(data, dict):
            continue
        if data.get("error") or data.get("errorDetail"):
            detail = data.get("errorDetail") or {}
            message = str(detail.get("message") or data.get("error") or "unknown error")
            code = detail.get("code") or 1
            raise StreamError(message, int(code))
        aux = data.get("aux")
        yield ProgressMessage(
            status=str(data.get("status") or ""),
            id=str(data.get("id") or ""),
            progress=str(data.get("progress") or ""),
            stream=str(data.get("stream") or ""),
            aux=aux if isinstance(aux, dict) else {},
        )
