"""cgroup v1 backend: one directory per mounted hierarchy (plus the unified dir on hybrid hosts).

Must not decide limits (resources.py does); only creates, writes, joins, lists and removes.
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

__all__ = ["V1Manager"]


class V1Manager:
    def __init__(self, paths: Mapping[str, str | os.PathLike[str]]) -> None:
        self._paths = {name: os.fspath(p) for name, p in paths.items()}

    @property
    def paths(self) -> Mapping[str, str]:
        return dict(self._paths)

    def _dir_for(self, controller: str) -> str | None:
        for name, path in self._paths.items():
            if controller in name.split(","):
                return path
        return None

    def create(self) -> None:
        created: list[str] = []
        try:
            for name, path in self._paths.items():
                if os.path.exists(path):
                    # The same cgroupsPath names the same place every time (OCI): an
                    # existing cgroup is joined, as runc 1.1 does.
                    continue
                if "cpuset" in name.split(","):
                    self._make_cpuset(path, created)
                else:
                    os.makedirs(path)
                    created.append(path)
        except OSError as exc:
            self._remove(created)
            raise RuntimeFailure(f"create cgroup: {exc.strerror}") from exc
        except RuntimeFailure:
            self._remove(created)
            raise

    @staticmethod
    def _make_cpuset(path: str, created: list[str]) -> None:
        # A new v1 cpuset starts with empty cpus/mems and refuses tasks until they are copied
        # down from the parent, at every level we create.
        missing: list[str] = []
        p = path
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            os.mkdir(d)
            created.append(d)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not read_text(os.path.join(d, f)).strip():
                    write(os.path.join(d, f), read_text(os.path.join(os.path.dirname(d), f)).strip())

    @staticmethod
    def _remove(dirs: list[str]) -> None:
        for d in reversed(dirs):
            with suppress(OSError):
                os.rmdir(d)

    def apply(self, resources: Mapping[str, Any]) -> None:
        for w in res.v1_writes(resources):
            d = self._dir_for(w.controller)
            if d is None:
                raise RuntimeFailure(f"cgroup controller {w.controller} is not mounted")
            target = os.path.join(d, w.file)
            if not os.path.exists(target):
                if w.optional:
                    continue
                raise RuntimeFailure(f"cgroup file {w.file} is not supported by this kernel")
            write(target, w.value)

    def join(self, pid: int) -> None:
        for path in self._paths.values():
            write(os.path.join(path, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        d = self._dir_for("pids") or self._dir_for("freezer") or next(iter(self._paths.values()))
        return read_pids(os.path.join(d, "cgroup.procs"))

    def destroy(self) -> None:
        for path in self._paths.values():
            rmdir_retry(path)
