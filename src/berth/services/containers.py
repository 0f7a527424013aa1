"""Container use-cases: create, start, stop, kill, restart, remove, wait, attach, logs, list.

Owns the in-memory view of every container (loaded from the metadata DB at start), the
per-container lifecycle lock, and the connection to each running container's shim. It
knows nothing of HTTP: callers get values, async streams and ``berth.errors`` exceptions.

Live restore: berthd never owns container processes. On start it reconnects to the shim
of every container recorded as running (concurrently, bounded); a container whose shim is
gone is marked exited with the status its shim wrote, so a daemon restart loses nothing. A shim that does not
answer but whose process lives (berth.services.shimreach) keeps its container running,
at start or when the monitor loses it, and is re-adopted once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal as _signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth import errors, ids
from berth import init as init_binary
from berth.images import initlayer
from berth.mount import Mount
from berth.names import random_name
from berth.oci import specgen
from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.security import devices as security_devices
from berth.security import host as hostfacts
from berth.security import seccomp as seccomp_profiles
from berth.security.userns import Remap
from berth.services import containerlist, deadstate, ipcshm, links, nsjoin, orphans, shimless, shimreach
from berth.services.container_model import Container, ContainerPaths, State
from berth.services.createbody import parse_create_body
from berth.services.etcfiles import write_etc_files
from berth.services.health import HealthConfig, run_probes
from berth.services.images import ImageService
from berth.services.networks import NetworkService, NetworkView
from berth.services.procs import ps_table
from berth.services.restart import Backoff, RestartPolicy, should_restart
from berth.services.update import apply_update
from berth.services.volumes import VolumeService
from berth.shim import client as shim_client
from berth.shim import jsonlog
from berth.shim.protocol import ExitStatus
from berth.shim.spec import ShimSpec
from berth.store.containers import ContainerRecord, ContainerRecords
from berth.timefmt import format_ns, now_ns, parse_to_ns
from berth.volumes import mounts as vmounts

__all__ = ["AttachStreams", "ContainerService", "ServiceConfig"]

_log = logging.getLogger("berth.containers")
# How long berthd's start waits for a running container's shim to answer before it goes on
# and keeps trying in the background: one stopped (SIGSTOP) or wedged shim must not keep
# berthd from serving every other container. A live shim answers in milliseconds; a stopped
# one (its process in state T) is not waited for at all.
_READOPT_WAIT = 5.0
# How many re-adoptions berthd's start runs at once. Each silent shim holds its slot for the
# wait above, so up to this many stopped or wedged shims cost one wait together, not one each
# (re-adopted one after another, N of them kept berthd from serving for 5N s). Bounded for
# the descriptors and the threads a dead shim's ending takes.
_READOPT_CONCURRENCY = 32


@dataclass(frozen=True)
class ServiceConfig:
    data_root: Path
    exec_root: Path
    cgroup_parent: str
    shim_factory: Path | None = None
    userns: Remap | None = None
    """``--userns-remap``: containers get a user namespace with these maps."""


@dataclass
class AttachStreams:
    """An attach session: bytes from the container (framed unless tty) and to its stdin."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@dataclass
class _Live:
    """Per-container runtime bookkeeping that is never persisted."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shim: shim_client.ShimClient | None = None
    monitor: asyncio.Task[None] | None = None
    exit_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    removed_waiters: list[asyncio.Future[int]] = field(default_factory=list)
    pending_attach: list[tuple[tuple[bool, bool, bool], asyncio.Future[AttachStreams]]] = field(
        default_factory=list)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    backoff: Backoff = field(default_factory=Backoff)
    health: asyncio.Task[None] | None = None
    restart_task: asyncio.Task[None] | None = None
    released: asyncio.Future[None] | None = None
    """Done once the last shim's runtime delete is: the ID's runtime state and cgroups are gone."""
    adopting: str | None = None
    """Running per its record, its shim alive but not answering: re-adopted when it answers.
    Since when, for the refusals' message: "since berthd started" or "since <time>"."""


@contextlib.contextmanager
def _missing_is_invalid() -> Iterator[None]:
    """A create naming a container or network that does not exist is a bad request (400, as
    moby), never a 404: the docker CLI takes a 404 from create for a missing image and pulls."""
    try:
        yield
    except errors.NotFound as err:
        raise errors.InvalidArgument(str(err)) from err


