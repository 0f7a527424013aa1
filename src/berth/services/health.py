"""HEALTHCHECK: probes run in the container through its shim, and ``State.Health``.

Docker's rules: ``Test`` is ``["CMD", args...]``, ``["CMD-SHELL", "cmd"]`` (run by
``/bin/sh -c``) or ``["NONE"]`` (disabled; ``--no-healthcheck``). Defaults: interval 30 s,
timeout 30 s, retries 3, start period 0. Status is ``starting`` until the first success
(``healthy``) or ``retries`` consecutive failures (``unhealthy``); failures inside the start
period do not count. The last five probes are kept in ``Log`` with their output (at most
4 KiB each). A probe running longer than the timeout fails with exit code -1.

Owns the probe loop of one container; the container service starts it after start/readopt,
cancels it at exit, and gets each change through ``on_change``. Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from berth import errors, ids
from berth.shim import client as shim_client
from berth.shim.protocol import ExecRequest
from berth.timefmt import format_ns, now_ns

__all__ = ["HealthConfig", "run_probes"]

_SECOND: Final = 1_000_000_000
_MAX_OUTPUT: Final = 4096
_MAX_LOG: Final = 5


@dataclass(frozen=True)
class HealthConfig:
    args: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HealthConfig | None:
        """The container's health check, or None when it has none (or ``NONE``)."""
        hc = config.get("Healthcheck") or {}
        test = hc.get("Test") or []
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            args = tuple(str(a) for a in test[1:])
        elif test[0] == "CMD-SHELL":
            args = ("/bin/sh", "-c", " ".join(str(a) for a in test[1:]))
        else:
            raise errors.InvalidArgument(f"unknown health check type {test[0]!r}")
        if not args:
            return None

        def seconds(key: str, default: float) -> float:
            value = int(hc.get(key) or 0)
            return value / _SECOND if value > 0 else default

        retries = int(hc.get("Retries") or 0)
        return cls(args=args, interval=seconds("Interval", 30.0),
                   timeout=seconds("Timeout", 30.0), retries=retries if retries > 0 else 3,
                   start_period=seconds("StartPeriod", 0.0))


def _demux(data: bytes) -> bytes:
    """The payload of Docker multiplexed frames, stdout and stderr interleaved."""
    out = bytearray()
    while len(data) >= 8:
        (length,) = struct.unpack(">I", data[4:8])
        out += data[8:8 + length]
        data = data[8 + length:]
    return bytes(out)


async def _probe(shim: shim_client.ShimClient, cfg: HealthConfig) -> tuple[int, str]:
    exec_id = ids.generate_id()
    pid, reader, writer = await shim.exec(ExecRequest(exec_id=exec_id, args=cfg.args,
                                                      attach=True))
    assert reader is not None and writer is not None
    try:
        data = await asyncio.wait_for(reader.read(), cfg.timeout)
        state = await asyncio.wait_for(shim.exec_state(exec_id, wait=True), cfg.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # the probe's host pid, reaped by the shim
        return -1, f"Health check exceeded timeout ({cfg.timeout:g}s)"
    finally:
        writer.close()
    code = state.get("exit_code")
    text = _demux(data)[:_MAX_OUTPUT].decode(errors="replace")
    return (code if isinstance(code, int) else -1), text


async def run_probes(cfg: HealthConfig, shim: shim_client.ShimClient, started_ns: int,
                     on_change: Callable[[dict[str, Any], str | None], None],
                     ) -> None:
    """Probe until cancelled; ``on_change(health, new_status_or_None)`` after every probe."""
    health: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}
    on_change(health, None)
    while True:
        await asyncio.sleep(cfg.interval)
        start = now_ns()
        try:
            code, output = await _probe(shim, cfg)
        except errors.BerthError as err:
            code, output = -1, str(err)
        end = now_ns()
        entry = {"Start": format_ns(start), "End": format_ns(end), "ExitCode": code,
                 "Output": output}
        health["Log"] = [*health["Log"], entry][-_MAX_LOG:]
        old = health["Status"]
        if code == 0:
            health["Status"], health["FailingStreak"] = "healthy", 0
        elif (start - started_ns) / _SECOND >= cfg.start_period or old != "starting":
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= cfg.retries:
                health["Status"] = "unhealthy"
        on_change(health, health["Status"] if health["Status"] != old else None)
