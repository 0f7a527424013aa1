"""berthd's composition root: builds every object, serves the API, shuts down cleanly.

Containers are not children of berthd (each has its own shim), so stopping berthd leaves
them running and the next berthd re-adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from berth.build.cache import BuildCache
from berth.daemon import deadline, spoolsweep, tls
from berth.daemon.api.app import make_app
from berth.daemon.api.inflight import INFLIGHT
from berth.daemon.api.routes import build as build_routes
from berth.daemon.api.routes import containers as containers_routes
from berth.daemon.api.routes import events as events_routes
from berth.daemon.api.routes import imagefiles as imagefiles_routes
from berth.daemon.api.routes import images as images_routes
from berth.daemon.api.routes import networks as networks_routes
from berth.daemon.api.routes import registry as registry_routes
from berth.daemon.api.routes import stats as stats_routes
from berth.daemon.api.routes import system as system_routes
from berth.daemon.api.routes import volumes as volumes_routes
from berth.daemon.config import DaemonConfig, parse_args
from berth.daemon.context import DaemonContext
from berth.daemon.monitor.server import MonitorServer, parse_addr
from berth.errors import BerthError
from berth.network import ipam
from berth.registry.tls import RegistryOptions
from berth.security import socketgroup
from berth.security.userns import grant_traversal, resolve_remap
from berth.services.build import BuildService
from berth.services.containerfs import ContainerFilesService
from berth.services.containers import ContainerService, ServiceConfig
from berth.services.distribution import DistributionService
from berth.services.events import EventBus, container_event
from berth.services.images import ImageService
from berth.services.imagetransfer import ImageTransferService
from berth.services.imageusage import ImageUsageService
from berth.services.networks import NetworkConfig, NetworkService
from berth.services.stats import StatsService
from berth.services.volumes import VolumeService
from berth.shim.factoryctl import start_factory, stop_factory, warm_seccomp
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.containers import ContainerRecords
from berth.store.content import ContentStore
from berth.store.metadata import Database
from berth.store.trash import Trash
from berth.volumes.store import VolumeStore

__all__ = ["main", "run"]

_log = logging.getLogger("berthd")

# What a stop gives requests in flight before cancelling them: moby's own grace for the API
# once its daemon has shut down. API calls finish well within it (a create or start takes
# milliseconds to a second); what takes longer (pull, build, stop -t N) is cut short as by a
# crash, which the store is built to survive. Endless answers (events, logs -f, attach) are
# not waited for at all.
_REQUEST_GRACE = 5.0
# aiohttp's own per-connection wait, once the drain has ended every handler it could.
_CONNECTION_CLOSE = 1.0
# What the stop waits for the shim factory's answer and exit: it answers in milliseconds, and
# one that does not (stopped, held by a client that sends nothing) exits with berthd anyway.
_FACTORY_STOP = 2.0
# The whole stop, whatever hangs (berth.daemon.deadline), well under systemd's 90 s stop
# timeout. Every wait of the orderly stop is bounded: the grace (5 s), the drain's unwinding
# (1 s), aiohttp's per-connection wait in each of the API's and the dashboard's runners (1 s
# each), the factory (2 s): 10 s at worst, 7.3 s measured with a request hung through the
# grace and the factory stopped. The deadline leaves 5 s beyond the worst for what is bounded
# only by being quick (cancelling the container tasks, the networks' teardown, the database).
# (The factory had up to 5 s for its answer and 5 more for its exit: 18 s at worst, 10.3 s
# measured.)
_SHUTDOWN_DEADLINE = 15.0


def _claim_pidfile(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError, ValueError):
        other = int(path.read_text().strip())
        if other != os.getpid() and Path(f"/proc/{other}").exists():
            cmdline = Path(f"/proc/{other}/cmdline").read_bytes()
            if b"berth" in cmdline:
                raise BerthError(f"pid file found, ensure berthd is not running or delete {path}")
    path.write_text(f"{os.getpid()}\n")


def _daemon_id(data_root: Path) -> str:
    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        path.write_text(value + "\n")
        return value


def _cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _crash_hook(spec: str) -> Callable[[str, str], None]:
    """Fault injection for crash tests: ``BERTH_CRASH_AT=load:layer`` makes berthd SIGKILL
    itself when a load reaches that step (load: staged, layer, blobs, unpacked; commit and
    import: layer, blobs, unpacked; container: created, removed)."""
    wanted = set(filter(None, spec.split(",")))

    def check(op: str, where: str) -> None:
        if f"{op}:{where}" in wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    return check


async def run(cfg: DaemonConfig) -> None:
    for d in (cfg.data_root, cfg.exec_root, cfg.socket_path.parent):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.data_root, 0o710)
    _claim_pidfile(cfg.pidfile)
    # First: a cp/export mount a killed berthd left on a container's rootfs goes before the
    # recovery below may collect that rootfs.
    spoolsweep.sweep_spool(cfg.data_root / "tmp")
    db = Database(cfg.data_root / "berth.db")
    # rm/rmi answer once the doomed layer is renamed away; its deletion follows (store/trash.py).
    trash = Trash()
    images = ImageService(db, ContentStore(cfg.data_root / "content", trash),
                          OverlaySnapshotter(cfg.data_root / "snapshots", db, trash))
    factory = await start_factory(cfg.exec_root)
    networks = NetworkService(NetworkConfig(
        data_root=cfg.data_root, exec_root=cfg.exec_root, bridge=cfg.bridge,
        bip=ipam.parse_bip(cfg.bip), pools=tuple(ipam.parse_pool(p) for p in cfg.address_pools)), db)
    volumes = VolumeService(VolumeStore(db, cfg.data_root / "volumes"), cfg.data_root / "tmp")
    remap = resolve_remap(cfg.userns_remap)
    if remap is not None:
        grant_traversal(cfg.data_root, remap)
    containers = ContainerService(
        ServiceConfig(data_root=cfg.data_root, exec_root=cfg.exec_root,
                      cgroup_parent=cfg.cgroup_parent, shim_factory=factory,
                      userns=remap),
        ContainerRecords(db), images, networks, volumes)
    volumes.usage = containers.volume_usage
    if factory is not None and (default_seccomp := containers.default_seccomp()) is not None:
        # Compiled by the factory while berthd finishes starting, not by the first container.
        await warm_seccomp(cfg.exec_root, containers.runtime_root, default_seccomp)
    events = EventBus()
    containers.on_event = lambda action, c: events.publish(container_event(action, c))
    containers.on_event_attrs = (
        lambda action, c, attrs: events.publish(container_event(action, c, attrs)))
    images.on_event = lambda action, image_id, attrs: events.emit("image", action, image_id, attrs)
    networks.on_event = lambda action, nid, attrs: events.emit("network", action, nid, attrs)
    # Volume changes may run in worker threads (asyncio.to_thread): hand events to the loop.
    main_loop = asyncio.get_running_loop()

    def volume_event(action: str, name: str, attrs: dict[str, str]) -> None:
        main_loop.call_soon_threadsafe(events.emit, "volume", action, name, attrs)

    volumes.on_event = volume_event
    stats = StatsService(containers.all, cfg.cgroup_parent)
    metrics_addr = parse_addr(cfg.metrics_addr)
    # Networking is reconciled first, from what the records say is running, so containers
    # that restart policies start during containers.restore() are plumbed onto a clean state.
    records = ContainerRecords(db).list()
    await networks.restore({r.id for r in records
                            if (r.data.get("State") or {}).get("Status") in ("running", "paused",
                                                                              "restarting")},
                           {r.id for r in records})
    # Anonymous volumes of a create that died before its record, or of a rm -v that died
    # before deleting them (berth.volumes.store).
    volumes.collect_pending({r.id for r in records},
                            {str(m.get("Name")) for r in records
                             for m in r.data.get("MountPoints") or [] if m.get("Type") == "volume"})
    await containers.restore()
    # What recovery collects (and what a crash left under trash names: content/ingest/*,
    # snapshots/.rm-*) is already out of every namespace a request reads; the trash thread
    # deletes it while berthd serves, so a crash in the middle of removing a large image does
    # not hold up the next start. A stop or crash meanwhile leaves it to the next start.
    await asyncio.to_thread(images.recover, {c.id for c in containers.all()})
    tmp = cfg.data_root / "tmp"
    crash = _crash_hook(os.environ.get("BERTH_CRASH_AT", ""))
    transfer = ImageTransferService(images, tmp, checkpoint=lambda where: crash("load", where))
    images.import_checkpoint = lambda where: crash("import", where)
    containers.checkpoint = lambda where: crash("container", where)
    files = ContainerFilesService(containers, images, tmp,
                                  checkpoint=lambda where: crash("commit", where), volumes=volumes)
    usage = ImageUsageService(images, containers, volumes, BuildCache(db))
    ctx = DaemonContext(daemon_id=_daemon_id(cfg.data_root), data_root=cfg.data_root,
                        exec_root=cfg.exec_root, debug=cfg.log_level == "debug",
                        cgroup_version=_cgroup_version(), containers=containers, images=images,
                        networks=networks, volumes=volumes,
                        distribution=DistributionService(images, RegistryOptions(
                            cfg.registry_certs_dir, cfg.insecure_registries), tmp),
                        events=events, stats=stats)
    ctx.distribution.on_event = (
        lambda action, ref, attrs: events.emit("image", action, ref, attrs))
    tmp_build = cfg.data_root / "tmp" / "build"
    app = make_app([
        lambda r: system_routes.register(r, ctx),
        lambda r: containers_routes.register(r, ctx),
        lambda r: images_routes.register(r, ctx),
        lambda r: build_routes.register(r, BuildService(images, containers, db, tmp_build,
                                                    ctx.distribution), tmp_build),
        lambda r: imagefiles_routes.register(r, transfer, usage, files, tmp),
        lambda r: networks_routes.register(r, ctx),
        lambda r: volumes_routes.register(r, ctx),
        lambda r: registry_routes.register(r, ctx),
        lambda r: stats_routes.register(r, ctx),
        lambda r: events_routes.register(r, ctx),
    ])
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=_CONNECTION_CLOSE)
    await runner.setup()
    with contextlib.suppress(FileNotFoundError):
        cfg.socket_path.unlink()
    site = web.UnixSite(runner, str(cfg.socket_path))
    await site.start()
    # 0660 root:<group>, the group created if missing: no world access to the engine.
    os.chmod(cfg.socket_path, 0o660)
    os.chown(cfg.socket_path, 0, socketgroup.ensure_group(cfg.socket_group))
    _log.info("berthd listening on unix://%s (data root %s)", cfg.socket_path, cfg.data_root)
    tls_context = tls.server_context(cfg.tls)
    for addr in cfg.tcp_hosts:
        await web.TCPSite(runner, addr.host, addr.port, ssl_context=tls_context).start()
        _log.info("berthd listening on tcp://%s:%d (%s)", addr.host, addr.port,
                  "mutual TLS" if tls_context else "loopback, no TLS")
    stats.start()
    monitor = MonitorServer(stats, containers)
    if metrics_addr is not None:
        try:
            await monitor.start(*metrics_addr)
            _log.info("monitoring dashboard on http://%s:%d/", *metrics_addr)
        except OSError as err:  # a busy port must not keep the engine from serving
            _log.error("monitoring dashboard on %s: %s", cfg.metrics_addr, err)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        _log.info("shutting down; containers keep running (live restore)")
        deadline.arm(_SHUTDOWN_DEADLINE)
        await _stop_serving(runner)
        await monitor.stop()
        await stats.stop()
        await runner.cleanup()
        await containers.close()
        await networks.close()
        await stop_factory(cfg.exec_root, wait=_FACTORY_STOP)
        db.close()
        with contextlib.suppress(FileNotFoundError):
            cfg.socket_path.unlink()
        with contextlib.suppress(FileNotFoundError):
            cfg.pidfile.unlink()


async def _stop_serving(runner: web.AppRunner) -> None:
    """Stop accepting connections and requests, then end those in flight (bounded)."""
    for site in list(runner.sites):
        await site.stop()
    # Idle keep-alive connections close now, busy ones after their answer (aiohttp >= 3.10;
    # older ones close them in runner.cleanup).
    pre_shutdown = getattr(runner.server, "pre_shutdown", None)
    if pre_shutdown is not None:
        pre_shutdown()
    report = await runner.app[INFLIGHT].drain(_REQUEST_GRACE)
    if report.streams or report.waited:
        _log.info("requests at shutdown: %d streams ended, %d waited for, %d cancelled after %.0f s%s",
                  report.streams, report.waited, report.cancelled, _REQUEST_GRACE,
                  f", {report.stuck} not ending" if report.stuck else "")


def main(argv: list[str] | None = None) -> None:
    try:
        cfg = parse_args(argv)
    except BerthError as err:
        print(f"berthd: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(cfg.log_level, cfg.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pyroute2 logs every netlink message at debug level: far too much for berthd's log.
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    try:
        asyncio.run(run(cfg))
    except BerthError as err:
        _log.error("%s", err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
