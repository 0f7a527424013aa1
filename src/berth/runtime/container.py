"""Container lifecycle: create, start, state, kill, delete — the runtime's public API.

``create`` forks the init itself, as crun does with one clone: only the pid namespace must be
set before the init exists, and a new or joined pid namespace applies to the caller's children
only, so the caller sets it for the fork and returns to its own right after (allowed with
threads: berth-runtime's priming thread). The init then joins and unshares the other
namespaces itself (a new cgroup namespace after moving itself into its cgroup, where it is
rooted). A user namespace, or a new time namespace, still takes a middle process that enters
them (the uid/gid maps are written from outside; nobody returns from a user namespace, and
going back to one's own time namespace needs a single-threaded caller), forks the init and
exits, so the init is reparented to the caller, which made itself a child subreaper. The
caller moves the init into the cgroup while the init builds its filesystem (except where the
init or the middle joined it first for a new cgroup namespace); ``create`` returns only once
the init is in. The init
builds the filesystem, drops to the user, finds the executable, reports ``ready`` and blocks
until ``start``; its end of the handshake socket is close-on-exec, so EOF after ``start``
means the exec happened.

The caller may be an asyncio process: forked children only ever leave through ``os._exit``.
Any failure before ``start`` leaves no process, cgroup or state dir behind.

seccomp is compiled to BPF in the caller (``seccomp.program_for``) and installed by the init:
right before exec under no_new_privs, else before dropping capabilities (the kernel wants
CAP_SYS_ADMIN then). OCI hooks (hooks.py): once its mounts are done the init asks the caller
(``hooks``) to run createRuntime/prestart with its host pid, runs createContainer itself
before pivot_root and startContainer right before exec; ``start`` runs poststart and
``delete`` poststop (both only warn on failure, as the spec says).

``start_detached``, ``state``, ``kill``, ``delete`` and ``cgroup_pids`` live in
berth.runtime.manage (re-exported here), which imports nothing of the create path.
apparmor, console, seccomp, seccompnotify and userns are imported where a spec uses them (~1 ms
of every ``berth-runtime`` create otherwise); the shim factory imports them up front.
"""

from __future__ import annotations

import os
import time

from berth.errors import BerthError, Conflict, RuntimeFailure
from berth.mount import Mount
from berth.record import Record, field, replace
from berth.runtime import _sys, devices, hooks, namespaces, process, rootfs
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress
from berth.runtime.cgroups import detect
from berth.runtime.child import close_inherited_fds as _close_inherited_fds
from berth.runtime.child import kill_and_reap as _kill_and_reap
from berth.runtime.child import reap as _reap
from berth.runtime.child import reset_signals as _reset_signals
from berth.runtime.child import run_child as _run_child
from berth.runtime.loopback import bring_up_loopback
from berth.runtime.manage import (
    EXEC_FIFO,
    ContainerInfo,
    _kill_cgroup,
    _late_hooks,
    _load_spec,
    cgroup_pids,
    delete,
    kill,
    start_detached,
    state,
)
from berth.runtime.sync import Channel, channel_pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Final

    from berth.runtime import seccomp, userns
    from berth.runtime.cgroups import CgroupManager

__all__ = ["ContainerInfo", "CreateOptions", "Created", "Plan", "cgroup_pids", "create", "delete", "kill",
           "make_cgroups_ahead", "prepare", "start_detached", "state"]

_PR_SET_CHILD_SUBREAPER: Final = 36
_SETUP_TIMEOUT: Final = 60.0
_USER_ANNOTATION: Final = "berth.user"
_GROUPS_ANNOTATION: Final = "berth.groups"


class CreateOptions(Record):
    id: str
    bundle: str | os.PathLike[str]
    state_root: str | os.PathLike[str]
    rootfs_mounts: Sequence[Mount] = ()
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    console: bool = False
    # Detached create (the ``berth-runtime create`` command): the init waits on a fifo in the
    # state dir instead of the handshake, so the creating process may exit before ``start``.
    exec_fifo: bool = False
    # ``--preserve-fds N``: the caller's fds 3 .. 3+N-1 are passed on to the container process.
    preserve_fds: int = 0
    # This host's seccomp program cache keys, when the caller found them before (the shim
    # factory, once for all its containers); else the create asks libseccomp.
    seccomp_keys: seccomp.CacheKeys | None = None


