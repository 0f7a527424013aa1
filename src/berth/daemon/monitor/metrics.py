"""/metrics in Prometheus text format, with cAdvisor's metric names and name/id/image labels.

Built at scrape time from the collector's last samples by a collector object registered in
a registry owned by the server (never prometheus_client's global default registry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from berth.services.container_model import Container
from berth.services.stats import StatsService

__all__ = ["ContainerMetrics", "render"]

_LABELS = ["id", "name", "image"]


class ContainerMetrics(Collector):
    def __init__(self, stats: StatsService, containers: Callable[[], list[Container]]) -> None:
        self._stats = stats
        self._containers = containers

    def collect(self) -> Iterator[Metric]:
        cpu = CounterMetricFamily("container_cpu_usage_seconds_total",
                                  "Cumulative cpu time consumed in seconds.", labels=_LABELS)
        user = CounterMetricFamily("container_cpu_user_seconds_total",
                                   "Cumulative user cpu time consumed in seconds.", labels=_LABELS)
        system = CounterMetricFamily("container_cpu_system_seconds_total",
                                     "Cumulative system cpu time consumed in seconds.", labels=_LABELS)
        throttled = CounterMetricFamily("container_cpu_cfs_throttled_periods_total",
                                        "Number of throttled period intervals.", labels=_LABELS)
        mem = GaugeMetricFamily("container_memory_usage_bytes",
                                "Current memory usage in bytes, including all memory regardless of "
                                "when it was accessed.", labels=_LABELS)
        wss = GaugeMetricFamily("container_memory_working_set_bytes",
                                "Current working set in bytes.", labels=_LABELS)
        cache = GaugeMetricFamily("container_memory_cache", "Number of bytes of page cache memory.",
                                  labels=_LABELS)
        rss = GaugeMetricFamily("container_memory_rss", "Size of RSS in bytes.", labels=_LABELS)
        maxu = GaugeMetricFamily("container_memory_max_usage_bytes",
                                 "Maximum memory usage recorded in bytes.", labels=_LABELS)
        fails = CounterMetricFamily("container_memory_failures_total",
                                    "Cumulative count of memory limit hits.", labels=_LABELS)
        limit = GaugeMetricFamily("container_spec_memory_limit_bytes", "Memory limit for the container.",
                                  labels=_LABELS)
        rx = CounterMetricFamily("container_network_receive_bytes_total",
                                 "Cumulative count of bytes received", labels=[*_LABELS, "interface"])
        tx = CounterMetricFamily("container_network_transmit_bytes_total",
                                 "Cumulative count of bytes transmitted", labels=[*_LABELS, "interface"])
        rxp = CounterMetricFamily("container_network_receive_packets_total",
                                  "Cumulative count of packets received", labels=[*_LABELS, "interface"])
        txp = CounterMetricFamily("container_network_transmit_packets_total",
                                  "Cumulative count of packets transmitted", labels=[*_LABELS, "interface"])
        rd = CounterMetricFamily("container_fs_reads_bytes_total",
                                 "Cumulative count of bytes read", labels=[*_LABELS, "device"])
        wr = CounterMetricFamily("container_fs_writes_bytes_total",
                                 "Cumulative count of bytes written", labels=[*_LABELS, "device"])
        procs = GaugeMetricFamily("container_processes", "Number of processes running inside the container.",
                                  labels=_LABELS)
        seen = GaugeMetricFamily("container_last_seen", "Last time a container was seen by the exporter",
                                 labels=_LABELS)
        for c in self._containers():
            sample, _ = self._stats.latest(c.id)
            if sample is None:
                continue
            lv = [c.id, c.name, c.image_ref]
            cg = sample.cgroup
            cpu.add_metric(lv, cg.cpu_total_ns / 1e9)
            user.add_metric(lv, cg.cpu_user_ns / 1e9)
            system.add_metric(lv, cg.cpu_kernel_ns / 1e9)
            throttled.add_metric(lv, cg.throttled_periods)
            mem.add_metric(lv, cg.memory_usage)
            wss.add_metric(lv, cg.working_set)
            cache.add_metric(lv, cg.stat("total_cache") or cg.stat("file"))
            rss.add_metric(lv, cg.stat("total_rss") or cg.stat("anon"))
            maxu.add_metric(lv, cg.memory_max_usage)
            fails.add_metric(lv, cg.memory_failcnt)
            limit.add_metric(lv, cg.memory_limit)
            procs.add_metric(lv, cg.pids_current)
            seen.add_metric(lv, sample.time_ns / 1e9)
            for n in sample.networks:
                rx.add_metric([*lv, n.name], n.rx_bytes)
                tx.add_metric([*lv, n.name], n.tx_bytes)
                rxp.add_metric([*lv, n.name], n.rx_packets)
                txp.add_metric([*lv, n.name], n.tx_packets)
            devices: dict[str, list[int]] = {}
            for e in cg.blkio:
                acc = devices.setdefault(f"{e.major}:{e.minor}", [0, 0])
                if e.op.lower() == "read":
                    acc[0] += e.value
                elif e.op.lower() == "write":
                    acc[1] += e.value
            for dev, (r, w) in devices.items():
                rd.add_metric([*lv, dev], r)
                wr.add_metric([*lv, dev], w)
        yield from (cpu, user, system, throttled, mem, wss, cache, rss, maxu, fails, limit,
                    rx, tx, rxp, txp, rd, wr, procs, seen)
        host = self._stats.host_latest()
        if host is not None:
            cores = GaugeMetricFamily("machine_cpu_cores", "Number of logical CPU cores.")
            cores.add_metric([], host.online_cpus)
            memory = GaugeMetricFamily("machine_memory_bytes", "Amount of memory installed on the machine.")
            memory.add_metric([], host.memory_total)
            yield from (cores, memory)
        cs = self._stats.collector_stats()
        cost = CounterMetricFamily("berth_collector_cpu_seconds_total",
                                   "CPU time the stats collector has spent sampling.")
        cost.add_metric([], cs.cpu_seconds)
        yield cost


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
