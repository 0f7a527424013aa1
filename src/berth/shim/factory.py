"""The shim factory: a pre-initialised process that forks one shim per container.

Starting a fresh interpreter per container costs ~100 ms of imports and a few MB of private
memory. The factory imports the shim and the runtime once, then forks: each shim starts in
about a millisecond and shares the factory's pages copy-on-write. The factory is detached
from berthd (own session) and each shim is double-forked away from the factory, so neither
berthd nor the factory is ever a container's parent: either may stop without touching a
running container.

Protocol on ``<exec-root>/shim-factory.sock``: the client sends one JSON line
``{"state_dir": "..."}`` (shim.json already written there), for berth's runtime with
``"cgroups": {"path": <config.json's linux.cgroupsPath>, "id": <container id>}`` so the
intermediate child makes the container's cgroups without reading either file; the forked shim
answers on the same connection with the readiness line the shim reports (see berth.shim.main),
then closes it. ``{"op": "warm_seccomp", "runtime_root": "...", "seccomp": {...}}`` compiles that
``linux.seccomp`` object into the runtime's program cache in a child (answered at once), so
the first container with it does not pay libseccomp's ~50 ms. ``{"op": "stop"}`` makes the
factory exit. The factory never imports berth.daemon.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

# The runtime imports hashlib only when a spec has seccomp (to check its cached program): in
# a shim that import mapped OpenSSL's libcrypto and cost ~1.2 MB private per container.
import hashlib  # noqa: F401
import json
import os
import select
import signal
import socket
import sys
from pathlib import Path

from berth import __version__
from berth.errors import RuntimeFailure

# Imported here, not in the forked shim: that is the point of the factory. The cgroup
# managers are imported lazily by the runtime; left to the shim, every container paid for
# their import (compiled from source where no .pyc is written) with ~1 MB of private memory.
# So are apparmor, console, seccompnotify, userns and libseccomp's bindings, which the
# runtime imports only when a spec uses them (for berth-runtime's start-up).
from berth.runtime import _libseccomp as _seccomp_bindings  # noqa: F401
from berth.runtime import apparmor as _apparmor  # noqa: F401
from berth.runtime import console as _console  # noqa: F401
from berth.runtime import container as _runtime_container  # noqa: F401
from berth.runtime import seccompnotify as _seccompnotify  # noqa: F401
from berth.runtime import userns as _userns  # noqa: F401
from berth.runtime.cgroups import prime as cgroupprime
from berth.runtime.cgroups import v1 as _cgroups_v1  # noqa: F401
from berth.runtime.cgroups import v2 as _cgroups_v2  # noqa: F401
from berth.runtime.seccomp import CacheKeys, cache_dir, cache_keys, program_for
from berth.shim import cgroupsahead
from berth.shim import main as shim_main

__all__ = ["PID_NAME", "SOCKET_NAME", "main", "serve"]

# Also in berth.shim.factoryctl, which the factory does not import (it brings asyncio and logging).
SOCKET_NAME = "shim-factory.sock"
PID_NAME = "shim-factory.pid"
_LOG_NAME = "shim-factory.log"


def _spawn_shim(conn: socket.socket, state_dir: Path, seccomp_keys: CacheKeys | None,
                cgroups: tuple[str, str] | None) -> None:
    """In a child of the factory: fork the shim (reparented to init) and leave.

    ``cgroups``: (cgroupsPath, container id) from the request, when berthd sent them."""
    ahead_r, ahead_w = os.pipe()
    if os.fork() != 0:
        # Idle otherwise: make the container's cgroups while no migration holds the cgroup
        # mutex, then take the migration lock's slow start now, not in the container's join.
        conn.close()
        os.close(ahead_r)
        if cgroups is not None:
            cgroupsahead.make_at(*cgroups, ahead_w)
        else:
            cgroupsahead.make(state_dir, ahead_w)
        cgroupprime.prime()
        os._exit(0)
    code = 1
    try:
        os.close(ahead_w)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.chdir("/")
        ready_fd = os.dup(conn.fileno())  # non-inheritable, like the pipe of a spawned shim
        conn.close()
        devnull = os.open("/dev/null", os.O_RDWR)
        log = os.open(state_dir / shim_main.LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        os.close(devnull)
        os.close(log)
        code = shim_main.run_shim(state_dir, ready_fd, ahead_r, seccomp_keys)
    finally:
        os._exit(code)


def _warm_seccomp(runtime_root: Path, seccomp: dict[str, object], keys: CacheKeys | None) -> None:
    """In a child of the factory: compile ``seccomp`` into the runtime's cache and leave.

    A child, so the factory's pages (shared by every shim) stay as they were."""
    code = 1
    try:
        os.setsid()
        program_for({"seccomp": seccomp}, cache_dir(runtime_root), keys)
        code = 0
    except Exception as exc:  # a cold cache only costs time: say why, go on
        print(f"shim factory: seccomp warm-up: {exc}", file=sys.stderr)
    finally:
        os._exit(code)


