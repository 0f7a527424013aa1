"""The OCI runtime a shim drives: berth's own (in-process), runc or crun (``--runtime``).

Both take the same bundle (config.json from berthd's specgen) and give the shim the same
operations, so everything above this seam (stdio, logs, attach, exit status, exec streams)
is shared. runc gets the rootfs ready-mounted on ``<bundle>/rootfs`` (berth's runtime mounts
it inside the new mount namespace itself) and keeps its state under ``<runtime_root>/runc``.
Under runc a tty (container or exec) comes back through runc's ``--console-socket``
(berth.shim.consolesock); an exec runs from a full ``--process`` JSON built here (the
container's process with the exec's args/env/cwd, the user resolved in the rootfs, every
capability for ``--privileged``), as Docker hands runc an exec.
Must not use threads: runc is run with blocking subprocess calls from the shim's loop.
``subprocess`` and ``shutil`` are imported only by the runc backend: ``subprocess`` imports
``threading``, whose after-fork handler alone dirtied ~0.4 MB in every shim the factory forks.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from berth.errors import Conflict, NotFound, RuntimeFailure
from berth.mount import Mount, mount_all, unmount
from berth.shim.consolesock import console_socket

if TYPE_CHECKING:
    from berth.runtime.container import CreateOptions, Plan
    from berth.runtime.seccomp import CacheKeys

__all__ = ["Backend", "BerthBackend", "CreatedProcess", "PreparedCreate", "RuncBackend", "backend_for"]


class CreatedProcess(Protocol):
    pid: int
    console_fd: int | None

    def start(self) -> None: ...
    def close(self) -> None:
        """Let go of a container that will not be started (its init may exit)."""


class Backend(Protocol):
    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess: ...
    def kill(self, id: str, sig: int, all: bool = False) -> None: ...
    def delete(self, id: str) -> None: ...
    def cgroup_paths(self, id: str) -> Mapping[str, str]: ...
    def cgroup_pids(self, id: str) -> list[int]: ...
    def pause(self, id: str) -> None: ...
    def resume(self, id: str) -> None: ...
    def update(self, id: str, resources: Mapping[str, Any]) -> None: ...
    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]: ...


class PreparedCreate:
    """A container whose config.json berth.runtime has read and checked; :meth:`create` it
    once its stdio exists."""

    def __init__(self, opts: CreateOptions, plan: Plan) -> None:
        self._opts = opts
        self._plan = plan

    def create(self, stdin: int | None, stdout: int | None, stderr: int | None,
               console: bool) -> CreatedProcess:
        from berth.record import replace
        from berth.runtime.container import create

        return create(replace(self._opts, stdin=stdin, stdout=stdout, stderr=stderr,
                              console=console), self._plan)


class BerthBackend:
    """berth.runtime, in this process.

    ``seccomp_keys``: this host's seccomp program cache keys, found once by the shim factory
    (berth.runtime.seccomp.cache_keys) so that no create opens libseccomp to ask its version.
    """

    def __init__(self, root: Path, seccomp_keys: CacheKeys | None = None) -> None:
        self._root = root
        self._seccomp_keys = seccomp_keys

    def prepare(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount]) -> PreparedCreate:
        """The first step of :meth:`create`, which needs no stdio (berth.shim.creator)."""
        from berth.runtime.container import CreateOptions, prepare

        opts = CreateOptions(id=id, bundle=bundle, state_root=self._root,
                             rootfs_mounts=list(rootfs_mounts), seccomp_keys=self._seccomp_keys)
        return PreparedCreate(opts, prepare(opts))

    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess:
        from berth.runtime.container import CreateOptions, create

        return create(CreateOptions(id=id, bundle=bundle, state_root=self._root,
                                    rootfs_mounts=list(rootfs_mounts), stdin=stdin,
                                    stdout=stdout, stderr=stderr, console=console))

    def kill(self, id: str, sig: int, all: bool = False) -> None:
        from berth.runtime import container

        container.kill(self._root, id, sig, all=all)

    def delete(self, id: str) -> None:
        from berth.runtime import container

        container.delete(self._root, id)

    def cgroup_paths(self, id: str) -> Mapping[str, str]:
        from berth.runtime import container

        return container.state(self._root, id).cgroup_paths

    def cgroup_pids(self, id: str) -> list[int]:
        from berth.runtime import container

        return container.cgroup_pids(self._root, id)

    def pause(self, id: str) -> None:
        from berth.runtime import control

        control.pause(self._root, id)

    def resume(self, id: str) -> None:
        from berth.runtime import control

        control.resume(self._root, id)

    def update(self, id: str, resources: Mapping[str, Any]) -> None:
        from berth.runtime import control

        control.update(self._root, id, resources)

    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]:
        from berth.runtime.exec import ExecOptions, exec_process

        started = exec_process(self._root, id, ExecOptions(
            args=tuple(args), env=tuple(env), cwd=cwd, user=user, privileged=privileged,
            tty=tty, stdin=stdin, stdout=stdout, stderr=stderr))
        return started.pid, started.console_fd


class _RuncCreated:
    def __init__(self, backend: RuncBackend, id: str, pid: int, console_fd: int | None) -> None:
        self._backend = backend
        self.id = id
        self.pid = pid
        self.console_fd = console_fd

    def start(self) -> None:
        self._backend.run("start", self.id)

    def close(self) -> None:
        pass  # runc's init waits on its own fifo; kill or delete ends it


class RuncBackend:
    """runc (the oracle runtime) on the same bundle; crun takes the same command line."""

    def __init__(self, root: Path, binary: str = "runc") -> None:
        import shutil

        self._root = root / binary
        self._binary = shutil.which(binary) or binary
        self._bundles: dict[str, Path] = {}

    def run(self, *args: str, stdin: int | None = None, stdout: int | None = None,
            stderr: int | None = None) -> str:
        import subprocess

        log = self._root / "runc.log"
        self._root.mkdir(parents=True, exist_ok=True)
        cmd = [self._binary, "--root", str(self._root), "--log", str(log), "--log-format",
               "json", *args]
        try:
            proc = subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else subprocess.PIPE,
                                  stderr=stderr if stderr is not None else subprocess.PIPE,
                                  timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeFailure(f"{self._root.name} {args[0]}: {e}") from e
        if proc.returncode != 0:
            raise RuntimeFailure(f"{self._root.name} {args[0]}: {_last_error(log) or 'failed'}")
        return proc.stdout.decode(errors="replace") if proc.stdout else ""

    def _cgroup(self, id: str) -> Any:
        from berth.runtime.cgroups import detect

        spec = json.loads((self._bundle(id) / "config.json").read_text())
        return detect((spec.get("linux") or {}).get("cgroupsPath"), id)

    def create(self, id: str, bundle: Path, rootfs_mounts: Sequence[Mount], stdin: int | None,
               stdout: int | None, stderr: int | None, console: bool) -> CreatedProcess:
        rootfs = bundle / "rootfs"
        mount_all(list(rootfs_mounts), str(rootfs))
        try:
            _resolve_named_user(bundle)
        except BaseException:
            unmount(str(rootfs))
            raise
        pid_file = self._root / f"{id}.pid"
        devnull = os.open(os.devnull, os.O_RDWR)
        console_fd: int | None = None
        try:
            with console_socket(self._root / "consoles") as sock:
                flags = ["--console-socket", str(sock.path)] if console else []
                self.run("create", "--bundle", str(bundle), "--pid-file", str(pid_file), *flags,
                         id, stdin=devnull if stdin is None else stdin,
                         stdout=devnull if stdout is None else stdout,
                         stderr=devnull if stderr is None else stderr)
                if console:
                    console_fd = sock.receive()
            pid = int(pid_file.read_text())
        except BaseException:
            if console_fd is not None:
                os.close(console_fd)
            with contextlib.suppress(RuntimeFailure):
                self.run("delete", "--force", id)
            unmount(str(rootfs))
            raise
        finally:
            os.close(devnull)
        self._bundles[id] = bundle
        return _RuncCreated(self, id, pid, console_fd)

    def kill(self, id: str, sig: int, all: bool = False) -> None:
        args = ["kill", *(["--all"] if all else []), id, str(sig)]
        try:
            self.run(*args)
        except RuntimeFailure as e:
            if "not running" in str(e) or "process already finished" in str(e):
                raise Conflict(f"container {id} is not running") from e
            raise

    def delete(self, id: str) -> None:
        bundle = self._bundles.get(id)
        try:
            self.run("delete", "--force", id)
        except RuntimeFailure as e:
            if "does not exist" not in str(e):
                raise
        if bundle is not None:
            unmount(str(bundle / "rootfs"))
        (self._root / f"{id}.pid").unlink(missing_ok=True)

    def cgroup_paths(self, id: str) -> Mapping[str, str]:
        return {k: str(v) for k, v in self._cgroup(id).paths.items()}

    def cgroup_pids(self, id: str) -> list[int]:
        pids: list[int] = self._cgroup(id).pids()
        return pids

    def pause(self, id: str) -> None:
        self.run("pause", id)

    def resume(self, id: str) -> None:
        self.run("resume", id)

    def update(self, id: str, resources: Mapping[str, Any]) -> None:
        self._cgroup(id).apply(resources)

    def exec(self, id: str, args: Sequence[str], env: Sequence[str], cwd: str, user: str,
             privileged: bool, tty: bool, stdin: int | None, stdout: int | None,
             stderr: int | None) -> tuple[int, int | None]:
        if not args:
            raise RuntimeFailure("exec needs a command")
        bundle = self._bundle(id)
        spec = json.loads((bundle / "config.json").read_text())
        process = _exec_process_json(spec, bundle / "rootfs", args, env, cwd, user,
                                     privileged, tty)
        tag = os.urandom(6).hex()
        pid_file = self._root / f"{id}.exec-{tag}.pid"
        process_file = self._root / f"{id}.exec-{tag}.json"
        process_file.write_text(json.dumps(process))
        devnull = os.open(os.devnull, os.O_RDWR)
        console_fd: int | None = None
        try:
            with console_socket(self._root / "consoles") as sock:
                flags = ["--console-socket", str(sock.path)] if tty else []
                self.run("exec", "--detach", "--pid-file", str(pid_file), "--process",
                         str(process_file), *flags, id,
                         stdin=devnull if stdin is None else stdin,
                         stdout=devnull if stdout is None else stdout,
                         stderr=devnull if stderr is None else stderr)
                if tty:
                    console_fd = sock.receive()
            pid = int(pid_file.read_text())
        except BaseException:
            if console_fd is not None:
                os.close(console_fd)
            raise
        finally:
            os.close(devnull)
            pid_file.unlink(missing_ok=True)
            process_file.unlink(missing_ok=True)
        return pid, console_fd

    def _bundle(self, id: str) -> Path:
        bundle = self._bundles.get(id)
        if bundle is None:
            bundle = Path(json.loads(self.run("state", id))["bundle"])
            self._bundles[id] = bundle
        return bundle


def _resolve_named_user(bundle: Path) -> None:
    """Write the uid/gid of a ``--user`` name (the berth.user annotation, which berth's own
    runtime resolves inside the container) into config.json: runc only takes numbers.
    Looked up in the image's passwd/group, as Docker does before handing runc the spec."""
    from berth.oci.specgen import USER_ANNOTATION
    from berth.runtime.process import resolve_user

    config = bundle / "config.json"
    spec = json.loads(config.read_text())
    annotation = (spec.get("annotations") or {}).get(USER_ANNOTATION)
    if not annotation:
        return
    process = spec.setdefault("process", {})
    rootfs = bundle / "rootfs"
    u = resolve_user(process.get("user") or {}, annotation, passwd=str(rootfs / "etc/passwd"),
                     group=str(rootfs / "etc/group"))
    process["user"] = {"uid": u.uid, "gid": u.gid, "additionalGids": list(u.additional_gids)}
    tmp = config.with_name("config.json.tmp")
    tmp.write_text(json.dumps(spec))
    tmp.replace(config)


