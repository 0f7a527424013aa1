"""The text of a container's /etc/hosts and /etc/resolv.conf, pure (the caller writes them).

Docker's rules: hosts has the localhost block, ``--add-host`` entries, then the container's
own addresses with its hostname; resolv.conf takes ``--dns``/``--dns-search``/``--dns-option``
over the host's, drops the host's loopback nameservers (unreachable from a container's
namespace) and, on user networks, points at the network's embedded DNS responder.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from berth.errors import InvalidArgument

__all__ = ["hosts_file", "parse_extra_host", "resolv_conf"]

_LOCAL = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n")


def parse_extra_host(entry: str, gateway: str) -> tuple[str, str]:
    """``name:ip`` (or ``name=ip``; ``host-gateway`` = the network's gateway) -> (name, ip)."""
    sep = "=" if "=" in entry else ":"
    name, _, ip = entry.partition(sep)
    if ip == "host-gateway":
        ip = gateway
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidArgument(f"invalid IP address in add-host: {ip!r}") from None
    if not name:
        raise InvalidArgument(f"bad format for add-host: {entry!r}")
    return name, ip.strip("[]")


def hosts_file(extra: Sequence[tuple[str, str]], own: Sequence[tuple[str, str]]) -> str:
    """``own`` = (address, names) of the container itself."""
    out = _LOCAL
    out += "".join(f"{ip}\t{name}\n" for name, ip in extra)
    out += "".join(f"{ip}\t{names}\n" for ip, names in own)
    return out


def resolv_conf(host_text: str, dns: Sequence[str], search: Sequence[str],
                options: Sequence[str], embedded: str | None) -> str:
    host_ns: list[str] = []
    host_search: list[str] = []
    host_opts: list[str] = []
    for line in host_text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            try:
                if not ipaddress.ip_address(fields[1]).is_loopback:
                    host_ns.append(fields[1])
            except ValueError:
                continue
        elif fields[0] in ("search", "domain"):
            host_search = fields[1:]
        elif fields[0] == "options":
            host_opts += fields[1:]
    servers = [embedded] if embedded else list(dns) or host_ns or ["8.8.8.8", "8.8.4.4"]
    out = [f"nameserver {s}" for s in servers]
    if search or host_search:
        out.append("search " + " ".join(search or host_search))
    opts = list(options) or host_opts
    if opts:
        out.append("options " + " ".join(opts))
    return "\n".join(out) + "\n"
