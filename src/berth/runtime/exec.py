"""Exec: start one more process inside a running container (``runc exec``'s job).

``exec_process`` forks the exec'd process itself, as ``create`` forks the init: the process is
a member of the container's pid namespace only if born there, so the caller joins the init's
pid namespace for its children (``namespaces.pid_for_children``, allowed with threads), forks
and returns to its own at once; the child joins the container's cgroup and the init's other
namespaces (via ``/proc/<init>/ns/*``, the user namespace last). The caller ``waitpid``s it (or
the caller's nearest child subreaper, when the caller exits first: the shim's exec child).
Joining the mount namespace also moves root and cwd to the container's root, so the user is
resolved against the container's own /etc/passwd, as for the init.

The process gets the container's capabilities, rlimits and no_new_privs unless
``privileged`` (then every capability), and reports ``ready`` only after everything but the
exec itself succeeded: a missing executable or user is a RuntimeFailure with nothing left
running. Must not touch the container's state file: the exec'd process is not the container.
"""

from __future__ import annotations

import os

from berth.errors import Conflict, InvalidArgument, RuntimeFailure
from berth.oci.capabilities import CAP_NUMBERS
from berth.record import Record
from berth.runtime import _fastjson, apparmor, console, process, seccomp, seccompnotify
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress
from berth.runtime.cgroups import manager_for_paths
from berth.runtime.child import close_inherited_fds as _close_inherited_fds
from berth.runtime.child import reap as _reap
from berth.runtime.child import reset_signals as _reset_signals
from berth.runtime.child import run_child as _run_child
from berth.runtime.namespaces import Namespace, enter, pid_for_children, restore_pid_for_children
from berth.runtime.sync import Channel, channel_pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, Final

__all__ = ["Exec", "ExecOptions", "ProcessDoc", "exec_process", "options_from_process"]

_TIMEOUT: Final = 30.0
# The namespaces an exec joins (and the container's user namespace, joined last, when remapped).
_KINDS: Final = {"ipc": "ipc", "uts": "uts", "net": "network", "pid": "pid",
                 "cgroup": "cgroup", "mnt": "mount"}


class ProcessDoc(Record):
    """The identity and limits an OCI process document (``exec --process``) gives.

    None means "the container's", as runc fills an exec process from the container's config
    (capabilities, scheduler or ioPriority absent, rlimits empty); the user and umask are
    always the document's.
    """

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    umask: int = 0o022
    capabilities: process.Capabilities | None = None
    rlimits: tuple[tuple[str, int, int], ...] | None = None
    no_new_privileges: bool = False
    console_size: tuple[int, int] | None = None
    apparmor_profile: str = ""
    io_priority: int | None = None
    scheduler: process.Scheduler | None = None


class ExecOptions(Record):
    """What to run. ``user`` is Docker's ``--user`` string ("" = the container's user),
    ``cwd`` "" = the container's working dir; ``env`` entries are added to the container's.

    With ``process`` (an OCI process document) the identity and limits are the document's
    and ``env`` is the whole environment, as ``runc exec --process`` has it.
    """

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = ""
    user: str = ""
    privileged: bool = False
    tty: bool = False
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    process: ProcessDoc | None = None
    # ``--preserve-fds N``: the caller's fds 3 .. 3+N-1 are passed on to the process.
    preserve_fds: int = 0


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"process: {what} must be an integer")
    return value