class Created:
    """A created container whose init waits to exec; ``start()`` lets it."""

    def __init__(self, container_id: str, state_root: str | os.PathLike[str], pid: int,
                 console_fd: int | None, channel: Channel) -> None:
        self.id = container_id
        self.pid = pid
        self.console_fd = console_fd
        self._state_root = state_root
        self._channel: Channel | None = channel

    def start(self) -> None:
        ch = self._channel
        if ch is None:
            raise Conflict(f"container {self.id} was already started")
        self._channel = None
        try:
            try:
                ch.send("start")
                reply = ch.recv(timeout=_SETUP_TIMEOUT)
            except OSError as exc:
                raise RuntimeFailure(f"start container: {exc}") from exc
        finally:
            ch.close()
        if reply is not None:
            raise RuntimeFailure(str(reply.body.get("message", "start failed")))
        with suppress(BerthError):
            st = statefile.load(self._state_root, self.id).with_started()
            statefile.save(self._state_root, st)
            _late_hooks(st, "poststart", "running")

    def detach(self) -> None:
        """Let go of a container created with ``exec_fifo``: it waits for ``start_detached``."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def close(self) -> None:
        """Drop the handshake without starting (the init then exits)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None


class Plan(Record):
    """Everything the init needs, parsed and checked in the caller before forking."""

    spec: Mapping[str, Any]
    root_dir: str
    namespaces: tuple[namespaces.Namespace, ...]
    mounts: tuple[rootfs.SpecMount, ...]
    devices: tuple[devices.Device, ...]
    capabilities: process.Capabilities
    cgroup: CgroupManager
    seccomp_program: bytes | None = None
    # (listenerPath, listenerMetadata) of a filter with SCMP_ACT_NOTIFY rules.
    seccomp_listener: tuple[str, str] | None = None
    hooks: Mapping[str, tuple[hooks.Hook, ...]] = field(default_factory=dict)
    # Mounts already on the rootfs when it is mounted on in the caller's namespace (no mount
    # namespace in the spec); None when the container has a mount namespace.
    host_rootfs_keep: int | None = None
    umask: int = 0o022
    persona: int | None = None
    io_priority: int | None = None
    scheduler: process.Scheduler | None = None
    time_offsets: tuple[tuple[str, int, int], ...] = ()
    uid_maps: tuple[userns.IdMapping, ...] = ()
    gid_maps: tuple[userns.IdMapping, ...] = ()


def _plan(opts: CreateOptions, spec: Mapping[str, Any]) -> Plan:
    proc = spec.get("process") or {}
    if not proc.get("args"):
        raise RuntimeFailure("process.args must not be empty")
    linux = spec.get("linux") or {}
    root = str((spec.get("root") or {}).get("path") or "rootfs")
    root_path = os.path.join(opts.bundle, root)  # an absolute root stands alone
    if not os.path.isdir(root_path):
        raise RuntimeFailure(f"rootfs {root_path} is not a directory")
    nss = namespaces.parse_namespaces(linux.get("namespaces") or [])
    if any(n.type == "user" and not n.path for n in nss) and not (
            linux.get("uidMappings") and linux.get("gidMappings")):
        raise RuntimeFailure("a new user namespace needs linux.uidMappings and linux.gidMappings")
    root_dir = os.path.realpath(root_path)
    # What the spec needs beyond every container's modules is imported here, in the caller:
    # the init uses console, apparmor and seccomp after pivot_root, where berth's files may be
    # out of reach (its imports of them only look them up in sys.modules).
    if opts.console or proc.get("terminal"):
        from berth.runtime import console  # noqa: F401
    if proc.get("apparmorProfile"):
        from berth.runtime import apparmor

        apparmor.check(proc.get("apparmorProfile"))
    seccomp_program: bytes | None = None
    seccomp_listener: tuple[str, str] | None = None
    if linux.get("seccomp"):
        from berth.runtime import seccomp, seccompnotify

        seccomp_program = seccomp.program_for(linux, seccomp.cache_dir(opts.state_root), opts.seccomp_keys)
        seccomp_listener = seccompnotify.listener_of(linux)
    uid_maps: tuple[userns.IdMapping, ...] = ()
    gid_maps: tuple[userns.IdMapping, ...] = ()
    if linux.get("uidMappings") or linux.get("gidMappings"):
        from berth.runtime import userns

        uid_maps = userns.parse_mappings(linux.get("uidMappings"))
        gid_maps = userns.parse_mappings(linux.get("gidMappings"))
    rootfs.propagation_flags(linux.get("rootfsPropagation"))  # refuse a bad value before forking
    in_host_ns = not any(n.type == "mount" for n in nss)
    return Plan(
        spec=spec,
        root_dir=root_dir,
        host_rootfs_keep=rootfs.mounts_at(root_dir) if in_host_ns else None,
        umask=process.umask_of(proc.get("user")),
        persona=process.persona(linux.get("personality")),
        io_priority=process.io_priority(proc.get("ioPriority")),
        scheduler=process.scheduler(proc.get("scheduler")),
        time_offsets=namespaces.parse_time_offsets(
            linux.get("timeOffsets"), any(n.type == "time" and not n.path for n in nss)),
        namespaces=tuple(nss),
        mounts=tuple(rootfs.parse_mounts(spec.get("mounts") or [], os.path.realpath(opts.bundle))),
        devices=tuple(devices.parse_devices(linux.get("devices") or [])),
        capabilities=process.parse_capabilities(proc.get("capabilities")),
        cgroup=detect(linux.get("cgroupsPath"), opts.id),
        seccomp_program=seccomp_program,
        seccomp_listener=seccomp_listener,
        hooks=hooks.parse_hooks(spec.get("hooks")),
        uid_maps=uid_maps,
        gid_maps=gid_maps,
    )


