"""Bounded in-memory history: one ring of compact points per container and one for the host.

A point is what the dashboard and the history API draw: rates are computed when a point
is added (from the previous raw sample), so reading history never does arithmetic over
raw counters. Memory is bounded: ``capacity`` points per series (900 = 15 minutes at one
per second); the series of a container that disappears is dropped by the owner.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from berth.monitor.samples import ContainerSample, HostSample

__all__ = ["History", "HistoryPoint", "container_point", "host_point"]


@dataclass(frozen=True, slots=True)  # slots: 90,000 of these for 100 containers x 15 min
class HistoryPoint:
    """One second of one series; ``time`` is unix seconds rounded to milliseconds (what the
    API shows, so ``since`` comparisons agree with it). ``cpu_percent`` is of one core
    (200 = two cores busy), as ``docker stats`` shows; ``*_rate`` are bytes per second;
    totals are cumulative."""

    time: float
    cpu_percent: float
    memory_usage: int
    memory_limit: int
    rx_rate: float
    tx_rate: float
    read_rate: float
    write_rate: float
    rx_total: int
    tx_total: int
    read_total: int
    write_total: int
    pids: int

    def to_json(self) -> dict[str, float | int]:
        return {"t": self.time, "cpu": round(self.cpu_percent, 2),
                "mem": self.memory_usage, "mem_limit": self.memory_limit,
                "rx": round(self.rx_rate, 1), "tx": round(self.tx_rate, 1),
                "read": round(self.read_rate, 1), "write": round(self.write_rate, 1),
                "rx_total": self.rx_total, "tx_total": self.tx_total,
                "read_total": self.read_total, "write_total": self.write_total, "pids": self.pids}


def _rate(now: int, before: int, seconds: float) -> float:
    return max(0.0, (now - before) / seconds) if seconds > 0 else 0.0


def container_point(cur: ContainerSample, prev: ContainerSample | None) -> HistoryPoint:
    """The point for ``cur``; CPU % is ``docker stats``'s formula (Δcpu / Δsystem * cpus)."""
    cg = cur.cgroup
    rx, tx = cur.rx_bytes(), cur.tx_bytes()
    rd, wr = cg.blkio_bytes("Read"), cg.blkio_bytes("Write")
    cpu = 0.0
    rx_rate = tx_rate = rd_rate = wr_rate = 0.0
    if prev is not None:
        secs = (cur.time_ns - prev.time_ns) / 1e9
        dsys = cur.system_cpu_ns - prev.system_cpu_ns
        dcpu = cg.cpu_total_ns - prev.cgroup.cpu_total_ns
        if dsys > 0 and dcpu > 0:
            cpu = dcpu / dsys * cur.online_cpus * 100.0
        rx_rate, tx_rate = _rate(rx, prev.rx_bytes(), secs), _rate(tx, prev.tx_bytes(), secs)
        rd_rate = _rate(rd, prev.cgroup.blkio_bytes("Read"), secs)
        wr_rate = _rate(wr, prev.cgroup.blkio_bytes("Write"), secs)
    return HistoryPoint(time=round(cur.time_ns / 1e9, 3), cpu_percent=cpu, memory_usage=cg.working_set,
                        memory_limit=cg.memory_limit, rx_rate=rx_rate, tx_rate=tx_rate,
                        read_rate=rd_rate, write_rate=wr_rate, rx_total=rx, tx_total=tx,
                        read_total=rd, write_total=wr, pids=cg.pids_current)


