"""berthd's control of the shim factory (berth.shim.factory): start it, stop it.

berthd starts a fresh factory when it starts (so a factory never runs older code than the
daemon) and stops it when it stops; running shims are not the factory's children and are
not affected either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["PID_NAME", "SOCKET_NAME", "socket_path", "start_factory", "stop_factory", "warm_seccomp"]

_log = logging.getLogger("berth.shim.factory")
# The factory's files in berthd's exec root (berth.shim.factory writes them; same names there).
SOCKET_NAME = "shim-factory.sock"
PID_NAME = "shim-factory.pid"


def socket_path(exec_root: Path) -> Path:
    return exec_root / SOCKET_NAME


async def stop_factory(exec_root: Path, wait: float = 5.0) -> None:
    """Ask a factory on ``exec_root`` to exit; nothing to do if none answers. Waits ``wait``
    seconds at most in all for its answer and its exit: a factory that does not answer in
    time (stopped, busy with a client that sends nothing) still exits with the berthd that
    started it, which it watches."""
    path = socket_path(exec_root)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    pidfd = _factory_pidfd(exec_root)
    try:
        async with asyncio.timeout(wait):
            writer.write(b'{"op": "stop"}\n')
            await writer.drain()
            await reader.readline()
            # The answer comes before the factory removes its files and exits: wait for the
            # exit, so whoever stopped berthd finds neither the process nor its pid file.
            if pidfd is not None:
                await _exited(pidfd)
    except TimeoutError:
        _log.warning("the shim factory did not exit within %.0f s of its stop", wait)
    finally:
        writer.close()
        if pidfd is not None:
            os.close(pidfd)


def _factory_pidfd(exec_root: Path) -> int | None:
    """A pidfd of the factory named by its pid file (checked to be one: pids are reused)."""
    try:
        pid = int((exec_root / PID_NAME).read_text())
        pidfd = os.pidfd_open(pid)
        if b"berth.shim.factory" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.close(pidfd)
            return None
    except (OSError, ValueError):
        return None
    return pidfd


async def _exited(pidfd: int) -> None:
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()
    loop.add_reader(pidfd, lambda: None if gone.done() else gone.set_result(None))
    try:
        await gone
    finally:
        loop.remove_reader(pidfd)


async def start_factory(exec_root: Path, python: str = sys.executable) -> Path | None:
    """Replace any factory on ``exec_root`` by a fresh one that lives as long as this process;
    its socket path, or None on failure."""
    await stop_factory(exec_root)
    proc = await asyncio.create_subprocess_exec(
        python, "-m", "berth.shim.factory", str(exec_root), str(os.getpid()),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    _, err = await proc.communicate()
    path = socket_path(exec_root)
    if proc.returncode != 0 or not path.exists():
        _log.warning("shim factory did not start (%s): shims start as new interpreters",
                     err.decode(errors="replace").strip())
        return None
    return path


async def warm_seccomp(exec_root: Path, runtime_root: Path, seccomp: Mapping[str, Any]) -> bool:
    """Have the factory compile ``seccomp`` (a spec's ``linux.seccomp``) into the program cache
    of the runtime under ``runtime_root``, off the request path; False if it did not accept."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(exec_root)))
    except OSError:
        return False
    try:
        request = {"op": "warm_seccomp", "runtime_root": str(runtime_root), "seccomp": seccomp}
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
        return bool(json.loads(answer or b"{}").get("ok"))
    except (OSError, ValueError, TimeoutError) as exc:
        _log.warning("seccomp warm-up: %s", exc)
        return False
    finally:
        writer.close()
