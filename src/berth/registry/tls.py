"""Transport security per registry host: certs.d CA directories and the insecure rule.

Like Docker's ``/etc/docker/certs.d``: ``<certs_root>/<host[:port]>/*.crt`` are extra CAs
for that registry, ``*.cert`` + ``*.key`` a client certificate. Plain HTTP is allowed only
for loopback hosts and hosts listed as insecure (then TLS is tried first, without
verification, and HTTP is the fallback).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RegistryOptions", "allows_plain_http", "ssl_context"]


@dataclass(frozen=True)
class RegistryOptions:
    """berthd's registry settings (flags ``--registry-certs-dir``, ``--insecure-registry``)."""

    certs_dir: Path = Path("/etc/berth/certs.d")
    insecure: tuple[str, ...] = field(default_factory=tuple)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allows_plain_http(host: str, opts: RegistryOptions) -> bool:
    name = _hostname(host)
    if name == "localhost" or host in opts.insecure or name in opts.insecure:
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    if addr.is_loopback:
        return True
    for entry in opts.insecure:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def ssl_context(host: str, opts: RegistryOptions, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    d = opts.certs_dir / host
    if d.is_dir():
        for ca in sorted(d.glob("*.crt")):
            ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(d.glob("*.cert")):
            key = cert.with_suffix(".key")
            if key.exists():
                ctx.load_cert_chain(str(cert), str(key))
    return ctx
