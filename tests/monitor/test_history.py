"""History rings and the points computed from raw samples."""

from __future__ import annotations

import pytest

from berth.monitor.history import History, container_point
from berth.monitor.samples import BlkioEntry, CgroupSample, ContainerSample, NetInterface


def _sample(t: float, cpu_ns: int, sys_ns: int, rx: int, wr: int) -> ContainerSample:
    cg = CgroupSample(cpu_total_ns=cpu_ns, memory_usage=100, memory_limit=1000,
                      memory_stats=(("total_inactive_file", 40),), pids_current=2,
                      blkio=(BlkioEntry(8, 0, "Write", wr),))
    return ContainerSample("x", int(t * 1e9), cg, (NetInterface("eth0", rx_bytes=rx),), sys_ns, 4)


def test_point_rates_and_cpu() -> None:
    a = _sample(10.0, 0, 0, 1000, 0)
    b = _sample(12.0, 2_000_000_000, 8_000_000_000, 5000, 4096)
    p = container_point(b, a)
    assert p.cpu_percent == pytest.approx(100.0)  # 2 s CPU / 8 s host (4 cores x 2 s) x 4 cores
    assert p.rx_rate == 2000 and p.write_rate == 2048 and p.rx_total == 5000
    assert p.memory_usage == 60 and p.memory_limit == 1000 and p.pids == 2
    first = container_point(a, None)
    assert first.cpu_percent == 0 and first.rx_rate == 0


def test_ring_is_bounded_and_retained() -> None:
    h = History(capacity=3)
    for i in range(10):
        h.add("a", container_point(_sample(float(i), 0, 0, 0, 0), None))
    h.add("b", container_point(_sample(1.0, 0, 0, 0, 0), None))
    assert [p.time for p in h.points("a")] == [7.0, 8.0, 9.0]
    assert [p.time for p in h.points("a", since=8.0)] == [9.0]
    h.retain(["a"])
    assert h.keys() == ["a"] and h.points("b") == [] and h.latest("a") is not None
    with pytest.raises(ValueError):
        History(0)
