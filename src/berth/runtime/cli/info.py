"""spec and features: what a bundle looks like by default, and what this runtime supports."""

from __future__ import annotations

import json
from pathlib import Path

from berth.errors import AlreadyExists
from berth.oci.capabilities import ALL_CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES
from berth.runtime.cli._args import Args
from berth.runtime.cli._common import OCI_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = ["cmd_features", "cmd_spec", "default_spec"]

_NAMESPACES: Final = ("cgroup", "ipc", "mount", "network", "pid", "user", "uts")
_MASKED: Final = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                  "/proc/scsi")
_READONLY: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def default_spec() -> dict[str, Any]:
    """The bundle config ``runc spec`` writes: ``sh`` on a terminal, Docker's default caps."""
    caps = [c if c.startswith("CAP_") else f"CAP_{c}" for c in DOCKER_DEFAULT_CAPABILITIES]
    return {
        "ociVersion": OCI_VERSION,
        "process": {"terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            "TERM=xterm"],
                    "cwd": "/",
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": list(_MASKED),
            "readonlyPaths": list(_READONLY),
        },
    }


def cmd_spec(args: Args, _root: str) -> int:
    target = Path(args.bundle or ".") / "config.json"
    if target.exists():
        raise AlreadyExists("File config.json exists. Remove it first")
    target.write_text(json.dumps(default_spec(), indent=2) + "\n")
    return 0


def cmd_features(_args: Args, _root: str) -> int:
    features = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                  "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "exec",
                         "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand",
                         "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime",
                         "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw",
                         "shared", "slave", "strictatime", "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": list(_NAMESPACES),
            "capabilities": [f"CAP_{c}" if not c.startswith("CAP_") else c for c in ALL_CAPABILITIES],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO",
                                                     "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                                     "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                                                     "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                                                     "SCMP_ACT_TRAP"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.checkpoint.enabled": "false",
                        "io.berth.runtime": "berth-runtime"},
    }
    print(json.dumps(features, indent=4))
    return 0