def make_cgroups_ahead(bundle: str | os.PathLike[str], container_id: str) -> tuple[str, ...]:
    """Make the cgroup directories ``create`` will use for this bundle; return the new ones.

    For a caller that can do it earlier than ``create`` and beside other work: ``create``
    finds them empty and takes them as its own (removed on its failure and by ``delete``).
    Whoever calls this removes what it made if ``create`` is never reached or fails before
    its cgroup step. Errors are ignored (nothing made): ``create`` meets and reports them.
    """
    try:
        linux = _load_spec(bundle).get("linux") or {}
        mgr = detect(linux.get("cgroupsPath"), container_id)
        missing = tuple(p for p in mgr.paths.values() if not os.path.exists(p))
        mgr.create()
    except (BerthError, OSError, AttributeError):
        return ()
    return missing


def prepare(opts: CreateOptions, spec: Mapping[str, Any] | None = None) -> Plan:
    """The bundle's config.json read and checked: the first step of ``create``.

    Depends on ``opts``' id, bundle and state root only (not its stdio), so a caller may do it
    before it has the container's stdio, beside other work (berth.shim.creator). ``spec``:
    the bundle's config.json as the caller has already read it (berth-runtime's ``run``)."""
    return _plan(opts, _load_spec(opts.bundle) if spec is None else spec)


