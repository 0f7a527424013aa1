"""Exec: start one more process inside a running container (``runc exec``'s job).

``exec_process`` forks a middle process that joins the container's cgroup and every
namespace of its init (via ``/proc/<init>/ns/*``), then forks the exec'd process (a member of
the container's pid namespace only as a child of a process that joined it) and exits, so the
process is reparented to the caller, which must be a child subreaper and ``waitpid`` it.
Joining the mount namespace also moves root and cwd to the container's root, so the user is
resolved against the container's own /etc/passwd, as for the init.

The process gets the container's capabilities, rlimits and no_new_privs unless
``privileged`` (then every capability), and reports ``ready`` only after everything but the
exec itself succeeded: a missing executable or user is a RuntimeFailure with nothing left
running. Must not touch the container's state file: the exec'd process is not the container.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from berth.errors import Conflict, RuntimeFailure
from berth.oci.capabilities import CAP_NUMBERS
from berth.record import Record
from berth.runtime import console, process, seccomp
from berth.runtime import state as statefile
from berth.runtime.cgroups import manager_for_paths
from berth.runtime.container import _close_inherited_fds, _reap, _reset_signals, _run_child
from berth.runtime.namespaces import Namespace, enter
from berth.runtime.sync import Channel, channel_pair

__all__ = ["Exec", "ExecOptions", "exec_process"]

_TIMEOUT: Final = 30.0
# The namespaces an exec joins (and the container's user namespace, joined last, when remapped).
_KINDS: Final = {"ipc": "ipc", "uts": "uts", "net": "network", "pid": "pid",
                 "cgroup": "cgroup", "mnt": "mount"}


class ExecOptions(Record):
    """What to run. ``user`` is Docker's ``--user`` string ("" = the container's user),
    ``cwd`` "" = the container's working dir; ``env`` entries are added to the container's."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = ""
    user: str = ""
    privileged: bool = False
    tty: bool = False
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None


class Exec(Record):
    """The started process: its host PID and, with ``tty``, the pty master."""

    pid: int
    console_fd: int | None


