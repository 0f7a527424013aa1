"""cgroup v2 backend: one directory in the unified hierarchy.

Must not decide limits (resources.py does); enables the controllers it needs in the parents.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure
from berth.runtime._suppress import suppress
from berth.runtime.cgroups import resources as res
from berth.runtime.cgroups._fs import read_pids, read_text, rmdir_retry, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["V2Manager"]


class V2Manager:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)

    @property
    def paths(self) -> Mapping[str, str]:
        return {"unified": self._path}

    def create(self) -> None:
        # An existing cgroup is joined: the same cgroupsPath names the same place (OCI).
        try:
            os.makedirs(self._path, exist_ok=True)
        except OSError as exc:
            raise RuntimeFailure(f"create cgroup {self._path}: {exc.strerror}") from exc
        # Delegate whatever the root offers down to our parent so limits can be written.
        root = self._path
        while os.path.exists(os.path.join(os.path.dirname(root), "cgroup.controllers")):
            root = os.path.dirname(root)
        chain: list[str] = []
        p = os.path.dirname(self._path)
        while p.startswith(root + "/") or p == root:
            chain.append(p)
            p = os.path.dirname(p)
        for d in reversed(chain):
            available = read_text(os.path.join(d, "cgroup.controllers")).split()
            if available:
                # A parent with member processes cannot delegate; limits then fail loudly.
                with suppress(RuntimeFailure):
                    write(os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in available))

    def apply(self, resources: Mapping[str, Any]) -> None:
        for w in res.v2_writes(resources):
            target = os.path.join(self._path, w.file)
            if not os.path.exists(target):
                if w.optional:
                    continue
                raise RuntimeFailure(f"cgroup file {w.file} is not available")
            write(target, w.value)

    def join(self, pid: int) -> None:
        write(os.path.join(self._path, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        return read_pids(os.path.join(self._path, "cgroup.procs"))

    def destroy(self) -> None:
        rmdir_retry(self._path)