def create(opts: CreateOptions, plan: Plan | None = None) -> Created:
    """Create the container and return once its init waits for ``start``.

    ``plan``: what :func:`prepare` returned for the same id, bundle and state root."""
    if plan is None:
        plan = prepare(opts)
    spec = plan.spec
    state_dir = statefile.reserve(opts.state_root, opts.id)
    fifo_fd: int | None = None
    cgroup_made = False
    idmap_dir: str | None = None
    pid: int | None = None
    parent_end: Channel | None = None
    console_fd: int | None = None
    try:
        # A cgroup other processes already use is joined, never emptied or removed on failure.
        owned = not plan.cgroup.pids()
        plan.cgroup.create()
        cgroup_made = owned
        resources = dict((spec.get("linux") or {}).get("resources") or {})
        resources["devices"] = devices.with_default_rules(resources.get("devices") or ())
        plan.cgroup.apply(resources)
        _sys.prctl(_PR_SET_CHILD_SUBREAPER, 1)
        if plan.uid_maps and opts.rootfs_mounts:
            # Image layers shifted into the mapped range by idmapped mounts, not copied.
            from berth.runtime import userns

            idmap_dir = os.path.join(state_dir, "idmap")
            opts = replace(opts, rootfs_mounts=userns.idmapped_rootfs(
                opts.rootfs_mounts, idmap_dir, plan.uid_maps, plan.gid_maps))
        if opts.exec_fifo:
            # O_RDWR never blocks on a fifo and keeps a reader open, so ``start`` can open it
            # write-only without blocking exactly while the init is alive and waiting.
            os.mkfifo(os.path.join(state_dir, EXEC_FIFO), 0o600)
            fifo_fd = os.open(os.path.join(state_dir, EXEC_FIFO), os.O_RDWR | os.O_CLOEXEC)
        parent_end, child_end = channel_pair()
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        middle: int | None = None
        init: int | None = None
        try:
            if namespaces.needs_middle(plan.namespaces):
                middle = os.fork()
                if middle == 0:
                    _run_child(lambda: _middle_process(opts, plan, child_end, devnull, fifo_fd),
                               child_end)
            else:
                init = _fork_init(opts, plan, child_end, devnull, fifo_fd)
        finally:
            os.close(devnull)
            child_end.close()
            if fifo_fd is not None:
                os.close(fifo_fd)
        pid, console_fd = _await_ready(parent_end, middle, plan, opts, init)
        return Created(opts.id, opts.state_root, pid, console_fd, parent_end)
    except BaseException:
        if parent_end is not None:
            parent_end.close()
        if console_fd is not None:
            os.close(console_fd)
        if pid is not None:
            _kill_and_reap(pid)
        if cgroup_made:
            _kill_cgroup(plan.cgroup)
            with suppress(BerthError):
                plan.cgroup.destroy()
        if plan.host_rootfs_keep is not None:
            with suppress(BerthError):
                rootfs.detach_mounts(plan.root_dir, plan.host_rootfs_keep)
        statefile.remove(opts.state_root, opts.id)
        raise
    finally:
        if idmap_dir is not None:
            # The container's mount namespace holds its own copy of the shifted rootfs.
            from berth.runtime import userns

            userns.release_rootfs(idmap_dir)