def _bundle_spec(bundle: str) -> dict[str, Any]:
    try:
        spec = json.loads((Path(bundle) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeFailure(f"read {bundle}/config.json: {exc}") from exc
    if not isinstance(spec, dict):
        raise RuntimeFailure("config.json is not a JSON object")
    return spec


def _merge_env(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    merged: dict[str, str] = {}
    for entry in [*base, *extra]:
        key = entry.partition("=")[0]
        merged[key] = entry
    return list(merged.values())


def exec_process(state_root: Path, container_id: str, opts: ExecOptions) -> Exec:
    """Start ``opts.args`` in the running container; returns once it is about to exec."""
    if not opts.args:
        raise RuntimeFailure("exec needs a command")
    st = statefile.load(state_root, container_id)
    if statefile.status_of(st) is not statefile.Status.RUNNING:
        raise Conflict(f"container {container_id} is not running")
    spec = _bundle_spec(st.bundle)
    # The container's own filter, built here before forking; exec'd processes get it too.
    program = seccomp.program_for(spec.get("linux") or {}, seccomp.cache_dir(state_root))
    nss = []
    for name, kind in _KINDS.items():
        path = f"/proc/{st.pid}/ns/{name}"
        # A namespace the init shares with us (e.g. --network host) is joined harmlessly.
        if os.path.exists(path):
            nss.append(Namespace(kind, path))
    user_ns = f"/proc/{st.pid}/ns/user"
    # setns into one's own user namespace is EINVAL: join only a container's own.
    if os.path.exists(user_ns) and os.stat(user_ns).st_ino != os.stat("/proc/self/ns/user").st_ino:
        nss.append(Namespace("user", user_ns))
    cgroup = manager_for_paths(st.cgroup_paths)
    parent_end, child_end = channel_pair()
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        middle = os.fork()
        if middle == 0:
            def middle_body() -> None:
                cgroup.join(os.getpid())
                # The init's root, taken before joining: a container without a mount
                # namespace of its own is only chrooted, and setns would not put us there.
                root_fd = os.open(f"/proc/{st.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                enter(nss)
                os.fchdir(root_fd)
                os.chroot(".")
                os.close(root_fd)
                child = os.fork()
                if child == 0:
                    _run_child(lambda: _exec_child(spec, opts, child_end, devnull, program),
                               child_end)
                child_end.send("pid", pid=child)
            _run_child(middle_body, child_end)
    finally:
        os.close(devnull)
        child_end.close()
    try:
        return _await(parent_end, middle)
    finally:
        parent_end.close()


def _await(ch: Channel, middle: int) -> Exec:
    pid: int | None = None
    console_fd: int | None = None
    ready = False
    try:
        while True:
            if ready and pid is not None:
                ch.send("go")
                return Exec(pid, console_fd)
            try:
                msg = ch.recv(timeout=_TIMEOUT)
            except TimeoutError as exc:
                raise RuntimeFailure("timed out waiting for the exec process") from exc
            if msg is None:
                raise RuntimeFailure("exec process exited during setup")
            if msg.type == "pid":
                pid = int(msg.body["pid"])
                _reap(middle)
                middle = 0
            elif msg.type == "console":
                console_fd = msg.fds[0]
            elif msg.type == "error":
                raise RuntimeFailure(str(msg.body.get("message")))
            elif msg.type == "ready":
                # The middle's "pid" and the child's "ready" come from two processes: under
                # load "ready" can arrive first.
                ready = True
    except BaseException:
        if middle:
            _reap(middle)
        if console_fd is not None:
            os.close(console_fd)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            _reap(pid)
        raise


def _exec_child(spec: Mapping[str, Any], opts: ExecOptions, ch: Channel, devnull: int,
                program: bytes | None) -> None:
    proc: Mapping[str, Any] = spec.get("process") or {}
    os.setsid()
    annotations = spec.get("annotations") or {}
    if opts.user:
        user = process.resolve_user({}, opts.user)
    else:
        user = process.resolve_user(proc.get("user") or {}, annotations.get("berth.user"))
        user = process.add_groups(user, annotations.get("berth.groups"))
    if opts.tty:
        pty = console.open_pty(user.uid, None)
        ch.send("console", fds=(pty.master,))
        os.close(pty.master)
        console.make_controlling(pty)
        os.close(pty.slave)
    else:
        sources = [os.dup(devnull if fd is None else fd)
                   for fd in (opts.stdin, opts.stdout, opts.stderr)]
        for target, src in enumerate(sources):
            os.dup2(src, target, inheritable=True)
            os.close(src)
    process.apply_rlimits(proc.get("rlimits") or [])
    caps = process.parse_capabilities(proc.get("capabilities"))
    if opts.privileged:
        every = sum(1 << n for n in CAP_NUMBERS.values())
        caps = process.Capabilities(every, every, every, every, every)
    no_new_privs = bool(proc.get("noNewPrivileges")) and not opts.privileged
    if program is not None and not no_new_privs:
        seccomp.install(program)  # needs CAP_SYS_ADMIN without no_new_privs: before the drop
    process.switch_user(user, caps)
    process.apply_capabilities(no_new_privs)
    cwd = opts.cwd or str(proc.get("cwd") or "/")
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f'chdir to cwd ("{cwd}") set in config.json failed: '
                             f"{(exc.strerror or '').lower()}") from exc
    env = process.build_env(_merge_env([str(e) for e in proc.get("env") or []], opts.env), user)
    args = list(opts.args)
    path = process.find_executable(args[0], env.get("PATH"))
    _close_inherited_fds(keep=ch.fileno())
    ch.send("ready")
    msg = ch.recv()
    if msg is None or msg.type != "go":
        os._exit(1)
    _reset_signals()
    if program is not None and no_new_privs:
        seccomp.install(program)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        raise RuntimeFailure(f'exec: "{args[0]}": {(exc.strerror or str(exc)).lower()}') from exc
