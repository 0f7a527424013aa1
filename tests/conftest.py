"""Shared fixtures: a private berthd per test session (own socket, data root, exec root, cgroup parent).

Set BERTH_TEST_HOST=unix:///path to point the daemon-level tests at an already running
engine instead (for example a dockerd started by hand, to compare behaviour with Docker).
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.registry.helpers import Server

REPO = Path(__file__).resolve().parent.parent

# Cgroup parents meant to outlive a module: the session daemon's (removed at session end).
_SESSION_CGROUP_PARENTS = pytest.StashKey[set[str]]()


@dataclass
class Daemon:
    host: str
    socket: Path
    data_root: Path
    exec_root: Path
    cgroup_parent: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    metrics_url: str = ""

    def berth(self, *args: str, input: bytes | None = None, timeout: float = 60,
              check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run the berth CLI against this daemon."""
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], input=input,
                              env=self.env, capture_output=True, timeout=timeout, check=check)

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60,
               check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run the real docker CLI against this daemon."""
        return subprocess.run(["docker", *args], input=input, env=self.env,
                              capture_output=True, timeout=timeout, check=check)


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"berthd exited with {proc.returncode}:\n{log.read_text()}")
        if path.exists():
            import socket

            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise RuntimeError(f"berthd did not listen on {path}:\n{log.read_text()}")


def network_flags(base: Path) -> list[str]:
    """A bridge name and subnets of this test daemon's own, clear of berth0, docker0 and other
    sessions (derived from the pid and the temp dir, both unique while the session runs)."""
    from berth.testing.netcleanup import private_network_flags

    return private_network_flags(f"{os.getpid()}-{base}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_berthd(base: Path, name: str = "berthd") -> Daemon:
    data_root = base / "data"
    exec_root = base / "exec"
    sock = base / "berth.sock"
    log = base / f"{name}.log"
    from berth.testing.cgroups import session_cgroup_name

    cgroup_parent = session_cgroup_name("test", base.name)
    metrics_port = _free_port()
    cmd = [sys.executable, "-m", "berth.daemon.main", "--host", f"unix://{sock}",
           "--data-root", str(data_root), "--exec-root", str(exec_root),
           "--pidfile", str(base / "berthd.pid"), "--cgroup-parent", cgroup_parent,
           "--log-level", "debug", *network_flags(base),
           "--metrics-addr", f"127.0.0.1:{metrics_port}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_socket(sock, proc, log)
    except BaseException:
        stop_process(proc)  # a daemon too slow to listen still has a bridge, table and cgroups
        raise
    env = dict(os.environ)
    env.update({"DOCKER_HOST": f"unix://{sock}", "BERTH_HOST": f"unix://{sock}",
                "BERTH_NO_AUTOSTART": "1", "DOCKER_CONFIG": str(base / "docker-config")})
    return Daemon(host=f"unix://{sock}", socket=sock, data_root=data_root, exec_root=exec_root,
                  cgroup_parent=cgroup_parent, process=proc, log_path=log, env=env,
                  metrics_url=f"http://127.0.0.1:{metrics_port}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM a daemon this session started (it tears down what it set up), SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_berthd(d: Daemon) -> None:
    if d.process is not None:
        stop_process(d.process)


@pytest.fixture(scope="session")
def daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    external = os.environ.get("BERTH_TEST_HOST")
    if external:
        env = dict(os.environ)
        env.update({"DOCKER_HOST": external, "BERTH_HOST": external, "BERTH_NO_AUTOSTART": "1"})
        sock = Path(external.removeprefix("unix://"))
        yield Daemon(host=external, socket=sock, data_root=Path("/nonexistent"),
                     exec_root=Path("/nonexistent"), cgroup_parent="", env=env)
        return
    base = Path(tempfile.mkdtemp(prefix="berth-test-"))
    d = start_berthd(base)
    request.config.stash.setdefault(_SESSION_CGROUP_PARENTS, set()).add(d.cgroup_parent)
    leftovers: list[str] = []
    try:
        from berth.baseimages import ensure_base_images

        ensure_base_images(d.host)
        yield d
    finally:
        leftovers = retire_berthd(d, base)
        shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"berth left these behind: {leftovers}"


def retire_berthd(d: Daemon, base: Path) -> list[str]:
    """Remove the containers of a daemon started on ``base`` (tests that failed half-way leave
    some) while it still answers, stop it, then clean what the kernel still holds for it:
    processes, its cgroups in every hierarchy, mounts, its bridge and nftables table.
    Returns what had to be cleaned, which a well-behaved daemon leaves nothing of."""
    from berth.testing.cleanup import cleanup_daemon_leftovers
    from berth.testing.netcleanup import cleanup_network_leftovers

    remove_all_containers(d)
    stop_berthd(d)
    leftovers = cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)
    return leftovers + cleanup_network_leftovers(d.data_root, network_flags(base)[1])


def remove_all_containers(d: Daemon) -> None:
    import json

    from tests.daemon.apihttp import request

    try:
        _, _, body = request(str(d.socket), "GET", "/containers/json?all=1")
        for c in json.loads(body):
            request(str(d.socket), "DELETE", f"/containers/{c['Id']}?force=1")
    except (OSError, ValueError):
        pass


@pytest.fixture(scope="session", autouse=True)
def _session_leaves_no_cgroups() -> Iterator[None]:
    """The session removes every cgroup it made, in every hierarchy, even when tests fail.

    Every cgroup parent a test hands out is named ``berth-<kind>-<pid>...`` after this process
    (berth.testing.cgroups.session_cgroup_name), so sessions other people run on the machine at
    the same time never count here; names an earlier process with the same pid left are in
    ``before``. Set up before any other fixture, so checked after all of them have stopped.
    """
    from berth.testing.cgroups import session_cgroups

    before = session_cgroups()
    yield
    leaked = sorted(map(str, session_cgroups() - before))
    assert not leaked, f"this test session left cgroups behind: {leaked}"


@pytest.fixture(scope="module", autouse=True)
def _module_leaves_no_cgroups(request: pytest.FixtureRequest) -> Iterator[None]:
    """The same check per test module, so a leak names the module that made it (the session
    daemon's cgroup parent, which outlives modules, is left to the session check)."""
    from berth.testing.cgroups import session_cgroups

    before = session_cgroups()
    yield
    lasting = request.config.stash.get(_SESSION_CGROUP_PARENTS, set())
    leaked = sorted(str(p) for p in session_cgroups() - before if p.name not in lasting)
    assert not leaked, f"{request.module.__name__} left cgroups behind: {leaked}"


@pytest.fixture(autouse=True)
def _no_leaked_sockets() -> Iterator[None]:
    """A client socket a test leaves unclosed fails that test, not a later one.

    Sockets caught in reference cycles are freed whenever the garbage collector next runs, and
    their ResourceWarning (an error here) used to fail whichever test that happened in.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _base_images_survive(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test leaves the session daemon's base images in place.

    A test that removed busybox would make the next ones pull it — from the internet, since
    the docker CLI pulls what is missing. Name the culprit and put the images back instead.
    """
    yield
    if "daemon" not in request.fixturenames:
        return
    d: Daemon = request.getfixturevalue("daemon")
    from berth.baseimages import ensure_base_images

    restored = ensure_base_images(d.host)
    assert not restored, f"{request.node.nodeid} removed the base images {restored}"


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A private directory outside pytest's kept temp dirs (registry storage, certificates,
    htpasswd files), removed afterwards even when the test fails."""
    d = Path(tempfile.mkdtemp(prefix="berth-scratch-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Registry servers a test starts (append each); all are stopped afterwards, even on failure."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for s in started:
            s.stop()
