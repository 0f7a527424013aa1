"""Container and host statistics: reads a running container's cgroup and network counters,
and runs the collector that samples every running container and the host once per interval
into a bounded history (the cAdvisor job, inside berthd).

The collector is cheap by construction: per container it reads a dozen small cgroup files
and one /proc/<pid>/net/dev, all in the event loop (these reads never block on disk), and
keeps only the last raw sample plus compact history points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.monitor.cgroupfs import read_v1, read_v2
from berth.monitor.history import History, HistoryPoint, container_point, host_point
from berth.monitor.procfs import read_host, read_net_dev
from berth.monitor.samples import ContainerSample, HostSample, NetInterface
from berth.runtime.cgroups.manager import cgroup_mounts
from berth.services.container_model import Container

__all__ = ["CgroupLayout", "CollectorStats", "StatsService"]

_log = logging.getLogger("berth.stats")

HOST_KEY = "host"


@dataclass(frozen=True)
class CgroupLayout:
    """Where containers' cgroups live: v1 controller -> hierarchy root, or the v2 root."""

    v1: tuple[tuple[str, Path], ...]
    unified: Path | None

    @classmethod
    def detect(cls, mountinfo: Path = Path("/proc/self/mountinfo")) -> CgroupLayout:
        hierarchies, unified = cgroup_mounts(mountinfo.read_text())
        v1 = [(ctrl, Path(root)) for name, root in hierarchies.items() for ctrl in name.split(",")]
        return cls(tuple(v1), Path(unified) if unified is not None else None)

    @property
    def version(self) -> int:
        return 1 if self.v1 else 2

    def container_dirs(self, cgroup_parent: str, container_id: str) -> dict[str, Path]:
        rel = f"{cgroup_parent.strip('/')}/{container_id}".strip("/")
        if self.v1:
            return {ctrl: root / rel for ctrl, root in self.v1}
        return {"unified": self.unified / rel} if self.unified is not None else {}


@dataclass(frozen=True)
class CollectorStats:
    """The collector's own cost, for the bench and the dashboard's footer."""

    rounds: int
    containers: int
    last_round_seconds: float
    cpu_seconds: float


class StatsService:
    def __init__(self, containers: Callable[[], list[Container]], cgroup_parent: str, *,
                 layout: CgroupLayout | None = None, interval: float = 1.0,
                 history_seconds: int = 900, proc: Path = Path("/proc")) -> None:
        self._containers = containers
        self._parent = cgroup_parent
        self._layout = layout or CgroupLayout.detect()
        self._interval = interval
        self._proc = proc
        self.history = History(max(1, int(history_seconds / interval)))
        self._last: dict[str, ContainerSample] = {}
        self._prev: dict[str, ContainerSample] = {}
        self._host: HostSample | None = None
        self._task: asyncio.Task[None] | None = None
        self._rounds = 0
        self._round_seconds = 0.0
        self._cpu_seconds = 0.0

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def cgroup_version(self) -> int:
        return self._layout.version

    # ---- reading -------------------------------------------------------------------------

    def host(self) -> HostSample:
        return read_host(self._proc)

    def sample(self, c: Container, host: HostSample | None = None) -> ContainerSample | None:
        """Read ``c`` now; None when it is not running (no cgroup, no process)."""
        if c.state.status not in ("running", "paused") or c.state.pid <= 0:
            return None
        host = host or self.host()
        dirs = self._layout.container_dirs(self._parent, c.id)
        if self._layout.version == 1:
            cg = read_v1(dirs, host.memory_total)
        else:
            cg = read_v2(dirs["unified"], host.memory_total)
        cpus = len(cg.percpu_ns) if cg.percpu_ns else host.online_cpus
        return ContainerSample(container_id=c.id, time_ns=time.time_ns(), cgroup=cg,
                               networks=self._networks(c), system_cpu_ns=host.system_cpu_ns,
                               online_cpus=min(cpus, host.online_cpus) or host.online_cpus)

    def _networks(self, c: Container) -> tuple[NetInterface, ...]:
        mode = c.network_mode()
        if mode == "host" or mode.startswith("container:"):
            return ()  # not the container's own namespace: Docker reports no networks either
        nets = read_net_dev(c.state.pid, self._proc)
        # Docker lists the endpoints' interfaces, never lo; a container with no interface
        # but lo (--network none, or before a bridge exists) shows its loopback traffic
        # instead of nothing, so NET I/O still tells what the container moved.
        outer = tuple(n for n in nets if n.name != "lo")
        return outer or nets

    def latest(self, container_id: str) -> tuple[ContainerSample | None, ContainerSample | None]:
        """(last, the one before) from the collector, both None before its first round."""
        return self._last.get(container_id), self._prev.get(container_id)

    def host_latest(self) -> HostSample | None:
        return self._host

    def collector_stats(self) -> CollectorStats:
        return CollectorStats(self._rounds, len(self._last), self._round_seconds, self._cpu_seconds)

    # ---- collector -----------------------------------------------------------------------

    def collect_once(self) -> None:
        """One round: the host, then every running container; forget removed containers."""
        t0, c0 = time.perf_counter(), time.thread_time()
        host = self.host()
        self.history.add(HOST_KEY, host_point(host, self._host))
        self._host = host
        present: set[str] = set()
        for c in self._containers():
            present.add(c.id)
            try:
                s = self.sample(c, host)
            except OSError as err:  # the container exited between listing and reading
                _log.debug("stats of %s: %s", c.id, err)
                s = None
            if s is None:
                self._last.pop(c.id, None)
                self._prev.pop(c.id, None)
                continue
            prev = self._last.get(c.id)
            self.history.add(c.id, container_point(s, prev))
            if prev is not None:
                self._prev[c.id] = prev
            self._last[c.id] = s
        for gone in [k for k in self._last if k not in present]:
            self._last.pop(gone, None)
            self._prev.pop(gone, None)
        self.history.retain(present | {HOST_KEY})
        self._rounds += 1
        self._round_seconds = time.perf_counter() - t0
        self._cpu_seconds += time.thread_time() - c0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                self.collect_once()
            except Exception:  # never let one bad round stop monitoring
                _log.exception("stats collector round failed")
            next_at += self._interval
            delay = next_at - loop.time()
            if delay < 0:  # fell behind (suspended, overloaded): skip rounds, do not burst
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def points(self, key: str, since: float = 0.0) -> list[HistoryPoint]:
        return self.history.points(key, since)