def host_point(cur: HostSample, prev: HostSample | None) -> HistoryPoint:
    """The host as a series: CPU % of one core summed over all cores, like a container's."""
    rx = sum(n.rx_bytes for n in cur.networks)
    tx = sum(n.tx_bytes for n in cur.networks)
    cpu = rx_rate = tx_rate = rd_rate = wr_rate = 0.0
    if prev is not None:
        secs = (cur.time_ns - prev.time_ns) / 1e9
        dsys = cur.system_cpu_ns - prev.system_cpu_ns
        if dsys > 0:
            cpu = (cur.busy_cpu_ns - prev.busy_cpu_ns) / dsys * cur.online_cpus * 100.0
        rx_rate = _rate(rx, sum(n.rx_bytes for n in prev.networks), secs)
        tx_rate = _rate(tx, sum(n.tx_bytes for n in prev.networks), secs)
        rd_rate = _rate(cur.disk_read_bytes, prev.disk_read_bytes, secs)
        wr_rate = _rate(cur.disk_write_bytes, prev.disk_write_bytes, secs)
    return HistoryPoint(time=round(cur.time_ns / 1e9, 3), cpu_percent=max(0.0, cpu),
                        memory_usage=cur.memory_total - cur.memory_available,
                        memory_limit=cur.memory_total, rx_rate=rx_rate, tx_rate=tx_rate,
                        read_rate=rd_rate, write_rate=wr_rate, rx_total=rx, tx_total=tx,
                        read_total=cur.disk_read_bytes, write_total=cur.disk_write_bytes, pids=0)


_FIELDS = ("time", "cpu_percent", "memory_usage", "memory_limit", "rx_rate", "tx_rate", "read_rate",
           "write_rate", "rx_total", "tx_total", "read_total", "write_total", "pids")
_INT_FIELDS = frozenset({"memory_usage", "memory_limit", "rx_total", "tx_total", "read_total",
                         "write_total", "pids"})


class _Ring:
    """``capacity`` points packed as doubles (104 bytes a point; integers stay exact below
    2**53): 100 containers x 15 minutes take ~9 MB instead of ~40 MB of Python objects."""

    def __init__(self, capacity: int) -> None:
        self._cap = capacity
        self._data = array("d", bytes(8 * len(_FIELDS) * capacity))
        self._next = 0
        self._count = 0

    def append(self, p: HistoryPoint) -> None:
        base = self._next * len(_FIELDS)
        self._data[base:base + len(_FIELDS)] = array("d", (float(getattr(p, f)) for f in _FIELDS))
        self._next = (self._next + 1) % self._cap
        self._count = min(self._count + 1, self._cap)

    def _at(self, i: int) -> HistoryPoint:
        """The i-th oldest point."""
        slot = (self._next - self._count + i) % self._cap
        vals = self._data[slot * len(_FIELDS):(slot + 1) * len(_FIELDS)]
        kw = {f: (int(v) if f in _INT_FIELDS else v) for f, v in zip(_FIELDS, vals, strict=True)}
        return HistoryPoint(**kw)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._count

    def since(self, t: float) -> list[HistoryPoint]:
        # Times only grow: find the first newer point from the end, then build just those.
        first = self._count
        while first > 0 and self._data[((self._next - self._count + first - 1) % self._cap)
                                       * len(_FIELDS)] > t:
            first -= 1
        return [self._at(i) for i in range(first, self._count)]

    def last(self) -> HistoryPoint | None:
        return self._at(self._count - 1) if self._count else None


class History:
    """Rings of points keyed by series name ("host" or a container ID)."""

    def __init__(self, capacity: int = 900) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be positive")
        self._capacity = capacity
        self._series: dict[str, _Ring] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    def add(self, key: str, point: HistoryPoint) -> None:
        ring = self._series.get(key)
        if ring is None:
            ring = self._series[key] = _Ring(self._capacity)
        ring.append(point)

    def points(self, key: str, since: float = 0.0) -> list[HistoryPoint]:
        ring = self._series.get(key)
        return ring.since(since) if ring is not None else []

    def latest(self, key: str) -> HistoryPoint | None:
        ring = self._series.get(key)
        return ring.last() if ring is not None else None

    def keys(self) -> list[str]:
        return list(self._series)

    def retain(self, keys: Iterable[str]) -> None:
        """Drop every series not in ``keys`` (containers that were removed)."""
        keep = set(keys)
        for key in [k for k in self._series if k not in keep]:
            del self._series[key]
