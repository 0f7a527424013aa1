"""Container state berthd finds at start that no container record owns, and removes.

Owns the start-time sweep of ``<exec-root>/containers/<id>`` (a shim's state dir) and
``<data-root>/containers/<id>`` (a bundle) whose ``<id>`` has no record: a create that died
before its record committed, a removal that died between deleting the record and deleting
the directories, a record lost some other way. It must not touch a recorded container's
directories; the container service calls it once, before serving.

A state dir whose shim still answers belongs to a container nobody can reach through the
API any more, whose snapshot, network sandbox and endpoints the same start collects
(``ImageService.recover``, ``NetworkService.restore``). Its processes are killed (thawed
first, as a stop does: a frozen process dies only once thawed) and the shim is let finish
its runtime delete, which removes the container's cgroups, before the directory goes.
containerd does the same sweep at start (a task bundle whose container metadata is gone is
unmounted and deleted), but leaves such a shim running; here nothing would be left for it
to run on. A state dir whose shim is dead (kill -9; its process, not a failed connect, says
so: ``berth.services.shimreach``) may still have a live container: it is killed and deleted
through its runtime (``berth.services.shimless``). A shim that does not answer within 5 s
(wedged; a stopped one is not waited for), or lives but refuses connections, is left alone
with its state dir, and the container service keeps its bundle too, for a later start:
waiting for it held up berthd's start for ever. The state dirs are ended concurrently
(bounded), so several wedged shims cost one such wait, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from collections.abc import Set
from pathlib import Path

from berth import errors
from berth.services import shimless, shimreach
from berth.shim import client as shim_client

__all__ = ["reap_state_dirs", "sweep_bundles"]

_log = logging.getLogger("berth.containers")
# A shim stuck past this in its runtime delete is its own bug; the sweep goes on without it.
_EXIT_TIMEOUT = 10.0
# A live shim answers in milliseconds; one that does not (stopped, wedged) is left alone, and
# so are its state and bundle, rather than holding up berthd's start.
_ANSWER_TIMEOUT = 5.0
# State dirs ended at once: each silent shim holds a slot for the wait above.
_CONCURRENCY = 32


async def reap_state_dirs(root: Path, known: Set[str], runtime_root: Path) -> list[str]:
    """Remove every ``root/<id>`` whose ``<id>`` is not in ``known``, ending its container
    first (through its shim if one answers, else through the runtime under ``runtime_root``);
    returns the IDs removed."""
    if not root.is_dir():
        return []
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def reap(entry: Path) -> bool:
        async with gate:
            if not await _end_shim(entry, runtime_root):
                return False
            await asyncio.to_thread(shutil.rmtree, entry, True)
            return True

    orphaned = [entry for entry in sorted(root.iterdir())
                if entry.name not in known and entry.is_dir() and not entry.is_symlink()]
    reaped = await asyncio.gather(*(reap(entry) for entry in orphaned))
    return [entry.name for entry, done in zip(orphaned, reaped, strict=True) if done]


async def _end_shim(state_dir: Path, runtime_root: Path) -> bool:
    """False if a shim is there but does not answer (stopped, wedged): its directory stays
    for a later start rather than holding up this one."""
    if shimreach.stopped(state_dir):  # it answers nothing before it is continued
        _log.warning("container %s has no record and its shim is stopped: left", state_dir.name[:12])
        return False
    try:
        shim = await asyncio.wait_for(shim_client.ShimClient.connect(state_dir), _ANSWER_TIMEOUT)
    except TimeoutError:
        _log.warning("container %s has no record and its shim does not answer: left",
                     state_dir.name[:12])
        return False
    except errors.BerthError as err:
        if not shimreach.gone(state_dir):
            _log.warning("container %s has no record and its shim lives but cannot be reached "
                         "(%s): left", state_dir.name[:12], err)
            return False
        # No shim: whatever it left running is ended through the runtime, as a recorded
        # container's is (berth.services.shimless).
        await asyncio.to_thread(shimless.end_container, runtime_root, state_dir.name)
        return True
    _log.warning("container %s has no record but its shim runs: killing it", state_dir.name[:12])
    try:
        # Asked before the kill, so the answer comes the moment the container exits.
        exited = asyncio.ensure_future(shim.exited())
        await asyncio.sleep(0)
        with contextlib.suppress(errors.BerthError):
            await shim.kill(signal.SIGKILL, all=True)
        with contextlib.suppress(errors.BerthError):
            await shim.resume()
        _, released = await asyncio.wait_for(exited, _EXIT_TIMEOUT)
        await asyncio.wait_for(released, _EXIT_TIMEOUT)
    except (errors.BerthError, TimeoutError) as err:
        _log.warning("ending the unrecorded container %s: %s", state_dir.name[:12], err)
    return True


def sweep_bundles(root: Path, known: Set[str]) -> None:
    """Delete every bundle directory ``root/<id>`` whose ``<id>`` is not in ``known``."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name not in known and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