def _utc_now() -> str:
    """RFC 3339 UTC with nanoseconds, as runc records ``created`` (no datetime import: ~2 ms)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _hook_state(opts: CreateOptions, plan: Plan, status: str, pid: int) -> dict[str, Any]:
    return hooks.state_document(opts.id, status, pid, os.fspath(opts.bundle),
                                plan.spec.get("annotations") or {})


def _await_ready(ch: Channel, middle: int | None, plan: Plan, opts: CreateOptions,
                 init: int | None = None) -> tuple[int, int | None]:
    """Serve the middle's and the init's requests until the init is ready; its pid.

    ``middle`` is None when the caller forked the init itself (``init``, its pid)."""
    pid: int | None = init
    console_fd: int | None = None
    reaped = middle is None
    ready = False
    hooks_asked = False
    notify_fd: int | None = None
    try:
        if init is not None:
            _init_forked(opts, plan, init)
        while True:
            if notify_fd is not None and pid is not None and plan.seccomp_listener is not None:
                fd, notify_fd = notify_fd, None
                from berth.runtime import seccompnotify

                try:
                    seccompnotify.send_to_listener(
                        *plan.seccomp_listener, fd, pid, _hook_state(opts, plan, "creating", pid))
                except RuntimeFailure as exc:
                    raise _ChildError(str(exc), pid) from None
            if hooks_asked and pid is not None:
                # The init waits for these with its mounts done, before pivot_root.
                hooks_asked = False
                try:
                    # "created", as runc reports it and the OCI suite (hooks_stdin) checks.
                    state = _hook_state(opts, plan, "created", pid)
                    for phase in ("createRuntime", "prestart"):
                        hooks.run_hooks(phase, plan.hooks.get(phase, ()), state)
                except RuntimeFailure as exc:
                    raise _ChildError(str(exc), pid) from None
                ch.send("resume", pid=pid)
            if ready and pid is not None:
                return pid, console_fd
            try:
                msg = ch.recv(timeout=_SETUP_TIMEOUT)
            except TimeoutError as exc:
                raise RuntimeFailure("timed out waiting for the container init") from exc
            if msg is None:
                raise RuntimeFailure("container init exited during setup")
            if msg.type == "pid" and middle is not None:
                pid = int(msg.body["pid"])
                _reap(middle)
                reaped = True
                _init_forked(opts, plan, pid)
            elif msg.type == "userns" and middle is not None:
                from berth.runtime import userns

                userns.write_maps(middle, plan.uid_maps, plan.gid_maps)
                ch.send("mapped")
            elif msg.type == "console":
                console_fd = msg.fds[0]
                for extra in msg.fds[1:]:
                    os.close(extra)
            elif msg.type == "error":
                raise _ChildError(str(msg.body.get("message")), pid)
            elif msg.type == "hooks":
                hooks_asked = True
            elif msg.type == "seccomp":
                notify_fd = msg.fds[0]
            elif msg.type == "ready":
                # "pid" (from the middle process) and "ready" (from the init) come from two
                # processes; under load the init can be first.
                ready = True
    except BaseException as exc:
        if notify_fd is not None:
            os.close(notify_fd)
        if not reaped and middle is not None:
            _reap(middle)
        if console_fd is not None:
            os.close(console_fd)
        if isinstance(exc, _ChildError):
            if exc.pid is not None:
                _kill_and_reap(exc.pid)
            raise RuntimeFailure(exc.message) from None
        if pid is not None:
            _kill_and_reap(pid)
        raise


def _init_forked(opts: CreateOptions, plan: Plan, pid: int) -> None:
    """As soon as the init exists, while it builds its filesystem: move it into its cgroup and
    write the state file (both off the path from "ready" to ``create``'s return)."""
    _join_init(plan, pid)
    start_time = statefile.process_start_time(pid)
    if start_time is None:
        raise _ChildError("container init exited during setup", pid)
    try:
        statefile.save(opts.state_root, statefile.ContainerState(
            id=opts.id, pid=pid, start_time=start_time, bundle=os.fspath(opts.bundle),
            cgroup_paths={k: str(v) for k, v in plan.cgroup.paths.items()},
            created=_utc_now(),
            host_rootfs=plan.root_dir if plan.host_rootfs_keep is not None else "",
            host_rootfs_keep=plan.host_rootfs_keep or 0,
            hook_phases=tuple(p for p in ("poststart", "poststop") if plan.hooks.get(p))))
    except BerthError as exc:
        raise _ChildError(str(exc), pid) from None


def _join_init(plan: Plan, pid: int) -> None:
    """Move the init into its cgroup, unless it (or the middle) joined it first (a new cgroup namespace)."""
    if _new(plan, "cgroup"):
        return
    # Moved in from here while it builds its filesystem: the first move after a quiet spell
    # waits ~10-15 ms for the kernel (an RCU grace period, see cgroups/prime.py), now beside
    # the init's set-up rather than before it. The init forks nothing and needs no limit
    # before "ready" (and its createContainer hooks wait for "resume"), which waits for this.
    try:
        plan.cgroup.join(pid)
    except RuntimeFailure as exc:
        raise _ChildError(str(exc), pid) from None


class _ChildError(Exception):
    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.pid = pid


def _middle_process(opts: CreateOptions, plan: Plan, ch: Channel, devnull: int,
                    fifo_fd: int | None) -> None:
    if _new(plan, "cgroup"):
        # Join before unsharing: a new cgroup namespace is rooted at the cgroup we are in.
        # Without one the caller moves the init in (``_await_ready``), beside its set-up.
        plan.cgroup.join(os.getpid())
    namespaces.enter(plan.namespaces, lambda: _await_maps(ch))
    if _new(plan, "user"):
        _become_root_group()
    namespaces.write_time_offsets(plan.time_offsets)  # before the init, its first member
    child = os.fork()
    if child == 0:
        _run_child(lambda: _init_process(opts, plan, ch, devnull, fifo_fd), ch)
    ch.send("pid", pid=child)


def _fork_init(opts: CreateOptions, plan: Plan, ch: Channel, devnull: int, fifo_fd: int | None) -> int:
    """Fork the init from the caller itself; its pid.

    Only the pid namespace must be set before the init exists (a process never changes its
    own): the caller's children are born in it for the fork, and in the caller's own again
    right after. The init enters the other namespaces itself (``_enter_own``).
    """
    own_pid_ns = namespaces.pid_for_children(plan.namespaces)
    init: int | None = None
    try:
        try:
            init = os.fork()
            if init == 0:
                _run_child(lambda: _init_entering(own_pid_ns, opts, plan, ch, devnull, fifo_fd), ch)
        finally:
            if own_pid_ns is not None:
                namespaces.restore_pid_for_children(own_pid_ns)
    except BaseException:
        if init is not None:
            _kill_and_reap(init)
        raise
    return init


def _init_entering(own_pid_ns: int | None, opts: CreateOptions, plan: Plan, ch: Channel, devnull: int,
                   fifo_fd: int | None) -> None:
    """The init forked by the caller: enter the namespaces but pid, then set up as usual."""
    if own_pid_ns is not None:
        os.close(own_pid_ns)  # the caller's namespace is no business of the container's
    if _new(plan, "cgroup"):
        # A new cgroup namespace is rooted at the cgroup its creator is in: join it first (the
        # caller's move of this process would come too late). Our pid as we see it: the
        # kernel reads it in the writer's pid namespace.
        plan.cgroup.join(os.getpid())
    namespaces.enter(tuple(n for n in plan.namespaces if n.type != "pid"))
    _init_process(opts, plan, ch, devnull, fifo_fd)


def _await_maps(ch: Channel) -> None:
    """In a fresh user namespace: have the parent write the maps, then become its root user (so
    files the init creates belong to the mapped root; capabilities stay, as the caller was
    root); its group comes after the other namespaces (``_become_root_group``)."""
    ch.send("userns")
    msg = ch.recv(timeout=_SETUP_TIMEOUT)
    if msg is None or msg.type != "mapped":
        raise RuntimeFailure("the parent did not map the user namespace")
    os.setresuid(0, 0, 0)


def _become_root_group() -> None:
    """The mapped root's group, once the other new namespaces exist, as runc (whose setgid
    comes after them): a new IPC namespace's mqueue filesystem takes its creator's fsgid,
    so /dev/mqueue's group is the host's unmapped one (65534 inside), as under runc."""
    os.setresgid(0, 0, 0)
    os.setgroups([])


def _new(plan: Plan, kind: str) -> bool:
    return any(n.type == kind and not n.path for n in plan.namespaces)


def _init_process(opts: CreateOptions, plan: Plan, ch: Channel, devnull: int,
                  fifo_fd: int | None) -> None:
    spec = plan.spec
    proc: Mapping[str, Any] = spec.get("process") or {}
    linux: Mapping[str, Any] = spec.get("linux") or {}
    os.setsid()
    own_mount_ns = plan.host_rootfs_keep is None
    if own_mount_ns:
        rootfs.prepare_root(linux.get("rootfsPropagation"), plan.root_dir)
    rootfs.apply_rootfs_mounts(opts.rootfs_mounts, plan.root_dir)
    rootfs.mount_spec_mounts(plan.root_dir, plan.mounts, plan.cgroup.paths, _new(plan, "cgroup"))
    if not any(m.is_bind and m.destination.rstrip("/") == "/dev" for m in plan.mounts):
        devices.create_devices(plan.root_dir, plan.devices)
        devices.create_symlinks(plan.root_dir)
    host_pid = 0
    if any(plan.hooks.get(p) for p in ("createRuntime", "prestart", "createContainer",
                                       "startContainer")):
        ch.send("hooks")
        msg = ch.recv()
        if msg is None or msg.type != "resume":
            os._exit(1)
        host_pid = int(msg.body["pid"])
        hooks.run_hooks("createContainer", plan.hooks.get("createContainer", ()),
                        _hook_state(opts, plan, "created", host_pid))
    if own_mount_ns:
        rootfs.pivot_root(plan.root_dir, linux.get("rootfsPropagation"))
    else:
        rootfs.chroot_root(plan.root_dir)
    if _new(plan, "network"):
        bring_up_loopback()
    hostname = spec.get("hostname")
    if hostname and _new(plan, "uts"):
        try:
            _sys.sethostname(str(hostname))
        except OSError as exc:
            raise RuntimeFailure(f"sethostname: {exc.strerror}") from exc
    _write_sysctls(linux.get("sysctl") or {})
    annotations = spec.get("annotations") or {}
    user = process.resolve_user(proc.get("user") or {}, annotations.get(_USER_ANNOTATION))
    user = process.add_groups(user, annotations.get(_GROUPS_ANNOTATION))
    if opts.console or proc.get("terminal"):
        from berth.runtime import console

        pty = console.open_pty(user.uid, None)
        console.bind_console(pty)
        ch.send("console", fds=(pty.master,))
        os.close(pty.master)
        console.make_controlling(pty)
        os.close(pty.slave)
    else:
        _dup_stdio(opts, devnull)
    rootfs.mask_paths([str(p) for p in linux.get("maskedPaths") or []])
    rootfs.readonly_paths([str(p) for p in linux.get("readonlyPaths") or []])
    cwd = str(proc.get("cwd") or "/")
    with suppress(OSError):
        os.makedirs(cwd, exist_ok=True)  # Docker creates a missing working dir
    if (spec.get("root") or {}).get("readonly"):
        rootfs.remount_root_readonly()
    process.apply_rlimits(proc.get("rlimits") or [])
    if proc.get("oomScoreAdj") is not None:
        _write_proc("/proc/self/oom_score_adj", str(int(proc["oomScoreAdj"])))
    no_new_privs = bool(proc.get("noNewPrivileges"))
    if proc.get("apparmorProfile"):
        from berth.runtime import apparmor

        apparmor.apply_on_exec(proc.get("apparmorProfile"))
    process.set_io_priority(plan.io_priority)
    process.set_scheduler(plan.scheduler)  # a real-time policy needs CAP_SYS_NICE: before the drop
    if plan.seccomp_program is not None and not no_new_privs:
        _install_seccomp(plan.seccomp_program, plan.seccomp_listener, ch)
    process.switch_user(user, plan.capabilities)
    process.apply_capabilities(no_new_privs)
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise RuntimeFailure(f'chdir to cwd ("{cwd}") set in config.json failed: '
                             f"{(exc.strerror or '').lower()}") from exc
    env = process.build_env([str(e) for e in proc.get("env") or []], user)
    args = [str(a) for a in proc["args"]]
    path = process.find_executable(args[0], env.get("PATH"))
    os.umask(plan.umask)
    process.set_persona(plan.persona)
    # A notify filter goes in while the caller still listens, to pass its fd on: before ready.
    late_seccomp = plan.seccomp_program if no_new_privs else None
    if fifo_fd is None:
        _close_inherited_fds(keep=ch.fileno(), preserve=opts.preserve_fds)
        if late_seccomp is not None and plan.seccomp_listener is not None:
            _install_seccomp(late_seccomp, plan.seccomp_listener, ch)
        ch.send("ready")
        msg = ch.recv()
        if msg is None or msg.type != "start":
            os._exit(1)
    else:
        _close_inherited_fds(keep=ch.fileno(), also=fifo_fd, preserve=opts.preserve_fds)
        if late_seccomp is not None and plan.seccomp_listener is not None:
            _install_seccomp(late_seccomp, plan.seccomp_listener, ch)
        ch.send("ready")
        ch.close()
        _wait_fifo(fifo_fd)
    if plan.hooks.get("startContainer"):
        hooks.run_hooks("startContainer", plan.hooks["startContainer"],
                        _hook_state(opts, plan, "created", host_pid))
    _reset_signals()
    if late_seccomp is not None and plan.seccomp_listener is None:
        from berth.runtime import seccomp

        seccomp.install(late_seccomp)
    try:
        os.execve(path, args, env)
    except OSError as exc:
        raise RuntimeFailure(f'exec: "{args[0]}": {(exc.strerror or str(exc)).lower()}') from exc


def _install_seccomp(program: bytes, listener: tuple[str, str] | None, ch: Channel) -> None:
    """Install the filter; a notify filter's fd goes to the caller for the listener."""
    from berth.runtime import seccomp

    if listener is None:
        seccomp.install(program)
        return
    fd = seccomp.install_listener(program)
    ch.send("seccomp", fds=(fd,))
    os.close(fd)


def _dup_stdio(opts: CreateOptions, devnull: int) -> None:
    # Duplicate everything out of the way first: a given fd may itself be 0, 1 or 2.
    sources = [os.dup(devnull if fd is None else fd)
               for fd in (opts.stdin, opts.stdout, opts.stderr)]
    for target, src in enumerate(sources):
        os.dup2(src, target, inheritable=True)
        os.close(src)


def _wait_fifo(fd: int) -> None:
    while True:
        try:
            if os.read(fd, 1):
                break
        except InterruptedError:
            continue
    os.close(fd)


def _write_proc(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise RuntimeFailure(f"write {path}: {exc.strerror}") from exc


def _write_sysctls(sysctls: Mapping[str, Any]) -> None:
    for key, value in sysctls.items():
        if "/" in key or ".." in key:
            raise RuntimeFailure(f"invalid sysctl {key!r}")
        _write_proc("/proc/sys/" + key.replace(".", "/"), str(value))
