"""berthd's TCP doors: which TCP addresses it may listen on and the mutual-TLS context.

A TCP listener needs ``--tlsverify`` with a CA (client certificates signed by it are the only
way in), a server certificate and key; without it only loopback addresses are allowed, so
the engine — root on this host to whoever reaches it — is never an open network door.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = ["TCPAddress", "TLSConfig", "check_listeners", "parse_tcp", "server_context"]


@dataclass(frozen=True)
class TCPAddress:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class TLSConfig:
    verify: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


def parse_tcp(host: str) -> TCPAddress:
    """``tcp://HOST:PORT`` (IPv6 in brackets); the port is required."""
    rest = host.removeprefix("tcp://")
    addr, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid tcp address {host!r}: want tcp://HOST:PORT")
    addr = addr.strip("[]") or "0.0.0.0"
    return TCPAddress(addr, int(port))


def check_listeners(addresses: tuple[TCPAddress, ...], tls: TLSConfig) -> None:
    """Refuse a setup that would expose the API: non-loopback TCP without --tlsverify."""
    if tls.verify and not (tls.ca and tls.cert and tls.key):
        raise InvalidArgument("--tlsverify needs --tlscacert, --tlscert and --tlskey")
    for a in addresses:
        if not a.loopback and not tls.verify:
            raise InvalidArgument(f"refusing to listen on tcp://{a.host}:{a.port} without "
                                  f"--tlsverify: anyone reaching it would be root on this host")


def server_context(tls: TLSConfig) -> ssl.SSLContext | None:
    """TLS 1.2+ with client certificates required and verified against the CA, or None."""
    if not tls.verify:
        return None
    assert tls.ca and tls.cert and tls.key  # check_listeners ran first
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(str(tls.cert), str(tls.key))
        ctx.load_verify_locations(cafile=str(tls.ca))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"loading TLS files: {exc}") from exc
    return ctx
