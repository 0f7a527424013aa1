"""/proc parsers on captured file contents, and the host reader against the real /proc."""

from __future__ import annotations

import os

from berth.monitor.procfs import (
    parse_diskstats,
    parse_meminfo,
    parse_net_dev,
    parse_proc_stat,
    read_host,
    read_net_dev,
)

NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop\n"
    "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0"
    "    0     0       0          0\n"
    "  eth0: 5000000    4000    1    2    0     0          0         0   300000    2000    3    4"
    "    0     0       0          0\n"
)


def test_net_dev() -> None:
    lo, eth0 = parse_net_dev(NET_DEV)
    assert lo.name == "lo" and lo.rx_bytes == 1000 and lo.tx_packets == 10
    assert (eth0.rx_bytes, eth0.rx_packets, eth0.rx_errors, eth0.rx_dropped) == (5000000, 4000, 1, 2)
    assert (eth0.tx_bytes, eth0.tx_packets, eth0.tx_errors, eth0.tx_dropped) == (300000, 2000, 3, 4)
    assert parse_net_dev("h1\nh2\nbroken line\n  x: 1 2\n") == ()


def test_proc_stat_is_dockers_system_cpu_usage() -> None:
    text = "cpu  100 0 50 800 50 0 0 7 0 0\ncpu0 50 0 25 400 25 0 0\ncpu1 50 0 25 400 25 0 0\nintr 1\n"
    total, busy, cpus = parse_proc_stat(text, user_hz=100)
    assert total == 1000 * 10_000_000  # steal (7) is not in Docker's sum
    assert busy == 150 * 10_000_000
    assert cpus == 2


def test_meminfo_and_diskstats() -> None:
    assert parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 500 kB\n") == (1024000, 512000)
    disks = ("   8       0 sda 10 0 100 0 20 0 200 0 0 0 0\n"
             "   8       1 sda1 10 0 100 0 20 0 200 0 0 0 0\n"
             " 259       0 nvme0n1 1 0 4 0 1 0 8 0 0 0 0\n"
             " 259       1 nvme0n1p1 1 0 4 0 1 0 8 0 0 0 0\n"
             "   7       0 loop0 1 0 1000 0 0 0 0 0 0 0 0\n")
    assert parse_diskstats(disks) == ((100 + 4) * 512, (200 + 8) * 512)


def test_real_host_and_own_netns() -> None:
    host = read_host()
    assert host.online_cpus == os.cpu_count()
    assert host.system_cpu_ns > host.busy_cpu_ns > 0
    assert 0 < host.memory_available <= host.memory_total
    assert any(n.name == "lo" for n in read_net_dev(os.getpid()))
    assert read_net_dev(2**22 + 12345) == ()
