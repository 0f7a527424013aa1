"""berthd's typed configuration, parsed from dockerd-style flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from berth.daemon.tls import TCPAddress, TLSConfig, check_listeners, parse_tcp
from berth.errors import InvalidArgument

__all__ = ["DaemonConfig", "parse_args"]

DEFAULT_HOST = "unix:///run/berth/berth.sock"


@dataclass(frozen=True)
class DaemonConfig:
    socket_path: Path
    data_root: Path
    exec_root: Path
    pidfile: Path
    log_level: str
    cgroup_parent: str
    socket_group: str
    bridge: str = "berth0"
    bip: str = "10.77.0.1/16"
    address_pools: tuple[str, ...] = ("base=10.78.0.0/15,size=24",)
    registry_certs_dir: Path = Path("/etc/berth/certs.d")
    insecure_registries: tuple[str, ...] = ()
    metrics_addr: str = "127.0.0.1:9323"
    tcp_hosts: tuple[TCPAddress, ...] = ()
    tls: TLSConfig = field(default_factory=TLSConfig)
    userns_remap: str = ""
    """``--userns-remap``: '' (off), ``default`` or ``user[:group]`` (berth.security.userns)."""


def _socket_path(host: str) -> Path:
    if host.startswith("unix://"):
        return Path(host.removeprefix("unix://"))
    if host.startswith("/"):
        return Path(host)
    raise InvalidArgument(f"unsupported host {host!r}: berthd listens on unix sockets only")


def parse_args(argv: list[str] | None = None) -> DaemonConfig:
    p = argparse.ArgumentParser(prog="berthd", description="berth container engine daemon")
    p.add_argument("-H", "--host", action="append", default=[],
                   help="where to listen: unix:///path, or tcp://HOST:PORT (non-loopback only "
                        "with --tlsverify); repeatable")
    p.add_argument("--tlsverify", action="store_true",
                   help="TCP clients must present a certificate signed by --tlscacert")
    p.add_argument("--tlscacert", default=None, help="CA that signs client certificates")
    p.add_argument("--tlscert", default=None, help="server certificate (PEM)")
    p.add_argument("--tlskey", default=None, help="server key (PEM)")
    p.add_argument("--data-root", default="/var/lib/berth", help="root of persistent state")
    p.add_argument("--exec-root", default="/run/berth", help="root of execution state")
    p.add_argument("-p", "--pidfile", default=None,
                   help="path of the daemon PID file (default <exec-root>/berthd.pid)")
    p.add_argument("-l", "--log-level", default="info",
                   choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("--cgroup-parent", default="berth", help="parent cgroup of all containers")
    p.add_argument("-G", "--group", default="berth",
                   help="group that may use the socket (if it exists)")
    p.add_argument("--userns-remap", default="",
                   help="run containers in user namespaces: 'default' (user berthremap, created "
                        "if missing) or user[:group] with /etc/subuid and /etc/subgid ranges")
    p.add_argument("--registry-certs-dir", default="/etc/berth/certs.d",
                   help="per-registry CA dirs: <dir>/<host:port>/ca.crt (like Docker's certs.d)")
    p.add_argument("--insecure-registry", action="append", default=[],
                   help="registry host[:port] or CIDR allowed over plain HTTP / unverified TLS")
    p.add_argument("-b", "--bridge", default="berth0",
                   help="interface of the default bridge network (created if missing)")
    p.add_argument("--bip", default="10.77.0.1/16",
                   help="address and prefix of the default bridge (its subnet)")
    p.add_argument("--default-address-pool", action="append", default=[],
                   help="base=CIDR,size=N: where user-defined networks take their subnets")
    p.add_argument("--metrics-addr", default="127.0.0.1:9323",
                   help="host:port of the monitoring dashboard and /metrics (empty = off)")
    ns = p.parse_args(argv)
    if len(ns.bridge) > 15:
        raise InvalidArgument(f"bridge name {ns.bridge!r} is longer than 15 characters")
    exec_root = Path(ns.exec_root)
    hosts = list(ns.host) or [DEFAULT_HOST]
    tcp = tuple(parse_tcp(h) for h in hosts if h.startswith("tcp://"))
    unix = [h for h in hosts if not h.startswith("tcp://")] or [DEFAULT_HOST]
    tls = TLSConfig(bool(ns.tlsverify), *(Path(v) if v else None
                                          for v in (ns.tlscacert, ns.tlscert, ns.tlskey)))
    check_listeners(tcp, tls)
    return DaemonConfig(
        tcp_hosts=tcp, tls=tls,
        socket_path=_socket_path(unix[0]), data_root=Path(ns.data_root), exec_root=exec_root,
        pidfile=Path(ns.pidfile) if ns.pidfile else exec_root / "berthd.pid",
        log_level=ns.log_level, cgroup_parent=ns.cgroup_parent.strip("/"), socket_group=ns.group,
        bridge=ns.bridge, bip=ns.bip,
        address_pools=tuple(ns.default_address_pool) or ("base=10.78.0.0/15,size=24",),
        registry_certs_dir=Path(ns.registry_certs_dir),
        insecure_registries=tuple(ns.insecure_registry), metrics_addr=ns.metrics_addr,
        userns_remap=ns.userns_remap)
