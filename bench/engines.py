"""Private engines for benchmarks: a berthd and, when installed, a dockerd, each on its own
socket and roots under one temporary directory, driven by the same real docker CLI.

Nothing here touches a daemon the user already runs. dockerd is started without its bridge
(`--bridge=none`) or on a private bridge given by the caller, and always with
`--iptables=false`, so the host's firewall and networks are left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from berth.network import links
from berth.testing.cgroups import cgroup_dirs
from berth.testing.netcleanup import cleanup_network_leftovers, private_network_flags
from berth.testing.rootfs import busybox_rootfs_tar

__all__ = ["Engine", "start_berthd", "start_dockerd"]


@dataclass
class Engine:
    name: str
    root: Path
    socket: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)
    bridge: str | None = None  # a bridge created for this engine, removed by stop()
    cgroup_parent: str = ""  # the engine's --cgroup-parent, removed by stop() once empty

    def docker(self, *args: str, input: bytes | None = None,
               check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env=self.env, input=input,
                              capture_output=True, check=check)

    def engine_pids(self) -> list[int]:
        """The daemon and every helper process of this engine (shims, containerd)."""
        marker = str(self.root).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline or int(entry.name) == self.process.pid:
                pids.append(int(entry.name))
        return pids

    def pss_kib(self) -> int:
        total = 0
        for pid in self.engine_pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def stop(self) -> None:
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *[i.decode() for i in ids], check=False)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.bridge is not None:
            links.delete_link(self.bridge)
        if self.name == "berth":
            # berthd keeps its nftables table and bridges across restarts (as dockerd does):
            # a throwaway one's are removed with it.
            cleanup_network_leftovers(self.root / "data", private_network_flags(str(self.root))[1])
        if self.cgroup_parent:
            remove_cgroup_parent(self.cgroup_parent)


def remove_cgroup_parent(name: str) -> None:
    """rmdir ``name`` in every hierarchy (also under our own cgroup, where dockerd's relative
    parent lands); one still holding a cgroup (another engine of the same bench process) is
    left for that engine's stop."""
    for d in cgroup_dirs(name):
        with contextlib.suppress(OSError):
            d.rmdir()


def _wait_socket(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(path))
            return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise RuntimeError(f"nothing listens on {path}")


def _env(sock: Path, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DOCKER_HOST": f"unix://{sock}", "BERTH_HOST": f"unix://{sock}",
                "BERTH_NO_AUTOSTART": "1", "DOCKER_CONFIG": str(root / "docker-config")})
    return env


def start_berthd(base: Path, metrics_addr: str = "") -> Engine:
    root = base / "berth"
    root.mkdir(parents=True)
    sock = root / "berth.sock"
    log = open(root / "berthd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth.daemon.main", "-H", f"unix://{sock}",
         "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         # own bridge and subnet: never berth0 or the subnet of a berthd the user runs
         *private_network_flags(str(root)),
         "--pidfile", str(root / "berthd.pid"), "--cgroup-parent", f"berth-bench-{os.getpid()}",
         # dashboard off unless asked: never take the default port of a berthd the user runs
         "--metrics-addr", metrics_addr],
        stdout=log, stderr=subprocess.STDOUT)
    _wait_socket(sock, proc)
    engine = Engine("berth", root, sock, proc, _env(sock, root),
                    cgroup_parent=f"berth-bench-{os.getpid()}")
    from berth.baseimages import ensure_base_images

    ensure_base_images(engine.env["BERTH_HOST"])
    return engine


def start_berthd_tree(base: Path, src: Path) -> Engine:
    """``start_berthd`` running the berth of the source tree ``src`` (its ``src/`` directory),
    byte-compiled first, as an installed berth would be (for A/B of two trees)."""
    import compileall

    compileall.compile_dir(str(src / "berth"), quiet=1)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)  # inherited by berthd, its shims and the engine's env
    try:
        return start_berthd(base)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def start_dockerd(base: Path, bridge: tuple[str, str] | None = None) -> Engine | None:
    """A private dockerd; ``bridge`` = (name, gateway CIDR) gives it a default bridge network
    of its own (created here, removed by :meth:`Engine.stop`), still without iptables."""
    if shutil.which("dockerd") is None:
        return None
    net = ["--bridge=none"]
    if bridge is not None:
        links.ensure_bridge(*bridge)
        net = ["--bridge", bridge[0]]
    root = base / "docker"
    root.mkdir(parents=True)
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen(
        ["dockerd", "-H", f"unix://{sock}", "--data-root", str(root / "data"),
         "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"),
         *net, "--iptables=false", "--ip6tables=false",
         "--cgroup-parent", f"docker-bench-{os.getpid()}"],
        stdout=log, stderr=subprocess.STDOUT)
    _wait_socket(sock, proc)
    engine = Engine("docker", root, sock, proc, _env(sock, root),
                    bridge=bridge[0] if bridge else None, cgroup_parent=f"docker-bench-{os.getpid()}")
    engine.docker("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=busybox_rootfs_tar())
    return engine
