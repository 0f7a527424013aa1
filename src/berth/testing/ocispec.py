"""The OCI runtime spec that runtime and shim tests start from.

Docker's defaults for a busybox container (moby's default capabilities, masked and
read-only paths, the /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup
mounts, fresh pid/net/ipc/uts/mount namespaces), so the runtime under test sees what berthd
would give it; each test changes only what it is about. Not ``berth-runtime spec``'s
default (that one follows ``runc spec``: a terminal, a read-only root, a cgroup namespace).
"""

from __future__ import annotations

from typing import Any

from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.oci.specgen import DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS

__all__ = ["PATH_ENV", "base_spec"]

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def base_spec(args: list[str], cgroups_path: str, *, root: str = "rootfs",
              hostname: str = "berthtest", terminal: bool = False) -> dict[str, Any]:
    """A fresh spec (nothing shared between calls, so tests may mutate it) running ``args``
    as root in ``root`` (relative to the bundle or absolute), in cgroup ``cgroups_path``."""
    caps = list(DOCKER_DEFAULT_CAPABILITIES)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": [PATH_ENV], "cwd": "/",
            "capabilities": {"bounding": caps, "effective": list(caps), "permitted": list(caps)},
            "noNewPrivileges": False,
        },
        "root": {"path": root},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": list(_NOSUID_NOEXEC_NODEV)},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": list(_NOSUID_NOEXEC_NODEV)},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": [*_NOSUID_NOEXEC_NODEV, "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": [*_NOSUID_NOEXEC_NODEV, "relatime", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(DOCKER_MASKED_PATHS),
            "readonlyPaths": list(DOCKER_READONLY_PATHS),
        },
    }