def _cgroups_of(request: dict[str, object]) -> tuple[str, str] | None:
    """The request's ``"cgroups": {"path": ..., "id": ...}``, if well formed."""
    cgroups = request.get("cgroups")
    if not isinstance(cgroups, dict):
        return None
    path, cid = cgroups.get("path"), cgroups.get("id")
    if not isinstance(path, str) or not isinstance(cid, str) or not path:
        return None
    return path, cid


def _read_line(conn: socket.socket, limit: int = 65536) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def serve(listener: socket.socket, owner_pid: int | None = None) -> None:
    """Fork shims on request until told to stop or until ``owner_pid`` (berthd) is gone.

    Following berthd's life means a berthd killed with -9 leaves no factory behind; its
    containers' shims are not the factory's children and keep running.
    """
    # Children are reaped by the kernel: the factory never waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # libseccomp mapped and relocated once here (ctypes never dlcloses): a shim's dlopen of
    # it then only takes a reference. Missing, the runtime reports it when a container needs it.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libseccomp.so.2")
    # Asked once here and handed to every shim: a create then neither opens libseccomp for its
    # version nor (for a warmed profile) dumps and hashes the profile (~0.9 ms of each start).
    seccomp_keys: CacheKeys | None = None
    with contextlib.suppress(RuntimeFailure):
        seccomp_keys = cache_keys()
    # Objects that exist now stay out of the cyclic GC, so forked shims keep sharing them.
    gc.freeze()
    owner = None
    if owner_pid is not None:
        try:
            owner = os.pidfd_open(owner_pid)
        except ProcessLookupError:
            return
    watched: list[int] = [listener.fileno(), *([owner] if owner is not None else [])]
    while True:
        ready, _, _ = select.select(watched, [], [])
        if owner is not None and owner in ready:
            return
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                request = json.loads(_read_line(conn) or b"{}")
            except (OSError, ValueError):
                continue
            if request.get("op") == "stop":
                conn.sendall(b'{"ok": true}\n')
                return
            if request.get("op") == "version":
                conn.sendall(json.dumps({"ok": True, "version": __version__}).encode() + b"\n")
                continue
            if request.get("op") == "warm_seccomp":
                root, seccomp = request.get("runtime_root"), request.get("seccomp")
                if (not isinstance(root, str) or not Path(root).is_absolute()
                        or not isinstance(seccomp, dict)):
                    conn.sendall(b'{"ok": false, "error": "shim factory: bad request"}\n')
                    continue
                conn.sendall(b'{"ok": true}\n')
                if seccomp_keys is not None:
                    seccomp_keys = seccomp_keys.knowing(seccomp)
                if os.fork() == 0:
                    listener.close()
                    conn.close()
                    _warm_seccomp(Path(root), seccomp, seccomp_keys)
                continue
            state_dir = request.get("state_dir")
            if not isinstance(state_dir, str) or not Path(state_dir).is_absolute():
                conn.sendall(b'{"ok": false, "error": "shim factory: bad request"}\n')
                continue
            conn.settimeout(None)
            pid = os.fork()
            if pid == 0:
                listener.close()
                _spawn_shim(conn, Path(state_dir), seccomp_keys, _cgroups_of(request))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m berth.shim.factory <exec-root> [<owner-pid>]", file=sys.stderr)
        return 2
    root = Path(args[0]).absolute()
    owner_pid = int(args[1]) if len(args) == 2 else None
    path = root / SOCKET_NAME
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(64)
    # Detach: own session, stdio away from whoever started us; readiness = the socket exists.
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    os.chdir("/")
    (root / PID_NAME).write_text(f"{os.getpid()}\n")
    devnull = os.open("/dev/null", os.O_RDWR)
    log = os.open(root / _LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    try:
        serve(listener, owner_pid)
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (root / PID_NAME).unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
