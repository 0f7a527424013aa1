"""The container record: what berthd knows of one container, and its Docker-shaped views.

The persisted form (``to_record``) is the JSON stored in the containers table; ``inspect``
and ``summary`` produce the /containers/{id}/json and /containers/json shapes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from berth.humanize import human_duration
from berth.ids import short_id
from berth.timefmt import ZERO_TIME, parse_to_ns

__all__ = ["Container", "ContainerPaths", "State"]


@dataclass
class State:
    """Docker's ``State`` object; ``status`` is one of created, running, paused, restarting,
    removing, exited, dead."""

    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: dict[str, Any] | None = None
    """Docker's ``State.Health`` (Status, FailingStreak, Log) when a health check is set."""

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    def to_json(self) -> dict[str, Any]:
        return {
            "Status": self.status,
            # Docker reports a container waiting to be restarted as running and restarting.
            "Running": self.status in ("running", "paused", "restarting"),
            "Paused": self.status == "paused", "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed, "Dead": self.status == "dead", "Pid": self.pid,
            "ExitCode": self.exit_code, "Error": self.error, "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
            **({"Health": self.health} if self.health is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        return cls(status=data.get("Status", "created"), pid=int(data.get("Pid", 0)),
                   exit_code=int(data.get("ExitCode", 0)), error=data.get("Error", ""),
                   oom_killed=bool(data.get("OOMKilled", False)),
                   started_at=data.get("StartedAt", ZERO_TIME),
                   finished_at=data.get("FinishedAt", ZERO_TIME),
                   health=data.get("Health"))


@dataclass(frozen=True)
class ContainerPaths:
    """Where one container's files live: the bundle under the data root, the shim's state
    dir under the exec root."""

    bundle: Path
    state_dir: Path

    @property
    def log(self) -> Path:
        return self.bundle / f"{self.bundle.name}-json.log"

    @property
    def hostname(self) -> Path:
        return self.bundle / "hostname"

    @property
    def hosts(self) -> Path:
        return self.bundle / "hosts"

    @property
    def resolv_conf(self) -> Path:
        return self.bundle / "resolv.conf"

    @property
    def shm(self) -> Path:
        """Mount point of a shareable container's /dev/shm on the host (services/ipcshm.py)."""
        return self.bundle / "mounts" / "shm"


# HostConfig fields dockerd leaves out of inspect when unset (``omitempty`` in its API types).
_OMITTED_WHEN_EMPTY: Final = frozenset({"Init", "Mounts", "Sysctls", "Tmpfs", "StorageOpt",
                                        "Annotations"})


@dataclass
class Container:
    id: str
    name: str
    created: str
    image_ref: str
    image_id: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    path: str
    args: list[str]
    paths: ContainerPaths
    state: State = field(default_factory=State)
    restart_count: int = 0
    manually_stopped: bool = False
    """Stopped or killed by the user: restart policies leave it alone (moby's field)."""
    mount_points: list[dict[str, Any]] = field(default_factory=list)
    """Docker's MountPoints, resolved at create (see ``berth.volumes.mounts``)."""
    transient: bool = False
    """A build step's container: removed at berthd start (the build owning it died)."""

    def to_record(self) -> dict[str, Any]:
        return {
            "Config": self.config, "HostConfig": self.host_config, "ImageRef": self.image_ref,
            "Path": self.path, "Args": self.args, "State": self.state.to_json(),
            "RestartCount": self.restart_count, "Created": self.created,
            "MountPoints": self.mount_points, "HasBeenManuallyStopped": self.manually_stopped,
            **({"BerthTransient": True} if self.transient else {}),
        }

    @classmethod
    def from_record(cls, id: str, name: str, image_id: str, data: dict[str, Any],
                    paths: ContainerPaths) -> Container:
        return cls(id=id, name=name, created=data["Created"], image_ref=data["ImageRef"],
                   image_id=image_id, config=data["Config"], host_config=data["HostConfig"],
                   path=data["Path"], args=list(data["Args"]), paths=paths,
                   state=State.from_json(data.get("State", {})),
                   restart_count=int(data.get("RestartCount", 0)),
                   manually_stopped=bool(data.get("HasBeenManuallyStopped", False)),
                   mount_points=list(data.get("MountPoints") or []),
                   transient=bool(data.get("BerthTransient", False)))

    def status_text(self, now: float | None = None) -> str:
        """The daemon-computed STATUS column: ``Up 2 seconds``, ``Exited (3) 1 minute ago``."""
        now = time.time() if now is None else now
        st = self.state
        if st.status in ("running", "paused"):
            started = parse_to_ns(st.started_at) / 1e9
            text = f"Up {human_duration(max(0.0, now - started))}"
            if st.health is not None and st.status == "running":
                hs = st.health.get("Status")
                text += " (health: starting)" if hs == "starting" else f" ({hs})"
            return text + " (Paused)" if st.status == "paused" else text
        if st.status == "restarting":
            finished = parse_to_ns(st.finished_at) / 1e9
            return f"Restarting ({st.exit_code}) {human_duration(now - finished)} ago"
        if st.status == "removing":
            return "Removal In Progress"
        if st.status == "dead":
            return "Dead"
        if st.status == "exited" or st.finished_at != ZERO_TIME:
            finished = parse_to_ns(st.finished_at) / 1e9
            return f"Exited ({st.exit_code}) {human_duration(max(0.0, now - finished))} ago"
        return "Created"

    def command_text(self) -> str:
        """``ps``'s COMMAND: like moby, arguments containing a space are wrapped in single quotes."""
        args = [f"'{a}'" if " " in a else a for a in self.args]
        return " ".join([self.path, *args]).strip()

    def network_mode(self) -> str:
        return str(self.host_config.get("NetworkMode") or "bridge")

    def summary(self, size: dict[str, int] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.id, "Names": [f"/{self.name}"], "Image": self.image_ref,
            "ImageID": self.image_id, "Command": self.command_text(),
            "Created": parse_to_ns(self.created) // 1_000_000_000, "Ports": [],
            "Labels": self.config.get("Labels") or {}, "State": self.state.status,
            "Status": self.status_text(), "HostConfig": {"NetworkMode": self.network_mode()},
            "NetworkSettings": {"Networks": {}}, "Mounts": [],
        }
        if size is not None:
            out["SizeRw"] = size.get("rw", 0)
            out["SizeRootFs"] = size.get("rootfs", 0)
        return out

    def inspect(self, graph_driver: dict[str, Any] | None = None) -> dict[str, Any]:
        # dockerd names the etc files and the log only once a start has set them up
        started = self.state.started_at != ZERO_TIME
        return {
            "Id": self.id, "Created": self.created, "Path": self.path, "Args": self.args,
            "State": self.state.to_json(), "Image": self.image_id,
            "ResolvConfPath": str(self.paths.resolv_conf) if started else "",
            "HostnamePath": str(self.paths.hostname) if started else "",
            "HostsPath": str(self.paths.hosts) if started else "",
            "LogPath": str(self.paths.log) if started and self._json_log() else "",
            "Name": f"/{self.name}",
            "RestartCount": self.restart_count, "Driver": "overlay2", "Platform": "linux",
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
            "HostConfig": {k: v for k, v in self.host_config.items()
                           if not (k in _OMITTED_WHEN_EMPTY and not v and v is not False)},
            "GraphDriver": graph_driver or {"Name": "overlay2", "Data": None},
            "Mounts": [], "Config": self.config,
            "NetworkSettings": {
                "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": False,
                "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": {},
                "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
                "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": {},
            },
        }

    def _json_log(self) -> bool:
        """Whether the container logs to a file (json-file; none keeps no log)."""
        return str((self.host_config.get("LogConfig") or {}).get("Type") or "json-file") == "json-file"

    @property
    def short_id(self) -> str:
        return short_id(self.id)
