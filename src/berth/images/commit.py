"""``docker commit``: a container's writable layer becomes one new layer over its image.

Owns the new image config (the layer is the upper directory as a tar with whiteouts,
``berth.images.diff``, written by the caller straight into a content-store ingest): the base
image's config with the container's Config (``--change`` lines applied), author, comment,
one more history entry and one more diff ID. Storing is ``berth.images.stored``. It must
not look up containers or images: callers pass the values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.images.changes import apply_changes
from berth.timefmt import format_ns

__all__ = ["CommitRequest", "commit_config"]

_IMAGE_CONFIG_KEYS = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout",
                      "AttachStderr", "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env",
                      "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
                      "Entrypoint", "NetworkDisabled", "OnBuild", "Labels", "StopSignal",
                      "StopTimeout", "Shell")


@dataclass(frozen=True)
class CommitRequest:
    """What ``POST /commit`` asks for, with the container's facts filled in by the service."""

    container_id: str
    container_config: Mapping[str, Any]
    created_by: str
    base_config: Mapping[str, Any]
    author: str = ""
    comment: str = ""
    changes: tuple[str, ...] = ()


def commit_config(req: CommitRequest, diff_id: str, now_ns: int | None = None) -> bytes:
    """The new image config's bytes (compact JSON; its digest is the new image ID)."""
    now = format_ns(now_ns if now_ns is not None else time.time_ns())
    config = {k: v for k, v in req.container_config.items() if k in _IMAGE_CONFIG_KEYS}
    config = apply_changes(config, list(req.changes))
    base = dict(req.base_config)
    history: Sequence[Any] = base.get("history") or []
    entry: dict[str, Any] = {"created": now, "created_by": req.created_by}
    if req.author:
        entry["author"] = req.author
    if req.comment:
        entry["comment"] = req.comment
    rootfs = dict(base.get("rootfs") or {"type": "layers"})
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), diff_id]
    out: dict[str, Any] = {
        **{k: v for k, v in base.items() if k not in ("container_config", "history", "rootfs")},
        "author": req.author,
        "comment": req.comment,
        "config": config,
        "container": req.container_id,
        "created": now,
        "docker_version": "berth",
        "history": [*history, entry],
        "rootfs": rootfs,
    }
    if not req.author:
        out.pop("author")
    return json.dumps(out, separators=(",", ":"), sort_keys=True).encode()
