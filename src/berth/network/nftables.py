"""berthd's nftables table: outbound NAT, published ports, isolation between networks.

Each daemon owns exactly one table (``ip berth-<hash of its data root>``), so daemons with
different data roots never touch each other's rules. The table is rendered whole from the
current state (pure :func:`render`) and swapped in atomically by one transaction
(:func:`apply`): there is no incremental bookkeeping that could leave a stale rule behind,
and reconciliation after a crash is just another apply. The transaction runs in-process
through libnftables (what ``nft -f`` is a front end of: the same parser and one batch),
sparing a process per published-port start and stop; without the library, ``nft -f -``.
"""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.errors import Internal

__all__ = ["BridgeRule", "PortRule", "Ruleset", "apply", "delete", "render", "table_name"]


@dataclass(frozen=True)
class BridgeRule:
    """One network's bridge and subnet; ``internal`` networks get no route out."""

    bridge: str
    subnet: str
    internal: bool


@dataclass(frozen=True)
class PortRule:
    """host_ip:host_port/proto -> container_ip:container_port (host_ip "" = every address)."""

    host_ip: str
    host_port: int
    proto: str
    container_ip: str
    container_port: int


@dataclass(frozen=True)
class Ruleset:
    bridges: Sequence[BridgeRule]
    ports: Sequence[PortRule]


def table_name(data_root: Path) -> str:
    return "berth-" + hashlib.sha256(str(data_root.resolve()).encode()).hexdigest()[:10]


def render(table: str, rules: Ruleset) -> str:
    """The nft script that replaces ``table`` with ``rules``."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}", f"table ip {table} {{"]
    lines += ["  chain portmap {"]
    for p in rules.ports:
        dst = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0") else ""
        lines.append(f"    {dst}{p.proto} dport {p.host_port} "
                     f"dnat to {p.container_ip}:{p.container_port}")
    lines += ["  }",
              "  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;",
              "    fib daddr type local jump portmap", "  }",
              "  chain output {", "    type nat hook output priority -100; policy accept;",
              "    fib daddr type local jump portmap", "  }",
              "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;"]
    for b in rules.bridges:
        # Loopback and same-bridge (hairpin) clients of a published port: the reply must come
        # back through the host to be un-NATed.
        lines.append(f'    oifname "{b.bridge}" ct status dnat ip saddr 127.0.0.0/8 masquerade')
        lines.append(f'    oifname "{b.bridge}" ct status dnat ip saddr {b.subnet} masquerade')
        if not b.internal:
            lines.append(f'    ip saddr {b.subnet} oifname != "{b.bridge}" masquerade')
    lines += ["  }",
              "  chain forward {", "    type filter hook forward priority filter; policy accept;"]
    for b in rules.bridges:
        for other in rules.bridges:
            if other.bridge != b.bridge:
                lines.append(f'    iifname "{b.bridge}" oifname "{other.bridge}" drop')
        if b.internal:
            lines.append(f'    iifname "{b.bridge}" oifname != "{b.bridge}" drop')
            lines.append(f'    oifname "{b.bridge}" iifname != "{b.bridge}" drop')
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def _nft(script: str) -> None:
    try:
        lib = ctypes.CDLL("libnftables.so.1")
    except OSError:
        proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
        if proc.returncode != 0:
            raise Internal(f"nftables: {proc.stderr.strip()}") from None
        return
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    ctx = lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
    if not ctx:
        raise Internal("nftables: cannot create a libnftables context")
    try:
        # Buffered: the library's messages come back here instead of berthd's stdout/stderr.
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if lib.nft_run_cmd_from_buffer(ctx, script.encode()) != 0:
            message = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
            raise Internal(f"nftables: {message.strip()}")
    finally:
        lib.nft_ctx_free(ctx)


def apply(table: str, rules: Ruleset) -> None:
    _nft(render(table, rules))


def delete(table: str) -> None:
    _nft(f"table ip {table} {{}}\ndelete table ip {table}\n")