def _exec_process_json(spec: Mapping[str, Any], rootfs: Path, args: Sequence[str],
                       env: Sequence[str], cwd: str, user: str, privileged: bool,
                       tty: bool) -> dict[str, Any]:
    """The OCI process runc runs for an exec: the container's, with the exec's overrides."""
    from berth.oci.capabilities import CAP_NUMBERS
    from berth.runtime.process import resolve_user

    base: Mapping[str, Any] = spec.get("process") or {}
    process = dict(base)
    process["args"] = list(args)
    process["terminal"] = tty
    merged: dict[str, str] = {}
    for entry in [*(str(e) for e in base.get("env") or []), *env]:
        merged[entry.partition("=")[0]] = entry
    process["env"] = list(merged.values())
    if cwd:
        process["cwd"] = cwd
    process.pop("consoleSize", None)
    if user:
        # Named users are looked up in the container's own passwd/group, as Docker does.
        u = resolve_user({}, user, passwd=str(rootfs / "etc/passwd"),
                         group=str(rootfs / "etc/group"))
        process["user"] = {"uid": u.uid, "gid": u.gid,
                           "additionalGids": list(u.additional_gids)}
    if privileged:
        # Every capability this process may hand on (this host has no CAP_SYS_RESOURCE,
        # and runc fails on a capability outside its own bounding set).
        bounding = _own_bounding_set()
        every = sorted(name for name, n in CAP_NUMBERS.items() if bounding >> n & 1)
        process["capabilities"] = {k: every for k in
                                   ("bounding", "effective", "permitted", "inheritable")}
        process.pop("apparmorProfile", None)
        process["noNewPrivileges"] = False
    return process


def _own_bounding_set() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))
    return ""


def backend_for(runtime: str, root: Path, seccomp_keys: CacheKeys | None = None) -> Backend:
    if runtime in ("", "berth"):
        return BerthBackend(root, seccomp_keys)
    if runtime in ("runc", "crun"):
        return RuncBackend(root, runtime)
    raise NotFound(f"unknown runtime {runtime!r}")