def options_from_process(doc: Any, stdin: int | None = None, stdout: int | None = None,
                         stderr: int | None = None, preserve_fds: int = 0) -> ExecOptions:
    """Check an OCI process document and turn it into ExecOptions (InvalidArgument if bad)."""
    if not isinstance(doc, dict):
        raise InvalidArgument("process: not a JSON object")
    args = doc.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise InvalidArgument("process: args must not be empty")
    user = doc.get("user") or {}
    if not isinstance(user, dict):
        raise InvalidArgument("process: user must be an object")
    try:
        caps = doc.get("capabilities")
        capabilities = None if caps is None else process.parse_capabilities(caps)
        umask = process.umask_of(user)
        io_priority = process.io_priority(doc.get("ioPriority"))
        scheduler = process.scheduler(doc.get("scheduler"))
    except RuntimeFailure as exc:
        raise InvalidArgument(f"process: {exc}") from exc
    rlimits = tuple((str(r.get("type", "")), _int(r.get("soft", 0), "rlimit soft"),
                     _int(r.get("hard", 0), "rlimit hard")) for r in doc.get("rlimits") or ())
    size = doc.get("consoleSize")
    return ExecOptions(
        args=tuple(args), env=tuple(str(e) for e in doc.get("env") or ()),
        cwd=str(doc.get("cwd") or ""), tty=bool(doc.get("terminal")),
        stdin=stdin, stdout=stdout, stderr=stderr, preserve_fds=preserve_fds,
        process=ProcessDoc(
            uid=_int(user.get("uid", 0), "user.uid"), gid=_int(user.get("gid", 0), "user.gid"),
            additional_gids=tuple(_int(g, "user.additionalGids")
                                  for g in user.get("additionalGids") or ()),
            umask=umask, capabilities=capabilities, rlimits=rlimits or None,
            no_new_privileges=bool(doc.get("noNewPrivileges")),
            apparmor_profile=str(doc.get("apparmorProfile") or ""), io_priority=io_priority,
            scheduler=scheduler,
            console_size=None if not size else (_int(size.get("height", 0), "consoleSize"),
                                                _int(size.get("width", 0), "consoleSize"))))


class Exec(Record):
    """The started process: its host PID and, with ``tty``, the pty master."""

    pid: int
    console_fd: int | None


def _bundle_spec(bundle: str) -> dict[str, Any]:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = _fastjson.loads(f.read())
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


