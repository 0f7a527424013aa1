"""Start berthd on demand: when running as root, on the default host only, nothing answers there,
and BERTH_NO_AUTOSTART is not 1.

Owns the decision and the detached spawn. Must never start a daemon for a host the user named.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Mapping

from berth.client.hosts import Host
from berth.errors import Unavailable

__all__ = ["answers", "ensure_daemon", "should_autostart"]

_LOG = "/var/log/berthd.log"


def answers(path: str) -> bool:
    """True when something accepts connections on the unix socket ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect(path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def should_autostart(host: Host, environ: Mapping[str, str], euid: int) -> bool:
    return host.is_default and euid == 0 and environ.get("BERTH_NO_AUTOSTART") != "1"


def ensure_daemon(host: Host, environ: Mapping[str, str], timeout: float = 30.0) -> None:
    """Start berthd if ``should_autostart`` and the socket is silent; wait until it listens."""
    if not should_autostart(host, environ, os.geteuid()) or answers(host.socket_path):
        return
    import subprocess  # only here: every other CLI run skips its import (~5 ms)

    try:
        log = open(_LOG, "ab")  # noqa: SIM115 - handed to the child, closed below
    except OSError:
        log = open(os.devnull, "ab")  # noqa: SIM115
    with log:
        # Own session and no inherited stdio: the daemon must outlive this CLI process.
        proc = subprocess.Popen(
            [sys.executable, "-m", "berth.daemon.main", "--host", host.url],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(host.socket_path):
            return
        if proc.poll() is not None:
            raise Unavailable(f"berthd exited with status {proc.returncode}; see {_LOG}")
        time.sleep(0.05)
    raise Unavailable(f"berthd did not start listening on {host.url} within {timeout:.0f}s")
