"""A container's network identity files: ``hostname``, ``hosts`` and ``resolv.conf`` in its
bundle, written at create (specgen bind-mounts them over the image's /etc files).

Owns where each comes from by network mode: ``container:<id>`` copies the target's three
files; a bridge or user network gets what the network service renders (its names and
aliases, the embedded DNS server on user networks); ``host`` the host's name and
/etc/hosts; ``none`` (or no network service) localhost entries only. resolv.conf is the
host's unless the network service rewrote it. It decides nothing about networking itself.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from berth.services.container_model import Container
from berth.services.networks import NetworkService

__all__ = ["write_etc_files"]

_LOCAL_HOSTS = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                "ff02::2\tip6-allrouters\n")


def _host_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    """Write unless ``path`` already holds ``text``: every start renders the three files again
    and they rarely change between create and start (``none``, ``host``); reading and comparing
    one costs a third of truncating and rewriting it (~20 vs ~60 us here), and no journal work."""
    try:
        if path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    path.write_text(text)


def write_etc_files(c: Container, target: Container | None, networks: NetworkService | None,
                    link_hosts: Sequence[tuple[str, str]] = ()) -> None:
    """Write ``c``'s files; ``target`` is the container a ``container:<id>`` mode joins
    (None when it is gone or the mode is another); ``link_hosts``: (names, address) of its
    legacy links."""
    mode = c.network_mode()
    joins = mode.startswith("container:")
    if joins and target is not None:
        c.paths.hostname.write_text(target.paths.hostname.read_text())
        shutil.copyfile(target.paths.hosts, c.paths.hosts)
        shutil.copyfile(target.paths.resolv_conf, c.paths.resolv_conf)
        return
    if networks is not None and mode not in ("host", "none") and not joins:
        hosts, resolv = networks.etc_files(c, _host_resolv_conf(), link_hosts)
        _write(c.paths.hostname, c.config["Hostname"] + "\n")
        _write(c.paths.hosts, hosts)
        _write(c.paths.resolv_conf, resolv)
        return
    host_net = mode == "host"
    _write(c.paths.hostname, (os.uname().nodename if host_net else c.config["Hostname"]) + "\n")
    if host_net:
        shutil.copyfile("/etc/hosts", c.paths.hosts)
    else:
        _write(c.paths.hosts, _LOCAL_HOSTS)
    _write(c.paths.resolv_conf, _host_resolv_conf())
