"""``berth stats``: a live table of containers' resource usage (rich), or one snapshot with
``--no-stream``; ``--all`` includes stopped containers, ``--format`` takes docker's templates.

Each refresh lists the containers and asks for ``stats?stream=false`` of each in parallel:
berthd answers at once from its collector (precpu is the collector's previous sample), so
one refresh costs one round trip per container. The numbers use docker stats' formulas.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from berth.cli.context import CLIContext, GoBool, make_parser
from berth.cli.formatting import render
from berth.errors import BerthError, NotFound
from berth.humanize import human_size

__all__ = ["STATS_HEADERS", "cmd_stats", "stats_row"]

STATS_HEADERS = {
    "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}
_DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
            "\t{{.BlockIO}}\t{{.PIDs}}")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, four significant digits (``248KiB``, ``1.953GiB``)."""
    i = 0
    while size >= 1024.0 and i < len(_BINARY) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY[i]}"


def _cpu_percent(s: Mapping[str, Any]) -> float:
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    d_cpu = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}).get("total_usage", 0)
    d_sys = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    if d_sys > 0 and d_cpu > 0 and pre.get("system_cpu_usage"):
        return float(d_cpu / d_sys * cpus * 100.0)
    return 0.0


def stats_row(s: Mapping[str, Any], container: str, *, trunc: bool = True) -> dict[str, Any]:
    """The template context of one stats object, with docker stats' arithmetic."""
    mem = s.get("memory_stats") or {}
    stats = mem.get("stats") or {}
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    usage = max(0, mem.get("usage", 0) - inactive)
    limit = mem.get("limit", 0)
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    rd = wr = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(e.get("op", "")).lower()
        if op == "read":
            rd += e.get("value", 0)
        elif op == "write":
            wr += e.get("value", 0)
    cid = str(s.get("id", ""))
    running = bool(mem)
    row = {
        "Container": container, "ID": cid[:12] if trunc else cid,
        "Name": str(s.get("name", "")).removeprefix("/") or "--",
        "CPUPerc": f"{_cpu_percent(s):.2f}%" if running else "0.00%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}" if running else "0B / 0B",
        "MemPerc": f"{usage / limit * 100:.2f}%" if running and limit else "0.00%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}" if running else "0B / 0B",
        "BlockIO": f"{human_size(rd)} / {human_size(wr)}" if running else "0B / 0B",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)),
    }
    return dict(sorted(row.items()))  # --format json lists keys sorted, as docker does


def _collect(ctx: CLIContext, refs: list[str], all_: bool,
             trunc: bool) -> tuple[list[dict[str, Any]], list[str]]:
    client = ctx.client
    if refs:
        targets = [(r, r) for r in refs]
    else:
        items = client.list_containers(all=all_)
        targets = [(str(i["Id"])[:12], str(i["Id"])) for i in items]

    def one(target: tuple[str, str]) -> dict[str, Any] | str:
        shown, ref = target
        try:
            data = client.request("GET", f"/containers/{ref}/stats",
                                  {"stream": False}).json()
        except NotFound as err:
            return str(err)
        except BerthError as err:
            return str(err)
        return stats_row(data, shown, trunc=trunc)

    if not targets:
        return [], []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        results = list(pool.map(one, targets))
    rows = [r for r in results if isinstance(r, dict)]
    errs = [r for r in results if isinstance(r, str)]
    return rows, errs


def _rich_table(rows: list[dict[str, Any]], fmt: str) -> Any:
    from rich.table import Table

    keys = [k for k in STATS_HEADERS if "{{." + k + "}}" in fmt] or list(STATS_HEADERS)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for k in keys:
        table.add_column(STATS_HEADERS[k], justify="right" if k in ("CPUPerc", "MemPerc", "PIDs") else "left")
    for r in rows:
        table.add_row(*[str(r[k]) for k in keys])
    return table


def cmd_stats(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("stats", "Display a live stream of container(s) resource usage statistics")
    p.add_argument("-a", "--all", action=GoBool, help="show all containers (default running)")
    p.add_argument("--no-stream", action=GoBool, help="print one snapshot and exit")
    p.add_argument("--no-trunc", action=GoBool)
    p.add_argument("--format", help="table, json or a Go template")
    p.add_argument("containers", nargs="*")
    ns = p.parse_args(argv)
    fmt = ns.format or _DEFAULT
    if fmt == "table":
        fmt = _DEFAULT
    try:
        rows, errs = _collect(ctx, ns.containers, ns.all, not ns.no_trunc)
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    if ns.no_stream or not sys.stdout.isatty():
        for e in errs:
            ctx.error(f"Error response from daemon: {e}")
        if rows or not errs:
            sys.stdout.write(render(fmt, rows, STATS_HEADERS))
        sys.stdout.flush()
        if ns.no_stream:
            return 1 if errs and not rows else 0
        return _plain_loop(ctx, ns, fmt)
    from rich.console import Console
    from rich.live import Live

    console = Console()
    table_like = fmt.startswith("table")
    try:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                if table_like and fmt == _DEFAULT:
                    live.update(_rich_table(rows, fmt), refresh=True)
                else:
                    from rich.text import Text
                    live.update(Text(render(fmt, rows, STATS_HEADERS).rstrip("\n")), refresh=True)
                time.sleep(1.0)
                rows, errs = _collect(ctx, ns.containers, ns.all, not ns.no_trunc)
                if ns.containers and not rows:
                    break
    except KeyboardInterrupt:
        return 0
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    return 0


def _plain_loop(ctx: CLIContext, ns: Any, fmt: str) -> int:
    """Streaming to a pipe: one rendering per second, as plain text (no terminal control)."""
    try:
        while True:
            time.sleep(1.0)
            rows, _ = _collect(ctx, ns.containers, ns.all, not ns.no_trunc)
            if ns.containers and not rows:
                return 0
            sys.stdout.write(render(fmt, rows, STATS_HEADERS))
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    except BerthError as exc:
        ctx.fail(exc)
        return 1