def _signal_number(value: str | int | None, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(_signal.Signals[text])
    except KeyError:
        raise errors.InvalidArgument(f"Invalid signal: {value}") from None


class ContainerService:
    def __init__(self, config: ServiceConfig, records: ContainerRecords,
                 images: ImageService, networks: NetworkService | None = None,
                 volumes: VolumeService | None = None) -> None:
        self._cfg = config
        self._records = records
        self._images = images
        self._networks = networks
        self._volumes = volumes
        self._containers: dict[str, Container] = {}
        self._live: dict[str, _Live] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_event: Callable[[str, Container], None] = lambda action, c: None
        # Events with attributes of their own (kill's signal, rename's oldName, exec's execID).
        self.on_event_attrs: Callable[[str, Container, dict[str, str]], None] = (
            lambda action, c, attrs: self.on_event(action, c))
        # Fault injection for crash tests (berthd's BERTH_CRASH_AT): called with "created" when
        # a create has made everything but its record, "removed" when a removal has deleted
        # the record and not yet the anonymous volumes and directories.
        self.checkpoint: Callable[[str], None] = lambda where: None

    # ---- lookup -------------------------------------------------------------------------

    @property
    def runtime_root(self) -> Path:
        """Where berth's runtime keeps the containers' state (and its seccomp program cache)."""
        return self._cfg.exec_root / "runtime"

    def default_seccomp(self) -> dict[str, Any] | None:
        """The ``linux.seccomp`` of a container created without security options."""
        return seccomp_profiles.to_oci(seccomp_profiles.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES,
                                       hostfacts.machine(), hostfacts.kernel_version())

    def _paths(self, cid: str) -> ContainerPaths:
        return ContainerPaths(bundle=self._cfg.data_root / "containers" / cid,
                              state_dir=self._cfg.exec_root / "containers" / cid)

    def get(self, ref: str) -> Container:
        """Find by full ID, name (with or without "/"), or unique ID prefix; else NotFound."""
        if ref in self._containers:
            return self._containers[ref]
        name = ref.removeprefix("/")
        for c in self._containers.values():
            if c.name == name:
                return c
        if ids.is_id_prefix(ref):
            matches = [c for cid, c in self._containers.items() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidArgument(f"Multiple IDs found with provided prefix: {ref}")
        raise errors.NotFound(f"No such container: {ref}")

    def _live_of(self, c: Container) -> _Live:
        return self._live.setdefault(c.id, _Live())

    def all(self) -> list[Container]:
        return list(self._containers.values())

    def image_ids_in_use(self) -> dict[str, str]:
        """image id -> the ID of one container using it (for rmi conflicts)."""
        return {c.image_id: c.id for c in self._containers.values()}

    def _record(self, c: Container) -> ContainerRecord:
        return ContainerRecord(id=c.id, name=c.name, image_id=c.image_id,
                               created=parse_to_ns(c.created), data=c.to_record())

    def _save(self, c: Container) -> None:
        """Record what the user asked for (create, rename, update, stop): durable on disk."""
        self._records.update(self._record(c))

    def _save_state(self, c: Container) -> None:
        """Record running-state churn (running/paused/exited, pid, exit code, health, restart
        count) without a sync: after a power loss nothing runs, and ``restore`` reconciles
        whatever the last commits said with the runtime, so losing them is harmless. A later
        durable commit carries these along (the WAL is written in order)."""
        self._records.update(self._record(c), durable=False)

    # ---- daemon start / stop ------------------------------------------------------------

    async def restore(self) -> None:
        """Load every container and re-adopt the running ones (live restore).

        As moby's restore: an auto-remove (``--rm``) container that is not running once
        re-adopted (it exited while berthd was down, berthd died before removing it, or it
        was never started) is removed now, with its anonymous volumes; a running one keeps
        running and goes when it exits, as always. A build step's container (``transient``)
        is removed, running or not: the build that would have removed it died with berthd.
        State and bundle directories no record names (a create that died before its record
        committed, a removal that died before deleting them) are deleted, a live shim's
        container killed first (``berth.services.orphans``); the runtime state and cgroups of
        containers whose processes are all gone (``berth.services.deadstate``)."""
        records = self._records.list()
        await orphans.reap_state_dirs(self._cfg.exec_root / "containers", {r.id for r in records},
                                      self.runtime_root)
        # Before any re-adoption or restart: what dead shims left (runtime state, cgroups).
        await asyncio.to_thread(deadstate.sweep_dead_containers, self.runtime_root,
                                self._cfg.cgroup_parent)
        # Before anything starts: shm tmpfs mounts of containers without a record (a live one
        # whose shim did not answer keeps its state dir, and its mount).
        live_dirs = {p.name for p in (self._cfg.exec_root / "containers").glob("*")}
        await asyncio.to_thread(ipcshm.sweep_orphans, self._cfg.data_root / "containers",
                                {r.id for r in records} | live_dirs)
        doomed: list[Container] = []
        running: list[Container] = []
        ids_by_name = {rec.name: rec.id for rec in records}
        for rec in records:
            c = Container.from_record(rec.id, rec.name, rec.image_id, rec.data, self._paths(rec.id))
            self._containers[c.id] = c
            if (relinked := links.reregister(c.host_config, ids_by_name)) is not None:
                c.host_config["Links"] = relinked or None
                self._save(c)
            if c.transient:
                doomed.append(c)
                if c.state.status in ("running", "paused"):
                    running.append(c)  # re-adopted, so the removal can kill it through its shim
                continue
            if c.state.status == "restarting":
                # berthd stopped during a restart back-off: the restart is due now.
                c.state.status = "exited"
                self._save_state(c)
            if c.state.status not in ("running", "paused"):
                # A berthd that died between the exit's record and the unmount left it (a
                # stat for most: not worth a thread hop).
                ipcshm.release(c)
            if c.state.status in ("running", "paused"):
                running.append(c)  # what follows once the re-adoption tells whether it runs
                continue
            if c.state.status == "exited" and self._wants_restart(c, on_boot=True):
                self._spawn(self._boot_start(c))
            if c.host_config.get("AutoRemove"):
                doomed.append(c)
        await self._readopt_all(running)
        for c in running:
            if c.transient:
                continue
            if c.state.status == "exited" and self._wants_restart(c, on_boot=False):
                self._spawn(self._boot_start(c))
            if c.host_config.get("AutoRemove") and c.state.status not in ("running", "paused"):
                doomed.append(c)
        for c in doomed:
            try:
                await self.remove(c.id, force=True, volumes=True)
            except errors.BerthError as err:
                _log.warning("removal of %s container %s on daemon start: %s",
                             "build" if c.transient else "auto-remove", c.short_id, err)
        # A bundle whose state dir the reaping left (its shim did not answer) stays with it.
        kept = {p.name for p in (self._cfg.exec_root / "containers").glob("*")}
        await asyncio.to_thread(orphans.sweep_bundles, self._cfg.data_root / "containers",
                                set(self._containers) | kept)

    def _wants_restart(self, c: Container, on_boot: bool) -> bool:
        """Whether an exited container is started again by its restart policy."""
        if c.host_config.get("AutoRemove"):
            return False
        policy = RestartPolicy.from_host_config(c.host_config)
        if on_boot:
            # As moby: ``always`` comes back with the daemon even after a manual stop.
            return policy.name == "always" or (policy.name == "unless-stopped"
                                               and not c.manually_stopped)
        return should_restart(policy, c.state.exit_code, c.restart_count, c.manually_stopped)

    async def _boot_start(self, c: Container) -> None:
        live = self._live_of(c)
        async with live.lock:
            if c.id not in self._containers or c.state.status != "exited":
                return
            # A start like the user's, as moby's restore (its containerStart resets the
            # restart manager): RestartCount 0, no manual stop on record, a fresh back-off.
            c.manually_stopped = False
            c.restart_count = 0
            live.backoff = Backoff()
            try:
                await self._start_locked(c, live)
            except errors.BerthError as err:
                _log.warning("restart of %s on daemon start failed: %s", c.short_id, err)

    async def _readopt_all(self, containers: Sequence[Container]) -> None:
        """Re-adopt ``containers`` (recorded as running) concurrently, at most
        ``_READOPT_CONCURRENCY`` at a time; the first failure is raised once all are done."""
        gate = asyncio.Semaphore(_READOPT_CONCURRENCY)

        async def one(c: Container) -> None:
            async with gate:
                await self._readopt(c)

        results = await asyncio.gather(*(one(c) for c in containers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _readopt(self, c: Container) -> None:
        connecting = asyncio.ensure_future(shim_client.ShimClient.connect(c.paths.state_dir))
        # The connect waits on a stopped shim until it is continued: then it completes in the
        # background re-adoption, at once.
        wait = 0.0 if shimreach.stopped(c.paths.state_dir, c.state.pid) else _READOPT_WAIT
        try:
            shim = await asyncio.wait_for(asyncio.shield(connecting), wait)
        except TimeoutError:
            _log.warning("the shim of running container %s does not answer%s; berthd serves and "
                         "re-adopts it once it does", c.short_id, " (stopped)" if not wait else "")
            self._readopt_later(c, connecting)
            return
        except errors.BerthError as err:
            if shimreach.gone(c.paths.state_dir, c.state.pid):
                await self._end_lost(c)
                return
            _log.warning("the shim of running container %s lives but cannot be reached (%s); "
                         "berthd serves and re-adopts it once it can", c.short_id, err)
            self._readopt_later(c, None)
            return
        self._adopt(c, shim)

    def _readopt_later(self, c: Container, connecting: asyncio.Future[shim_client.ShimClient] | None,
                       ) -> None:
        self._live_of(c).adopting = "since berthd started"
        self._spawn(self._readopt_late(c, connecting))

    async def _readopt_late(self, c: Container,
                            connecting: asyncio.Future[shim_client.ShimClient] | None) -> None:
        try:
            shim = await shimreach.reach(c.paths.state_dir, connecting, init_pid=c.state.pid)
        finally:
            self._live_of(c).adopting = None
        if self._containers.get(c.id) is not c or c.state.status not in ("running", "paused"):
            return
        if shim is None:
            await self._end_lost(c)
        else:
            self._adopt(c, shim)
        if c.state.status == "exited" and self._wants_restart(c, on_boot=False):
            await self._boot_start(c)

    def _adopt(self, c: Container, shim: shim_client.ShimClient) -> None:
        """The re-adoption's outcome when the shim answered: watch it again."""
        live = self._live_of(c)
        live.shim = shim
        _log.info("re-adopted running container %s", c.short_id)
        live.monitor = self._spawn(self._monitor(c, shim))
        self._start_health(c, shim)

    async def _end_lost(self, c: Container) -> None:
        """The re-adoption's outcome when the shim is gone: the container is ended through its
        runtime and its exit recorded."""
        killed = await self._end_shimless(c)
        if self._networks is not None:
            await self._networks.teardown(c.id)
        self._mark_shimless_exit(c, killed)
        self._cleanup_state_dir(c)

    async def _end_shimless(self, c: Container) -> bool:
        """The shim of ``c`` is gone: nothing supervises what is left of the container, so it
        is killed and deleted through its runtime (``berth.services.shimless``); True if a
        process of it was still running."""
        return await asyncio.to_thread(shimless.end_container, self.runtime_root, c.id)

    def _mark_shimless_exit(self, c: Container, killed: bool) -> None:
        """Record the exit of a container whose shim is gone: what the shim recorded before it
        died if anything; else 137 (SIGKILL) if berthd killed the processes it left, as
        containerd reports a dead shim's container; else 255, the status is lost."""
        status = shim_client.read_exit(c.paths.state_dir)
        if status is not None:
            self._mark_exited(c, status.exit_code, status.finished_at, status.oom_killed)
        elif killed:
            # No State.Error, as dockerd shows a container containerd ended after its shim
            # died (137, ''); berthd's log says what happened.
            self._mark_exited(c, shimless.KILLED_EXIT_CODE, format_ns(now_ns()), False)
        else:
            self._mark_exited(c, 255, format_ns(now_ns()), False,
                              error="container's shim exited without recording a status")

    @staticmethod
    def _refuse_while_adopting(c: Container, live: _Live, action: str) -> None:
        """Conflict for an operation that needs the shim of a container whose re-adoption
        still waits for it (its shim has not answered since berthd started: stopped or
        wedged). Refused at once rather than after a bounded wait: the shim has already
        been silent for the re-adoption's 5 s (or is stopped), nothing says it answers within
        any bound a request could wait, and the processes may well run, so "not running" (or
        a stop answered "already stopped") would be false."""
        if live.adopting is not None:
            raise errors.Conflict(f"Cannot {action} container {c.id}: its shim does not answer "
                                  f"{live.adopting}; it is re-adopted once it does")

    # ---- health checks ------------------------------------------------------------------

    def _start_health(self, c: Container, shim: shim_client.ShimClient) -> None:
        try:
            cfg = HealthConfig.from_config(c.config)
        except errors.InvalidArgument as err:
            _log.warning("health check of %s: %s", c.short_id, err)
            return
        if cfg is None:
            return
        live = self._live_of(c)
        self._stop_health(c)

        def changed(health: dict[str, Any], new_status: str | None) -> None:
            c.state.health = health
            self._save_state(c)
            if new_status is not None:
                self.on_event(f"health_status: {new_status}", c)

        started = parse_to_ns(c.state.started_at)
        live.health = self._spawn(run_probes(cfg, shim, started, changed))

    def _stop_health(self, c: Container) -> None:
        live = self._live.get(c.id)
        if live is not None and live.health is not None:
            live.health.cancel()
            live.health = None

    async def close(self) -> None:
        """Stop watching containers; they keep running (live restore)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for live in self._live.values():
            if live.released is not None:
                live.released.cancel()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- create -------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None,
                     transient: bool = False) -> Container:
        """``transient``: a build step's container, removed at berthd start if still there
        (see ``restore``) until :meth:`keep` clears the mark."""
        req = parse_create_body(body)
        if name:
            name = ids.validate_container_name(name)
            self._check_name_free(name)
        # On the loop: indexed reads of the metadata DB (as inspect and ps do); a thread hop
        # costs more than the lookup (0.5-1 ms each way on a busy 2-core machine).
        image = self._images.resolve(req.image)
        # The image config's runtime defaults sit under "config" (OCI image spec).
        config = specgen.merge_image_config(req.config, image.config.get("config") or {})
        cid = ids.generate_id()
        config["Hostname"] = config.get("Hostname") or cid[:12]
        config["Image"] = req.image
        args = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        if not args:
            raise errors.InvalidArgument("no command specified")
        _signal_number(req.config.get("StopSignal"), _signal.SIGTERM)  # refused now, not at stop
        if name is None:
            name = self._unique_random_name()
        paths = self._paths(cid)
        c = Container(id=cid, name=name, created=format_ns(now_ns()), image_ref=req.image,
                      image_id=image.id, config=config, host_config=req.host_config,
                      path=args[0], args=args[1:], paths=paths, transient=transient)
        with _missing_is_invalid():
            self._check_network_mode(c)
            nsjoin.check_modes(c.host_config, self.get)
            links.register(c.host_config, self.get)
            volumes_from = self._volumes_from(req.host_config)
        specgen.check_security(req.host_config, os.cpu_count())
        if self._remap_of(req.host_config) is not None and req.host_config.get("Privileged"):
            raise errors.InvalidArgument(
                "privileged mode is incompatible with user namespaces.  You must run the "
                "container in the host namespace when running privileged mode")
        security_devices.check_mappings(req.host_config)
        points: list[vmounts.MountPoint] = []
        if self._volumes is not None:
            points = self._volumes.plan(config, req.host_config, volumes_from, cid)
            c.mount_points = [vmounts.to_json(mp) for mp in points]
        if not self._images.try_prepare_rootfs(image.id, cid):
            await asyncio.to_thread(self._images.prepare_rootfs, image.id, cid)
        try:
            remap = self._remap_of(req.host_config)
            if remap is not None:
                await asyncio.to_thread(self._chown_upper, cid)
            # moby's init layer (/.dockerenv, mount points), in the upper: a few syscalls
            initlayer.populate(self._images.upper_dir(cid), *((remap.root_uid, remap.root_gid)
                                                              if remap is not None else (0, 0)))
            if self._volumes is not None and points:
                await self._volumes.copy_up(
                    points, await asyncio.to_thread(self._images.rootfs_mounts, cid))
            if self._networks is not None:
                await self._networks.allocate(c, body.get("NetworkingConfig") or {})
            paths.bundle.mkdir(parents=True, exist_ok=False)
            (paths.bundle / "rootfs").mkdir()
            self._write_etc_files(c)
            self.checkpoint("created")
            self._records.put(self._record(c))
        except BaseException:
            shutil.rmtree(paths.bundle, ignore_errors=True)
            if self._volumes is not None and points:
                self._volumes.discard(points)
            if self._networks is not None:
                await self._networks.release(cid)
            await asyncio.to_thread(self._images.remove_rootfs, cid)
            raise
        if self._volumes is not None and points:
            # Only after the record: a crash before it leaves them pending, collected at start.
            with contextlib.suppress(errors.BerthError):
                self._volumes.settle(points)
        self._containers[cid] = c
        self.on_event("create", c)
        return c

    def _remap_of(self, host_config: dict[str, Any]) -> Remap | None:
        """The daemon's remap unless the container asked for the host's (``--userns host``)."""
        if str(host_config.get("UsernsMode") or "") == "host":
            return None
        return self._cfg.userns

    def _chown_upper(self, cid: str) -> None:
        # The writable layer (and overlay's work dir next to it) belongs to the mapped root.
        remap = self._cfg.userns
        assert remap is not None
        upper = self._images.upper_dir(cid)
        for d in (upper, upper.parent / "work"):
            if d.exists():
                os.chown(d, remap.root_uid, remap.root_gid)

    def _check_name_free(self, name: str) -> None:
        for other in self._containers.values():
            if other.name == name:
                raise errors.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                    "reuse that name.")

    def _unique_random_name(self) -> str:
        taken = {c.name for c in self._containers.values()}
        for _ in range(100):
            n = random_name()
            if n not in taken:
                return n
        return f"{random_name()}{len(taken)}"

    def _check_network_mode(self, c: Container) -> None:
        mode = c.network_mode()
        if mode.startswith("container:"):
            if not mode.removeprefix("container:"):
                raise errors.InvalidArgument("Invalid network mode: invalid container format "
                                             "container:<name|id>")
            target = self.get(mode.removeprefix("container:"))
            if target.id == c.id:
                raise errors.InvalidArgument("cannot join own network")
            c.host_config["NetworkMode"] = f"container:{target.id}"
            if c.host_config.get("PortBindings") or c.host_config.get("PublishAllPorts"):
                raise errors.InvalidArgument("conflicting options: port publishing and the container "
                                             "type network mode")
        elif self._networks is not None:
            self._networks.validate_mode(c.host_config)

    def _volumes_from(self, host_config: dict[str, Any]) -> list[tuple[list[vmounts.MountPoint], str]]:
        out = []
        for spec in host_config.get("VolumesFrom") or []:
            ref, _, mode = str(spec).partition(":")
            if mode not in ("", "ro", "rw"):
                raise errors.InvalidArgument(f"invalid mode for volumes-from: {mode}")
            other = self.get(ref)
            out.append(([vmounts.from_json(m) for m in other.mount_points], mode))
        return out

    def volume_usage(self) -> dict[str, list[str]]:
        """volume name -> IDs of the containers that mount it."""
        out: dict[str, list[str]] = {}
        for c in self._containers.values():
            for m in c.mount_points:
                if m.get("Type") == "volume":
                    out.setdefault(m["Name"], []).append(c.id)
        return out

    def _write_etc_files(self, c: Container) -> None:
        mode = c.network_mode()
        target = (self._containers.get(mode.removeprefix("container:"))
                  if mode.startswith("container:") else None)
        write_etc_files(c, target, self._networks, [
            (links.hosts_names(link, t), address) for link, t, address in self._link_targets(c)])

    def _link_targets(self, c: Container) -> list[tuple[links.Link, Container, str]]:
        """``c``'s legacy links whose targets have a default-bridge address now."""
        if self._networks is None:
            return []
        out = []
        for link, target in links.resolved(c, self.get):
            address = self._networks.bridge_address(target.id)
            if address is not None:
                out.append((link, target, address))
        return out

    # ---- start --------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        async with live.lock:
            if c.state.status in ("running", "restarting"):
                raise errors.NotModified("container already started")
            if c.state.status == "paused":
                raise errors.Conflict(f"cannot start a paused container {c.id}, try unpause instead")
            if c.state.status in ("removing", "dead"):
                raise errors.Conflict(f"container {c.id} is marked for removal and cannot be started")
            # A start by the user resets the restart policy's bookkeeping, as moby does.
            c.manually_stopped = False
            c.restart_count = 0
            live.backoff = Backoff()
            await self._start_locked(c, live)

    async def _start_locked(self, c: Container, live: _Live) -> None:
        await self._released(live)
        try:
            joined = nsjoin.namespace_paths(c.host_config, self.get)
            if self._networks is not None:
                links.check_running(c, self.get,
                                    lambda t: self._networks is not None
                                    and self._networks.bridge_address(t.id) is not None)
            shm = ipcshm.source(c, self.get(joined.ipc_donor) if joined.ipc_donor else None)
            netns_path = await self._setup_network(c)
            await self._spawn_and_start(c, live, netns_path, joined, shm)
        except BaseException as err:
            if live.shim is None:
                ipcshm.release(c)
                if isinstance(err, Exception):
                    # Attaches waiting for the shim end with the error (a docker run whose
                    # start failed left its attach request, and berthd's shutdown, waiting).
                    self._record_start_failure(c, live, err)
                if self._networks is not None:
                    await self._networks.teardown(c.id)
                if c.host_config.get("AutoRemove") and isinstance(err, Exception):
                    # As moby: an --rm container that cannot start is removed, whatever step
                    # failed (the CLI waits for its removal). With a shim, its exit removes it.
                    self._spawn(self.remove(c.id, force=True))
            raise

    async def _setup_network(self, c: Container) -> str | None:
        # The bundle is derived from the record and rewritten by every start (the etc files
        # here, config.json next), so nothing syncs it: a power cut that lost it, or left it
        # empty, costs nothing (docs/internals.md, durability).
        (c.paths.bundle / "rootfs").mkdir(parents=True, exist_ok=True)
        mode = c.network_mode()
        if mode.startswith("container:"):
            target = self.get(mode.removeprefix("container:"))
            if not target.state.running or not target.state.pid:
                raise errors.Conflict(f"cannot join network of a non running container: {target.id}")
            self._write_etc_files(c)
            pinned = self._networks.netns_path(target.id) if self._networks else None
            if pinned is not None and pinned.exists():
                return str(pinned)
            return f"/proc/{target.state.pid}/ns/net"
        if self._networks is None:
            self._write_etc_files(c)
            return None
        path = await self._networks.setup(c, self._containers.values())
        self._write_etc_files(c)
        self._update_linkers(c)
        return str(path) if path else None

    def _update_linkers(self, target: Container) -> None:
        """Rewrite the hosts files of running containers linked to ``target``, whose address
        may have changed with this start (moby updates its links' parents the same way)."""
        for p in self._containers.values():
            if p is target or not p.host_config.get("Links") or not p.state.running:
                continue
            if any(t is target for _, t in links.resolved(p, self.get)):
                self._write_etc_files(p)

    async def _spawn_and_start(self, c: Container, live: _Live, netns_path: str | None,
                               joined: nsjoin.JoinedNamespaces, shm: str | None) -> None:
        host_config = c.host_config
        volumes: dict[str, str] = {}
        if self._volumes is not None and c.mount_points:
            points = [vmounts.from_json(m) for m in c.mount_points]
            volumes = self._volumes.paths(points)
            if (remap := self._remap_of(c.host_config)) is not None:
                await asyncio.to_thread(_own_volumes, volumes.values(), remap)
            host_config = vmounts.spec_host_config(c.host_config, points, volumes)
            self._volumes.mounted(c.id, points)
        spec = specgen.generate(specgen.SpecInput(
            container_id=c.id, config=c.config, host_config=host_config,
            cgroups_path=f"/{self._cfg.cgroup_parent}/{c.id}",
            hostname=c.paths.hostname.read_text().strip(),
            network_files=specgen.NetworkFiles(
                hostname=str(c.paths.hostname), hosts=str(c.paths.hosts),
                resolv_conf=str(c.paths.resolv_conf)),
            volumes=volumes, host_cpus=os.cpu_count(), network_namespace_path=netns_path,
            pid_namespace_path=joined.pid, ipc_namespace_path=joined.ipc, shm_path=shm,
            link_env=[v for link, t, address in self._link_targets(c)
                      for v in links.environment(c, link, t, address)],
            machine=hostfacts.machine(), kernel=hostfacts.kernel_version(),
            host_devices=(security_devices.host_devices() if c.host_config.get("Privileged")
                          else ()),
            devices=security_devices.mapped_devices(c.host_config.get("Devices") or []),
            id_mappings=remap.spec_mappings() if (remap := self._remap_of(c.host_config)) else None))
        if c.host_config.get("Init"):
            binary = await asyncio.to_thread(init_binary.ensure_binary, self._cfg.data_root)
            spec = init_binary.apply_init(spec, binary)
        # Compact: json's C encoder runs only without indent (indent=1 took ~1 ms of loop time).
        (c.paths.bundle / "config.json").write_text(json.dumps(spec, separators=(",", ":")))
        try:
            mounts = self._images.rootfs_mounts(c.id)  # two indexed reads: not worth a thread hop
        except errors.NotFound as err:
            # The record outlived its snapshot (a crash mid-removal): a server-side fault, not
            # a missing container; removing it is what is left to do.
            raise errors.Internal(f"container {c.id} has no root filesystem ({err}); remove it") from err
        shutil.rmtree(c.paths.state_dir, ignore_errors=True)
        c.paths.state_dir.mkdir(parents=True)
        log_cfg = c.host_config.get("LogConfig", {}).get("Config", {})
        shim_spec = ShimSpec(
            id=c.id, bundle=c.paths.bundle,
            runtime_root=self.runtime_root,
            log_path=c.paths.log if c.host_config["LogConfig"]["Type"] == "json-file" else None,
            log_max_size=_parse_size(log_cfg.get("max-size", "")),
            log_max_file=int(log_cfg.get("max-file", "1") or 1),
            tty=bool(c.config.get("Tty")), open_stdin=bool(c.config.get("OpenStdin")),
            stdin_once=bool(c.config.get("StdinOnce")),
            rootfs_mounts=tuple(mounts),
            cgroup_parent=self._cfg.cgroup_parent,
            runtime=str(c.host_config.get("Runtime") or "berth"))
        try:
            shim = await shim_client.spawn(c.paths.state_dir, shim_spec,
                                           factory=self._cfg.shim_factory,
                                           cgroups_path=(spec.get("linux") or {}).get("cgroupsPath"))
        except errors.RuntimeFailure:
            self._cleanup_state_dir(c)
            raise
        live.shim = shim
        live.exited = asyncio.Event()
        # The exit is asked for before the start, so the shim answers the moment the container
        # exits (before its runtime delete) instead of a later connect finding the shim gone;
        # the monitor handles it only once the start is recorded.
        exit_status = asyncio.ensure_future(shim.exited())
        try:
            for (streams, fut) in live.pending_attach:
                if not fut.done():
                    reader, writer = await shim.attach(*streams)
                    fut.set_result(AttachStreams(reader, writer))
            live.pending_attach.clear()
            pid = await shim.start()
        except errors.BerthError as err:
            with contextlib.suppress(errors.BerthError):
                await shim.kill(_signal.SIGKILL, all=True)
            self._record_start_failure(c, live, err)
            live.monitor = self._spawn(self._monitor(c, shim, exit_status))
            raise
        except BaseException:
            exit_status.cancel()
            raise
        c.state = State(status="running", pid=pid, started_at=format_ns(now_ns()))
        self._save_state(c)
        self.on_event("start", c)
        self._start_health(c, shim)
        live.monitor = self._spawn(self._monitor(c, shim, exit_status))

    def _record_start_failure(self, c: Container, live: _Live, err: Exception) -> None:
        c.state.error = str(err)
        c.state.exit_code = _exit_code_for(str(err))
        self._save_state(c)
        self._fail_pending_attach(live, err)

    def _fail_pending_attach(self, live: _Live, err: Exception) -> None:
        for _, fut in live.pending_attach:
            if not fut.done():
                fut.set_exception(err)
        live.pending_attach.clear()

    async def _monitor(self, c: Container, shim: shim_client.ShimClient,
                       exit_status: Awaitable[tuple[ExitStatus, asyncio.Future[None]]] | None = None,
                       ) -> None:
        """Wait for the container's exit through its shim (``exit_status``: a wait already
        asked for) and record it."""
        live = self._live_of(c)
        status: ExitStatus | None = None
        while True:
            try:
                status, live.released = await (exit_status if exit_status is not None
                                               else shim.exited())
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the shim died, or cannot be reached
                _log.warning("lost shim of %s: %s", c.short_id, exc)
            exit_status = None
            regained = await self._regain(c, live)
            if regained is None:
                break  # the shim died: its exit file is the truth, if any
            shim = regained
        live.shim = None
        killed = False
        if status is None:
            killed = await self._end_shimless(c)
        if self._networks is not None:
            try:
                await self._networks.teardown(c.id)
            except errors.BerthError as err:
                _log.warning("network teardown of %s: %s", c.short_id, err)
        if self._volumes is not None and c.mount_points:
            self._volumes.unmounted(c.id, [vmounts.from_json(m) for m in c.mount_points])
        if status is None:
            self._mark_shimless_exit(c, killed)
        else:
            self._mark_exited(c, status.exit_code, status.finished_at, status.oom_killed)
        auto_remove = bool(c.host_config.get("AutoRemove"))
        if not auto_remove:  # the removal deletes it off the event loop
            self._cleanup_state_dir(c)
        live.exited.set()
        if auto_remove:
            with contextlib.suppress(errors.BerthError):
                await self.remove(c.id, force=True, volumes=True)
        elif c.id in self._containers and self._wants_restart(c, on_boot=False):
            self._schedule_restart(c, live)

    async def _regain(self, c: Container, live: _Live) -> shim_client.ShimClient | None:
        """The monitor lost the shim of ``c``: its client again once it answers, None if its
        process is gone. Until then the container is kept running, as at berthd's start, and
        what needs its shim is refused (``_refuse_while_adopting``): a live shim whose socket
        refuses connections must not have its container killed. Health probes pause meanwhile
        (each would fail on the shim, not on the container) and start again on re-adoption, as
        after berthd's start."""
        if shimreach.gone(c.paths.state_dir, c.state.pid):
            return None
        _log.warning("the shim of %s lives but cannot be reached; berthd re-adopts it once it can",
                     c.short_id)
        live.shim = None
        live.adopting = f"since {format_ns(now_ns())}"
        self._stop_health(c)
        try:
            shim = await shimreach.reach(c.paths.state_dir, init_pid=c.state.pid)
        finally:
            live.adopting = None
        if shim is not None:
            live.shim = shim
            _log.info("re-adopted running container %s", c.short_id)
            self._start_health(c, shim)
        return shim

    def _schedule_restart(self, c: Container, live: _Live) -> None:
        try:
            ran_for = (parse_to_ns(c.state.finished_at) - parse_to_ns(c.state.started_at)) / 1e9
        except ValueError:
            ran_for = 0.0
        live.backoff = live.backoff.next(ran_for)
        c.state.status = "restarting"
        self._save_state(c)
        live.restart_task = self._spawn(self._restart_after(c, live, live.backoff.delay))

    async def _restart_after(self, c: Container, live: _Live, delay: float) -> None:
        await asyncio.sleep(delay)
        async with live.lock:
            if c.id not in self._containers or c.state.status != "restarting":
                return
            live.restart_task = None
            c.restart_count += 1
            try:
                await self._start_locked(c, live)
            except errors.BerthError as err:
                _log.warning("restart of %s failed: %s", c.short_id, err)
                c.state.status = "exited"
                self._save_state(c)
                if self._wants_restart(c, on_boot=False):
                    self._schedule_restart(c, live)
                return
        self.on_event("restart", c)

    def _cancel_restart(self, c: Container, live: _Live) -> bool:
        """Cancel a restart still waiting out its back-off; True if there was one.

        A restart already starting the container (it holds the lock) is not cancelled: the
        caller then takes the lock and finds the container running.
        """
        task, live.restart_task = live.restart_task, None
        if task is None:
            return False
        task.cancel()
        if c.state.status == "restarting":
            c.state.status = "exited"
            self._save(c)
        return True

    async def _released(self, live: _Live) -> None:
        """Wait for the last shim's runtime delete (bounded: a shim stuck there is its own bug)."""
        if live.released is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(live.released), 10)
            live.released = None

    def _mark_exited(self, c: Container, code: int, finished_at: str, oom: bool,
                     error: str = "") -> None:
        self._stop_health(c)
        # Here, not in the monitor: a container that died while berthd was down is marked
        # exited by its re-adoption, and its shareable /dev/shm must go too.
        with contextlib.suppress(errors.BerthError):
            ipcshm.release(c)
        c.state = State(status="exited", pid=0, exit_code=code, error=error, oom_killed=oom,
                        started_at=c.state.started_at, finished_at=finished_at,
                        health=c.state.health)
        self._save_state(c)
        live = self._live_of(c)
        waiters, live.exit_waiters = live.exit_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(code)
        self.on_event("die", c)

    def _cleanup_state_dir(self, c: Container) -> None:
        shutil.rmtree(c.paths.state_dir, ignore_errors=True)

    # ---- stop / kill / restart ----------------------------------------------------------

    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        c = self.get(ref)
        sig = _signal_number(signal, _signal.SIGKILL)
        live = self._live_of(c)
        if c.state.status == "restarting":
            raise errors.Conflict(f"Cannot kill container: {ref}: Container {c.id} is restarting, "
                                  "wait until the container is running")
        self._refuse_while_adopting(c, live, "kill")
        if c.state.status not in ("running", "paused") or live.shim is None:
            raise errors.Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        if sig in (_signal.SIGKILL, _signal.SIGTERM, _signal.SIGINT):
            # The user ended it: no restart policy brings it back (moby marks any kill so).
            c.manually_stopped = True
            self._save(c)
        exited = live.exited
        await live.shim.kill(sig, all=sig == _signal.SIGKILL)
        if sig == _signal.SIGKILL:
            await self._thaw_for_stop(c, live)
        self.on_event_attrs("kill", c, {"signal": str(int(sig))})
        if sig == _signal.SIGKILL:
            # As moby's Kill: answer once the exit is recorded, so an inspect right after
            # `docker kill` sees the container exited (bounded: a stuck shim must not hang it).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(exited.wait(), 10)

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        self._refuse_while_adopting(c, live, "stop")
        c.manually_stopped = True
        if self._cancel_restart(c, live):
            self.on_event("stop", c)
            return
        async with live.lock:
            if c.state.status not in ("running", "paused") or live.shim is None:
                raise errors.NotModified("container already stopped")
            self._save(c)
            await self._stop_locked(c, live, timeout, signal)
        self.on_event("stop", c)

    async def _stop_locked(self, c: Container, live: _Live, timeout: int | None,
                           signal: str | None) -> None:
        if timeout is None:
            timeout = c.config.get("StopTimeout")
        if timeout is None:
            timeout = 10
        sig = _signal_number(signal or c.config.get("StopSignal"), _signal.SIGTERM)
        shim = live.shim
        if shim is None:
            return
        exited = live.exited
        await self._signal_quietly(c, shim, sig)
        await self._thaw_for_stop(c, live)
        if timeout >= 0:
            try:
                await asyncio.wait_for(exited.wait(), timeout)
                return
            except TimeoutError:
                _log.info("container %s did not stop after %ss, killing it", c.short_id, timeout)
        await self._signal_quietly(c, shim, _signal.SIGKILL)
        await exited.wait()

    async def _signal_quietly(self, c: Container, shim: shim_client.ShimClient, sig: int) -> None:
        """Signal the container for a stop or a forced removal: a shim that is already gone is
        no error there. Each signal delivered is a ``kill`` event, as moby logs one for
        every signal it sends (``docker events`` shows kill 15, kill 9, die, stop)."""
        try:
            await shim.kill(sig, all=sig == _signal.SIGKILL)
        except errors.BerthError:
            return
        self.on_event_attrs("kill", c, {"signal": str(int(sig))})

    async def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        self._cancel_restart(c, live)
        async with live.lock:
            self._refuse_while_adopting(c, live, "restart")
            if c.state.status in ("running", "paused") and live.shim is not None:
                # Not a manual stop: the restart policy still applies afterwards.
                c.manually_stopped = True
                await self._stop_locked(c, live, timeout, signal)
            c.manually_stopped = False
            c.restart_count = 0
            live.backoff = Backoff()
            await self._start_locked(c, live)
        self.on_event("restart", c)

    # ---- remove -------------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        async with live.lock:
            if c.id not in self._containers:
                return
            if live.adopting is not None:
                # Its processes may well run: nothing may go before its shim can end them.
                raise errors.Conflict(f"You cannot remove container {c.id} yet: its shim does "
                                      f"not answer {live.adopting}")
            if c.state.status == "restarting":
                if not force:
                    raise errors.Conflict(
                        f"You cannot remove a restarting container {c.id}. Stop the container "
                        "before attempting removal or force remove")
                self._cancel_restart(c, live)
            if c.state.status in ("running", "paused", "restarting") and live.shim is not None:
                if not force:
                    raise errors.Conflict(
                        f"You cannot remove a running container {c.id}. Stop the container "
                        "before attempting removal or force remove")
                c.manually_stopped = True  # no restart policy between the kill and the removal
                await self._signal_quietly(c, live.shim, _signal.SIGKILL)
                await self._thaw_for_stop(c, live)  # a frozen process dies only once thawed
                await live.exited.wait()
            c.state.status = "removing"
            if self._networks is not None:
                await self._networks.release(c.id)
            # The runtime's delete (its state, the cgroups) overlaps the snapshot's removal;
            # the snapshot's files are deleted with the other directories, after the answer.
            rootfs, _ = await asyncio.gather(asyncio.to_thread(self._images.detach_rootfs, c.id),
                                             self._released(live))
            if volumes and self._volumes is not None:
                # Pending from here: a crash before they are deleted below leaves them to the
                # next start (VolumeService.collect_pending), not to nobody.
                self._volumes.pend([n for n in self._volumes.anonymous_names(
                    vmounts.from_json(m) for m in c.mount_points)
                    if set(self.volume_usage().get(n, ())) <= {c.id}], c.id)
            self._records.delete(c.id)
            self.checkpoint("removed")
            del self._containers[c.id]
            self._orphan_links(c)
        self._live.pop(c.id, None)
        if volumes and self._volumes is not None:
            for name in self._volumes.anonymous_names(vmounts.from_json(m) for m in c.mount_points):
                if not self.volume_usage().get(name):
                    with contextlib.suppress(errors.BerthError):
                        self._volumes.remove(name)
        for fut in live.removed_waiters:
            if not fut.done():
                fut.set_result(c.state.exit_code)
        for fut in live.exit_waiters:
            if not fut.done():
                fut.set_result(c.state.exit_code)
        self.on_event("destroy", c)
        # The directories go last and off the event loop: the record is gone, so nothing can
        # reach them, and rmdir on this ext4 costs 1-3 ms each (``run --rm`` waits for
        # "removed", which is answered above).
        await asyncio.to_thread(self._remove_dirs, c, rootfs)

    def remove_link(self, name: str) -> None:
        """``rm --link /container/alias``: drop one legacy link (its environment and hosts
        entry go at the container's next start)."""
        parent_name, sep, alias = name.strip("/").rpartition("/")
        if not sep:
            self.get(name)  # a container's own name is no link: 404 if missing, else refused
            raise errors.Conflict("Conflict, cannot remove the default link name of the container")
        try:
            c = self.get(parent_name)
        except errors.NotFound:
            raise errors.NotFound(f"No such container: {name}") from None
        kept = links.without(c.host_config, alias)
        if kept is None:
            raise errors.NotFound(f"No such container: {name}")
        c.host_config["Links"] = kept or None
        self._save(c)

    def _orphan_links(self, target: Container) -> None:
        """Leave the links to ``target``, just removed, dangling in their linkers (as dockerd:
        the linker can no longer start until berthd restarts)."""
        for p in self._containers.values():
            dangling = links.orphan(p.host_config, target)
            if dangling is not None:
                p.host_config["Links"] = dangling
                self._save(p)

    def _remove_dirs(self, c: Container, rootfs: Path | None) -> None:
        with contextlib.suppress(errors.BerthError):
            ipcshm.release(c)  # never delete into a mounted tmpfs, nor leave the mount behind
        if rootfs is not None:
            shutil.rmtree(rootfs, ignore_errors=True)
        shutil.rmtree(c.paths.bundle, ignore_errors=True)
        self._cleanup_state_dir(c)

    # ---- wait / attach / resize / logs --------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Wait for ``condition`` (not-running, next-exit, removed) and return the exit code."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise errors.InvalidArgument(f"invalid condition: {condition!r}")
        c = self.get(ref)
        live = self._live_of(c)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        if condition == "removed":
            live.removed_waiters.append(fut)
        else:
            if condition in ("not-running", "") and not c.state.running:
                return c.state.exit_code
            live.exit_waiters.append(fut)
        try:
            return await fut
        finally:
            with contextlib.suppress(ValueError):
                live.exit_waiters.remove(fut)
            with contextlib.suppress(ValueError):
                live.removed_waiters.remove(fut)

    async def attach(self, ref: str, stdin: bool, stdout: bool, stderr: bool) -> AttachStreams:
        """Attach to a running container, or register to be attached at its next start."""
        c = self.get(ref)
        live = self._live_of(c)
        self._refuse_while_adopting(c, live, "attach to")
        self.on_event("attach", c)
        if c.state.status == "running" and live.shim is not None:
            reader, writer = await live.shim.attach(stdin, stdout, stderr)
            return AttachStreams(reader, writer)
        fut: asyncio.Future[AttachStreams] = asyncio.get_running_loop().create_future()
        live.pending_attach.append(((stdin, stdout, stderr), fut))
        try:
            return await fut
        finally:
            live.pending_attach[:] = [p for p in live.pending_attach if p[1] is not fut]

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        self._refuse_while_adopting(c, live, "resize")
        if c.state.status != "running" or live.shim is None:
            raise errors.Conflict(f"Container {c.id} is not running")
        await live.shim.resize(height, width)

    def logs(self, ref: str, *, follow: bool, since: float | None, until: float | None,
             tail: int | None) -> AsyncIterator[jsonlog.LogEntry]:
        """The container's log entries. A missing container or a log that cannot be read is
        raised here, before any entry: the API answers it with an error status, and sends
        a stream's headers before its first entry, which may be hours away."""
        c = self.get(ref)
        if c.host_config.get("LogConfig", {}).get("Type") == "none":
            raise errors.InvalidArgument(
                'configured logging driver does not support reading')
        return self._log_entries(c, follow=follow, since=since, until=until, tail=tail)

    async def _log_entries(self, c: Container, *, follow: bool, since: float | None,
                           until: float | None, tail: int | None) -> AsyncIterator[jsonlog.LogEntry]:
        path = c.paths.log
        since_ns = int(since * 1e9) if since else None
        until_ns = int(until * 1e9) if until else None
        if not follow or not c.state.running:
            # In batches: a 100 MB log must stream through berthd, not be loaded into it.
            entries = jsonlog.read(path, since=since_ns, until=until_ns, tail=tail)
            while batch := await asyncio.to_thread(_take, entries, 512):
                for entry in batch:
                    yield entry
            return
        live = self._live_of(c)
        async for entry in jsonlog.follow(path, since=since_ns, until=until_ns, tail=tail,
                                          until_exited=live.exited):
            yield entry

    # ---- running-container control: pause, rename, top, update, exec plumbing ----------

    def running_shim(self, c: Container) -> shim_client.ShimClient:
        """The shim of a running, unpaused container; Conflict otherwise (exec, update)."""
        live = self._live_of(c)
        self._refuse_while_adopting(c, live, "exec in")
        if c.state.status == "paused":
            raise errors.Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status != "running" or live.shim is None:
            raise errors.Conflict(f"Container {c.id} is not running")
        return live.shim

    def shim_or_none(self, c: Container) -> shim_client.ShimClient | None:
        return self._live.get(c.id, _Live()).shim

    def emit_exec_event(self, c: Container, action: str, exec_id: str,
                        exit_code: int | None = None) -> None:
        attrs = {"execID": exec_id}
        if exit_code is not None:
            attrs["exitCode"] = str(exit_code)
        self.on_event_attrs(action, c, attrs)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        async with live.lock:
            self._refuse_while_adopting(c, live, "pause")
            if c.state.status == "paused":
                raise errors.Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running" or live.shim is None:
                raise errors.Conflict(f"Container {c.id} is not running")
            await live.shim.pause()
            c.state.status = "paused"
            self._save_state(c)
        self.on_event("pause", c)

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        live = self._live_of(c)
        async with live.lock:
            self._refuse_while_adopting(c, live, "unpause")
            if c.state.status != "paused" or live.shim is None:
                raise errors.Conflict(f"Container {c.id} is not paused")
            await live.shim.resume()
            c.state.status = "running"
            self._save_state(c)
        self.on_event("unpause", c)

    async def _thaw_for_stop(self, c: Container, live: _Live) -> None:
        # As moby: a paused container is thawed once signalled, so the signal is acted upon.
        if c.state.status == "paused" and live.shim is not None:
            with contextlib.suppress(errors.BerthError):
                await live.shim.resume()
            if c.state.status == "paused":
                c.state.status = "running"
                self._save_state(c)

    def keep(self, ref: str) -> None:
        """A build step's container that the build keeps (``--rm=false``) becomes an ordinary
        one: berthd's start no longer removes it."""
        c = self.get(ref)
        if c.transient:
            c.transient = False
            self._save(c)

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise errors.InvalidArgument("Neither old nor new names may be empty")
        # moby words a refused new name as the failed allocation of "/name"
        prefix = "Error when allocating new name: "
        try:
            name = ids.validate_container_name("/" + new_name.removeprefix("/"))
        except errors.InvalidArgument as err:
            raise errors.InvalidArgument(prefix + str(err)) from err
        if name == c.name:
            raise errors.InvalidArgument("Renaming a container with the same name as its current "
                                         "name")
        try:
            self._check_name_free(name)
        except errors.Conflict as err:
            raise errors.Conflict(prefix + str(err)) from err
        old = c.name
        c.name = name
        try:
            self._save(c)
        except BaseException:
            c.name = old
            raise
        self.on_event_attrs("rename", c, {"oldName": "/" + old})

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        """``docker top``: host ``ps`` output limited to the container's processes."""
        c = self.get(ref)
        live = self._live_of(c)
        self._refuse_while_adopting(c, live, "list the processes of")
        if c.state.status not in ("running", "paused") or live.shim is None:
            raise errors.Conflict(f"Container {c.id} is not running")
        pids = set(await live.shim.pids())
        return await asyncio.to_thread(ps_table, ps_args or "-ef", pids)

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """``docker update``: new limits in HostConfig, applied live when running."""
        c = self.get(ref)
        live = self._live_of(c)
        async with live.lock:
            self._refuse_while_adopting(c, live, "update")
            new_host, resources = apply_update(c.host_config, body, c.state.status, c.id)
            if c.state.status in ("running", "paused") and live.shim is not None and resources:
                await live.shim.update(resources)
            c.host_config = new_host
            self._save(c)
        self.on_event("update", c)
        return []

    # ---- views --------------------------------------------------------------------------

    def decorate_inspect(self, c: Container, body: dict[str, Any]) -> dict[str, Any]:
        """Fill inspect's NetworkSettings and Mounts from the network and volume services."""
        running = c.state.status in ("running", "paused")
        if self._networks is not None:
            body["NetworkSettings"] = self._networks.settings(c, running)
        if self._volumes is not None and c.mount_points:
            points = [vmounts.from_json(m) for m in c.mount_points]
            with contextlib.suppress(errors.NotFound):
                body["Mounts"] = vmounts.inspect_view(points, self._volumes.paths(points))
        if c.host_config.get("Links"):
            body["HostConfig"] = {**body["HostConfig"],
                                  "Links": links.inspect_view(c, self.get)}
        with contextlib.suppress(errors.NotFound):
            data = _overlay_dirs(self._images.rootfs_mounts(c.id), c.paths.bundle / "rootfs")
            if data:
                body["GraphDriver"] = {"Name": "overlay2", "Data": data}
        return body

    def summaries(self, items: Iterable[Container], sized: bool = False) -> list[dict[str, Any]]:
        """ps rows; the network state is read once for all of them."""
        view = self._networks.view() if self._networks is not None else None
        return [self.decorate_summary(c, c.summary(self.sizes(c) if sized else None), view) for c in items]

    def decorate_summary(self, c: Container, body: dict[str, Any],
                         view: NetworkView | None = None) -> dict[str, Any]:
        running = c.state.status in ("running", "paused")
        if self._networks is not None:
            body["Ports"], body["NetworkSettings"]["Networks"] = self._networks.summary(c, running, view)
        if self._volumes is not None and c.mount_points:
            points = [vmounts.from_json(m) for m in c.mount_points]
            with contextlib.suppress(errors.NotFound):
                body["Mounts"] = vmounts.inspect_view(points, self._volumes.paths(points))
        return body

    def port_mappings(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        if self._networks is None or c.state.status not in ("running", "paused"):
            return {}
        return dict(self._networks.settings(c, True)["Ports"])

    # ---- list ---------------------------------------------------------------------------

    def sizes(self, c: Container) -> dict[str, int]:
        """``SizeRw`` (bytes in the container's writable layer) and ``SizeRootFs`` (plus the image)."""
        try:
            upper = self._images.upper_dir(c.id)
            rw = containerlist.tree_size(upper, skip=initlayer.pristine(upper))
        except errors.NotFound:  # a crash between a removal's snapshot detach and its record's
            rw = 0
        try:
            image_size = int(self._images.resolve(c.image_id).size)
        except errors.NotFound:
            image_size = 0
        return {"rw": rw, "rootfs": rw + image_size}

    def list_containers(self, all: bool, limit: int | None,
                        filters: dict[str, list[str]]) -> list[Container]:
        """``docker ps``'s containers (``berth.services.containerlist``)."""
        return containerlist.select(self._containers.values(), all, limit, filters,
                                    image_id_of=lambda ref: self._images.resolve(ref).id,
                                    created_of=lambda ref: self.get(ref).created)


def _overlay_dirs(mounts: Sequence[Mount], merged: Path) -> dict[str, str] | None:
    """inspect's GraphDriver.Data from the rootfs's overlay mount, as dockerd's overlay2
    shows it (MergedDir: where the shim mounts it for runc/crun; berth's own runtime mounts
    it only inside the container's mount namespace)."""
    for m in mounts:
        if m.type == "overlay":
            opts = dict(o.split("=", 1) for o in m.options if "=" in o)
            if "upperdir" in opts:
                return {"LowerDir": opts.get("lowerdir", ""), "MergedDir": str(merged),
                        "UpperDir": opts["upperdir"], "WorkDir": opts.get("workdir", "")}
    return None


def _own_volumes(paths: Iterable[str], remap: Remap) -> None:
    """Named volumes still owned by host root go to the mapped root (Docker creates them so)."""
    for path in paths:
        st = os.stat(path)
        if st.st_uid == 0 and st.st_gid == 0:
            os.chown(path, remap.root_uid, remap.root_gid)


def _take(it: Iterator[jsonlog.LogEntry], n: int) -> list[jsonlog.LogEntry]:
    return list(itertools.islice(it, n))


def _exit_code_for(message: str) -> int:
    low = message.lower()
    if "executable file not found" in low or "no such file" in low:
        return 127
    if "permission denied" in low:
        return 126
    return 128


def _parse_size(text: str) -> int:
    if not text:
        return 0
    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().rstrip("b") or "0"
    mult = units.get(t[-1], 1) if not t[-1].isdigit() else 1
    num = t[:-1] if not t[-1].isdigit() else t
    try:
        return int(float(num) * mult)
    except ValueError:
        raise errors.InvalidArgument(f"invalid max-size: {text}") from None
