"""Validation and normalisation of the ``POST /containers/create`` body.

The docker CLI sends every field, mostly zero values; the SDK sends only a few. Both must
end up with the same normalised Config and HostConfig, with Docker's defaults filled in,
and a field of the wrong JSON type is a 400 naming the field, before anything is created.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument
from berth.network import ports
from berth.oci.specgen import DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS

__all__ = ["CreateRequest", "parse_create_body"]

_BOOL, _STR, _INT, _LIST, _DICT, _STRSLICE = "bool", "string", "int", "list", "object", "strslice"

_CONFIG_TYPES: dict[str, str] = {
    "Hostname": _STR, "Domainname": _STR, "User": _STR, "AttachStdin": _BOOL,
    "AttachStdout": _BOOL, "AttachStderr": _BOOL, "ExposedPorts": _DICT, "Tty": _BOOL,
    "OpenStdin": _BOOL, "StdinOnce": _BOOL, "Env": _LIST, "Cmd": _STRSLICE,
    "Healthcheck": _DICT, "ArgsEscaped": _BOOL, "Image": _STR, "Volumes": _DICT,
    "WorkingDir": _STR, "Entrypoint": _STRSLICE, "NetworkDisabled": _BOOL, "MacAddress": _STR,
    "OnBuild": _LIST, "Labels": _DICT, "StopSignal": _STR, "StopTimeout": _INT, "Shell": _LIST,
}

_HOST_TYPES: dict[str, str] = {
    "Binds": _LIST, "ContainerIDFile": _STR, "LogConfig": _DICT, "NetworkMode": _STR,
    "PortBindings": _DICT, "RestartPolicy": _DICT, "AutoRemove": _BOOL, "VolumeDriver": _STR,
    "VolumesFrom": _LIST, "ConsoleSize": _LIST, "Annotations": _DICT, "CapAdd": _LIST,
    "CapDrop": _LIST, "CgroupnsMode": _STR, "Dns": _LIST, "DnsOptions": _LIST,
    "DnsSearch": _LIST, "ExtraHosts": _LIST, "GroupAdd": _LIST, "IpcMode": _STR, "Cgroup": _STR,
    "Links": _LIST, "OomScoreAdj": _INT, "PidMode": _STR, "Privileged": _BOOL,
    "PublishAllPorts": _BOOL, "ReadonlyRootfs": _BOOL, "SecurityOpt": _LIST, "StorageOpt": _DICT,
    "Tmpfs": _DICT, "UTSMode": _STR, "UsernsMode": _STR, "ShmSize": _INT, "Sysctls": _DICT,
    "Runtime": _STR, "Isolation": _STR, "CpuShares": _INT, "Memory": _INT, "NanoCpus": _INT,
    "CgroupParent": _STR, "BlkioWeight": _INT, "CpuPeriod": _INT, "CpuQuota": _INT,
    "CpuRealtimePeriod": _INT, "CpuRealtimeRuntime": _INT, "CpusetCpus": _STR,
    "CpusetMems": _STR, "Devices": _LIST, "DeviceCgroupRules": _LIST, "MemoryReservation": _INT,
    "MemorySwap": _INT, "MemorySwappiness": _INT, "OomKillDisable": _BOOL, "PidsLimit": _INT,
    "Ulimits": _LIST, "Init": _BOOL, "Mounts": _LIST, "MaskedPaths": _LIST, "ReadonlyPaths": _LIST,
}

_HOST_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [],
    "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
    "Runtime": "berth", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
    "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
    "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None,
    "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
    "OomKillDisable": None, "PidsLimit": None, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0,
    "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "Mounts": None, "Init": None, "Tmpfs": None,
    "Sysctls": None,
}

_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": {},
}

# berth's own runtime, or runc / crun driving the same bundle (berth.shim.backend).
_RUNTIMES = {"berth", "runc", "crun"}

_RESTART_POLICIES = {"", "no", "always", "on-failure", "unless-stopped"}


@dataclass(frozen=True)
class CreateRequest:
    """A validated create body: ``image`` as the user typed it, Config and HostConfig normalised."""

    image: str
    config: dict[str, Any]
    host_config: dict[str, Any]


def _check(section: str, key: str, value: Any, kind: str) -> Any:
    if value is None:
        return None
    ok = {
        _BOOL: isinstance(value, bool),
        _STR: isinstance(value, str),
        _INT: isinstance(value, int) and not isinstance(value, bool),
        _LIST: isinstance(value, list),
        _DICT: isinstance(value, dict),
        _STRSLICE: isinstance(value, str | list),
    }[kind]
    if not ok:
        got = type(value).__name__.replace("str", "string").replace("dict", "object")
        raise InvalidArgument(
            f"json: cannot unmarshal {got} into Go struct field {section}.{key} of type "
            f"{'[]string' if kind in (_LIST, _STRSLICE) else kind}"
        )
    if kind == _STRSLICE:
        value = [value] if isinstance(value, str) else value
    if kind in (_LIST, _STRSLICE) and key in ("Env", "Cmd", "Entrypoint", "Binds", "CapAdd",
                                              "CapDrop", "SecurityOpt", "Dns", "ExtraHosts"):
        for item in value:
            if not isinstance(item, str):
                raise InvalidArgument(f"invalid {section}.{key}: every item must be a string")
    if kind == _DICT and key in ("Labels", "Sysctls", "Tmpfs"):
        for k, v in value.items():
            if not isinstance(v, str):
                raise InvalidArgument(f"invalid {section}.{key}: value of {k!r} must be a string")
    return value


def _normalise_host(raw: dict[str, Any]) -> dict[str, Any]:
    host = copy.deepcopy(_HOST_DEFAULTS)
    for key, value in raw.items():
        kind = _HOST_TYPES.get(key)
        host[key] = _check("HostConfig", key, value, kind) if kind else value
    for key, default in _HOST_DEFAULTS.items():
        if host.get(key) is None and default is not None:
            host[key] = copy.deepcopy(default)
    mode = host.get("NetworkMode") or "default"
    host["NetworkMode"] = "bridge" if mode == "default" else mode
    log = host.get("LogConfig") or {}
    host["LogConfig"] = {"Type": log.get("Type") or "json-file", "Config": log.get("Config") or {}}
    if host["LogConfig"]["Type"] not in ("json-file", "none"):
        raise InvalidArgument(f"logger: no log driver named '{host['LogConfig']['Type']}' is registered")
    policy = host.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name not in _RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    retries = int(policy.get("MaximumRetryCount") or 0)
    if retries < 0:
        raise InvalidArgument("maximum retry count cannot be negative")
    if retries and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    host["RestartPolicy"] = {"Name": name, "MaximumRetryCount": retries}
    if host["AutoRemove"] and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if host.get("ShmSize", 0) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    if host.get("Memory", 0) < 0:
        raise InvalidArgument("invalid memory limit: it can not be negative")
    if host.get("Memory", 0) > 0 and not host.get("MemorySwap"):
        # moby's default, recorded as such: as much swap as memory. Recorded, not derived at
        # each start, so a later update of the memory alone keeps it (as docker update does).
        host["MemorySwap"] = 2 * host["Memory"]
    if not host.get("ShmSize"):
        host["ShmSize"] = 67108864
    if not host.get("IpcMode"):
        host["IpcMode"] = "private"  # moby records its daemon default (default-ipc-mode)
    _record_defaults(host)
    if not host.get("Runtime"):
        host["Runtime"] = "berth"
    if host["Runtime"] not in _RUNTIMES:
        raise InvalidArgument(f"unknown or invalid runtime name: {host['Runtime']}")
    return host


def _record_defaults(host: dict[str, Any]) -> None:
    """What dockerd records for what the client left out, so inspect shows the same: the
    cgroup namespace mode (host: this engine's default), no PidsLimit for 0 or less, no
    MemorySwappiness for -1, and, unprivileged, the masked and read-only /proc paths (a
    client's own lists, [] for ``systempaths=unconfined``, are kept and used)."""
    if not host.get("CgroupnsMode"):
        host["CgroupnsMode"] = "host"
    pids = host.get("PidsLimit")
    if isinstance(pids, int) and pids <= 0:
        host["PidsLimit"] = None
    if host.get("MemorySwappiness") == -1:
        host["MemorySwappiness"] = None
    if not host.get("Privileged"):
        if host.get("MaskedPaths") is None:
            host["MaskedPaths"] = list(DOCKER_MASKED_PATHS)
        if host.get("ReadonlyPaths") is None:
            host["ReadonlyPaths"] = list(DOCKER_READONLY_PATHS)


def parse_create_body(body: dict[str, Any]) -> CreateRequest:
    """Validate and normalise a create body; raise InvalidArgument naming the bad field."""
    config = copy.deepcopy(_CONFIG_DEFAULTS)
    for key, value in body.items():
        if key in ("HostConfig", "NetworkingConfig"):
            continue
        kind = _CONFIG_TYPES.get(key)
        config[key] = _check("Config", key, value, kind) if kind else value
    if config.get("Labels") is None:
        config["Labels"] = {}
    image = config.get("Image") or ""
    if not image:
        raise InvalidArgument("Config.Image is required: no image was given")
    host_raw = body.get("HostConfig") or {}
    if not isinstance(host_raw, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field HostConfig: expected an object")
    host = _normalise_host(host_raw)
    # Refused here, not kept: a port key no mapping can hold (80/bogus) made every later
    # container list fail on the record.
    for key in [*(config.get("ExposedPorts") or {}), *(host.get("PortBindings") or {})]:
        ports.port_key(str(key))
    return CreateRequest(image=image, config=config, host_config=host)
