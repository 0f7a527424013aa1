"""cgroup v1 backend: one directory per mounted hierarchy (plus the unified dir on hybrid hosts).

Must not decide limits (resources.py does); only creates, writes, joins, lists and removes.
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

__all__ = ["V1Manager"]


class V1Manager:
    def __init__(self, paths: Mapping[str, Path]) -> None:
        self._paths = dict(paths)

    @property
    def paths(self) -> Mapping[str, Path]:
        return dict(self._paths)

    def _dir_for(self, controller: str) -> Path | None:
        for name, path in self._paths.items():
            if controller in name.split(","):
                return path
        return None

    def create(self) -> None:
        created: list[Path] = []
        try:
            for name, path in self._paths.items():
                if path.exists():
                    # The same cgroupsPath names the same place every time (OCI): an
                    # existing cgroup is joined, as runc 1.1 does.
                    continue
                if "cpuset" in name.split(","):
                    self._make_cpuset(path, created)
                else:
                    path.mkdir(parents=True)
                    created.append(path)
        except OSError as exc:
            self._remove(created)
            raise RuntimeFailure(f"create cgroup: {exc.strerror}") from exc
        except RuntimeFailure:
            self._remove(created)
            raise

    @staticmethod
    def _make_cpuset(path: Path, created: list[Path]) -> None:
        # A new v1 cpuset starts with empty cpus/mems and refuses tasks until they are copied
        # down from the parent, at every level we create.
        missing: list[Path] = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not (d / f).read_text().strip():
                    write(d / f, (d.parent / f).read_text().strip())

    @staticmethod
    def _remove(dirs: list[Path]) -> None:
        for d in reversed(dirs):
            with contextlib.suppress(OSError):
                d.rmdir()

    def apply(self, resources: Mapping[str, Any]) -> None:
        for w in res.v1_writes(resources):
            d = self._dir_for(w.controller)
            if d is None:
                raise RuntimeFailure(f"cgroup controller {w.controller} is not mounted")
            target = d / w.file
            if not target.exists():
                if w.optional:
                    continue
                raise RuntimeFailure(f"cgroup file {w.file} is not supported by this kernel")
            write(target, w.value)

    def join(self, pid: int) -> None:
        for path in self._paths.values():
            write(path / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        d = self._dir_for("pids") or self._dir_for("freezer") or next(iter(self._paths.values()))
        return read_pids(d / "cgroup.procs")

    def destroy(self) -> None:
        for path in self._paths.values():
            rmdir_retry(path)
