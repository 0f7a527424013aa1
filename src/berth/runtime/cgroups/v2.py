"""cgroup v2 backend: one directory in the unified hierarchy.

Must not decide limits (resources.py does); enables the controllers it needs in the parents.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from berth.errors import RuntimeFailure
from berth.runtime.cgroups import resources as res
from berth.runtime.cgroups._fs import read_pids, rmdir_retry, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["V2Manager"]


class V2Manager:
    def __init__(self, path: Path) -> None:
        self._path = path

    @property
    def paths(self) -> Mapping[str, Path]:
        return {"unified": self._path}

    def create(self) -> None:
        # An existing cgroup is joined: the same cgroupsPath names the same place (OCI).
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeFailure(f"create cgroup {self._path}: {exc.strerror}") from exc
        # Delegate whatever the root offers down to our parent so limits can be written.
        root = self._path
        while (root.parent / "cgroup.controllers").exists():
            root = root.parent
        chain: list[Path] = []
        p = self._path.parent
        while p != root.parent and p.is_relative_to(root):
            chain.append(p)
            p = p.parent
        for d in reversed(chain):
            available = (d / "cgroup.controllers").read_text().split()
            if available:
                # A parent with member processes cannot delegate; limits then fail loudly.
                with contextlib.suppress(RuntimeFailure):
                    write(d / "cgroup.subtree_control", " ".join(f"+{c}" for c in available))

    def apply(self, resources: Mapping[str, Any]) -> None:
        for w in res.v2_writes(resources):
            target = self._path / w.file
            if not target.exists():
                if w.optional:
                    continue
                raise RuntimeFailure(f"cgroup file {w.file} is not available")
            write(target, w.value)

    def join(self, pid: int) -> None:
        write(self._path / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        return read_pids(self._path / "cgroup.procs")

    def destroy(self) -> None:
        rmdir_retry(self._path)
