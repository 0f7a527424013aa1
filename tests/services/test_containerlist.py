"""``berth.services.containerlist``: which containers ``docker ps`` lists (pure, no daemon),
and the sizes it reports (on a real directory tree)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth import errors
from berth.services.container_model import Container, ContainerPaths, State
from berth.services.containerlist import select, tree_size


def _c(cid: str, name: str, second: int, status: str, image: str = "sha256:aa", exit_code: int = 0,
       labels: dict[str, str] | None = None) -> Container:
    return Container(id=cid * 64, name=name, created=f"2026-01-01T00:00:{second:02d}.000000000Z",
                     image_ref="img", image_id=image, config={"Labels": labels or {}},
                     host_config={}, path="sh", args=[],
                     paths=ContainerPaths(Path("/nonexistent"), Path("/nonexistent")),
                     state=State(status=status, exit_code=exit_code))


ITEMS = [_c("a", "web", 1, "running", labels={"tier": "front"}),
         _c("b", "db", 2, "exited", image="sha256:bb", exit_code=3),
         _c("c", "cache", 3, "paused", labels={"tier": "back"}),
         _c("d", "job", 4, "created")]
IMAGES = {"busybox": "sha256:aa", "sha256:aa": "sha256:aa", "other": "sha256:bb"}
BY_NAME = {c.name: c for c in ITEMS}


def _names(all: bool = False, limit: int | None = None, **filters: list[str]) -> list[str]:
    def image_id_of(ref: str) -> str:
        if ref not in IMAGES:
            raise errors.NotFound(f"No such image: {ref}")
        return IMAGES[ref]

    def created_of(ref: str) -> str:
        if ref not in BY_NAME:
            raise errors.NotFound(f"No such container: {ref}")
        return BY_NAME[ref].created

    return [c.name for c in select(ITEMS, all, limit, filters, image_id_of=image_id_of,
                                   created_of=created_of)]


def test_default_all_and_limit() -> None:
    assert _names() == ["cache", "web"]  # running and paused, newest first
    assert _names(all=True) == ["job", "cache", "db", "web"]
    assert _names(all=True, limit=2) == ["job", "cache"]
    assert _names(status=["exited"]) == ["db"]  # a status filter lists stopped ones too
    assert _names(exited=["3"]) == ["db"] and _names(exited=["0"]) == []


def test_filters() -> None:
    assert _names(all=True, id=["b"]) == ["db"]
    assert _names(all=True, name=["/we"]) == ["web"]
    assert _names(all=True, label=["tier"]) == ["cache", "web"]
    assert _names(all=True, label=["tier=back"]) == ["cache"]
    assert _names(all=True, ancestor=["busybox"]) == ["job", "cache", "web"]
    assert _names(all=True, ancestor=["other", "nosuch"]) == ["db"]
    assert _names(all=True, ancestor=["nosuch"]) == []
    assert _names(all=True, before=["cache"]) == ["db", "web"]
    assert _names(all=True, since=["db"]) == ["job", "cache"]
    assert _names(all=True, since=["web"], before=["job"]) == ["cache", "db"]


def test_bad_filters() -> None:
    with pytest.raises(errors.InvalidArgument, match="Invalid filter 'colour'"):
        _names(colour=["red"])
    with pytest.raises(errors.NotFound):
        _names(before=["nosuch"])


def test_tree_size_counts_each_inode_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "f", tmp_path / "hard")
    os.symlink("d/f", tmp_path / "link")  # its own 3 bytes, not the target's
    assert tree_size(tmp_path) == 1003
    assert tree_size(tmp_path / "missing") == 0