def exec_process(state_root: str | os.PathLike[str], container_id: str, opts: ExecOptions) -> Exec:
    """Start ``opts.args`` in the running container; returns once it is about to exec."""
    if not opts.args:
        raise RuntimeFailure("exec needs a command")
    st = statefile.load(state_root, container_id)
    if statefile.status_of(st) is not statefile.Status.RUNNING:
        raise Conflict(f"container {container_id} is not running")
    spec = _bundle_spec(st.bundle)
    # The container's own filter, built here before forking; exec'd processes get it too.
    profile = (opts.process.apparmor_profile if opts.process is not None
               else str((spec.get("process") or {}).get("apparmorProfile") or ""))
    apparmor.check(profile)
    program = seccomp.program_for(spec.get("linux") or {}, seccomp.cache_dir(state_root))
    listener = seccompnotify.listener_of(spec.get("linux") or {}) if program is not None else None
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
    joined = tuple(n for n in nss if n.type != "pid")
    parent_end, child_end = channel_pair()
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    child: int | None = None
    try:
        own_pid_ns = pid_for_children(nss)
        try:
            child = os.fork()
            if child == 0:
                def child_body() -> None:
                    if own_pid_ns is not None:
                        os.close(own_pid_ns)
                    # Our pid as we see it: the kernel reads it in the writer's pid namespace.
                    cgroup.join(os.getpid())
                    # The init's root, taken before joining: a container without a mount
                    # namespace of its own is only chrooted, and setns would not put us there.
                    root_fd = os.open(f"/proc/{st.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    enter(joined)
                    os.fchdir(root_fd)
                    os.chroot(".")
                    os.close(root_fd)
                    _exec_child(spec, opts, child_end, devnull, program, listener is not None)
                _run_child(child_body, child_end)
        finally:
            if own_pid_ns is not None:
                restore_pid_for_children(own_pid_ns)
    except BaseException:
        parent_end.close()
        if child is not None:
            with suppress(ProcessLookupError):
                os.kill(child, 9)
            _reap(child)
        raise
    finally:
        os.close(devnull)
        child_end.close()
    try:
        def to_listener(fd: int, pid: int) -> None:
            if listener is None:
                os.close(fd)
                return
            state = {"ociVersion": "1.0.2", "id": container_id, "status": "running",
                     "pid": st.pid, "bundle": st.bundle,
                     "annotations": spec.get("annotations") or {}}
            seccompnotify.send_to_listener(*listener, fd, pid, state)

        return _await(parent_end, child, to_listener)
    finally:
        parent_end.close()


def _await(ch: Channel, pid: int, to_listener: Callable[[int, int], None]) -> Exec:
    console_fd: int | None = None
    notify_fd: int | None = None
    ready = False
    try:
        while True:
            if notify_fd is not None:
                fd, notify_fd = notify_fd, None
                to_listener(fd, pid)
            if ready:
                ch.send("go")
                return Exec(pid, console_fd)
            try:
                msg = ch.recv(timeout=_TIMEOUT)
            except TimeoutError as exc:
                raise RuntimeFailure("timed out waiting for the exec process") from exc
            if msg is None:
                raise RuntimeFailure("exec process exited during setup")
            if msg.type == "console":
                console_fd = msg.fds[0]
            elif msg.type == "seccomp":
                notify_fd = msg.fds[0]
            elif msg.type == "error":
                raise RuntimeFailure(str(msg.body.get("message")))
            elif msg.type == "ready":
                ready = True
    except BaseException:
        if notify_fd is not None:
            os.close(notify_fd)
        if console_fd is not None:
            os.close(console_fd)
        with suppress(ProcessLookupError):
            os.kill(pid, 9)
        _reap(pid)
        raise


def _install_listener(program: bytes, ch: Channel) -> None:
    fd = seccomp.install_listener(program)
    ch.send("seccomp", fds=(fd,))
    os.close(fd)


def _exec_child(spec: Mapping[str, Any], opts: ExecOptions, ch: Channel, devnull: int,
                program: bytes | None, notify: bool) -> None:
    proc: Mapping[str, Any] = spec.get("process") or {}
    doc = opts.process
    os.setsid()
    annotations = spec.get("annotations") or {}
    if doc is not None:
        user = process.resolve_user({"uid": doc.uid, "gid": doc.gid,
                                     "additionalGids": list(doc.additional_gids)}, None)
    elif opts.user:
        user = process.resolve_user({}, opts.user)
    else:
        user = process.resolve_user(proc.get("user") or {}, annotations.get("berth.user"))
        user = process.add_groups(user, annotations.get("berth.groups"))
    if opts.tty:
        pty = console.open_pty(user.uid, None)
        if doc is not None and doc.console_size is not None:
            console.set_size(pty.master, *doc.console_size)
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
    if doc is not None and doc.rlimits is not None:
        process.apply_rlimits([{"type": t, "soft": soft, "hard": hard}
                               for t, soft, hard in doc.rlimits])
    else:
        process.apply_rlimits(proc.get("rlimits") or [])
    if doc is not None and doc.capabilities is not None:
        caps = doc.capabilities
    else:
        caps = process.parse_capabilities(proc.get("capabilities"))
    if opts.privileged:
        every = sum(1 << n for n in CAP_NUMBERS.values())
        caps = process.Capabilities(every, every, every, every, every)
    apparmor.apply_on_exec(doc.apparmor_profile if doc is not None
                           else str(proc.get("apparmorProfile") or ""))
    # The exec'd process is forked from the caller, not the init: what it does not set
    # itself is taken from the container's config, never inherited from us.
    process.set_io_priority(doc.io_priority if doc is not None and doc.io_priority is not None
                            else process.io_priority(proc.get("ioPriority")))
    process.set_persona(process.persona((spec.get("linux") or {}).get("personality")))
    process.set_scheduler(doc.scheduler if doc is not None and doc.scheduler is not None
                          else process.scheduler(proc.get("scheduler")))
    wants_nnp = doc.no_new_privileges if doc is not None else bool(proc.get("noNewPrivileges"))
    no_new_privs = wants_nnp and not opts.privileged
    if program is not None and not no_new_privs:
        # Needs CAP_SYS_ADMIN without no_new_privs: before the drop.
        if notify:
            _install_listener(program, ch)
        else:
            seccomp.install(program)
    process.switch_user(user, caps)
    process.apply_capabilities(no_new_privs)
    cwd = opts.cwd or str(proc.get("cwd") or "/")
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f'chdir to cwd ("{cwd}") set in config.json failed: '
                             f"{(exc.strerror or '').lower()}") from exc
    if doc is not None:
        env = process.build_env(list(opts.env), user)
    else:
        env = process.build_env(_merge_env([str(e) for e in proc.get("env") or []], opts.env), user)
    args = list(opts.args)
    path = process.find_executable(args[0], env.get("PATH"))
    os.umask(doc.umask if doc is not None else process.umask_of(proc.get("user")))
    _close_inherited_fds(keep=ch.fileno(), preserve=opts.preserve_fds)
    if program is not None and no_new_privs and notify:
        _install_listener(program, ch)  # its fd must reach the caller before ready
    ch.send("ready")
    msg = ch.recv()
    if msg is None or msg.type != "go":
        os._exit(1)
    _reset_signals()
    if program is not None and no_new_privs and not notify:
        seccomp.install(program)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        raise RuntimeFailure(f'exec: "{args[0]}": {(exc.strerror or str(exc)).lower()}') from exc
