"""The ``mounts`` of a runtime spec from Docker's HostConfig: the defaults every container
gets, the network files, ``Binds``, ``Mounts`` and ``Tmpfs``. Pure.

Must not touch the filesystem: whether a bind source exists is the daemon's check, and named
volumes arrive already resolved to host paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from berth.errors import InvalidArgument

__all__ = ["DEFAULT_SHM_SIZE", "NetworkFiles", "check_bind_mode", "default_mounts", "network_file_mounts",
           "user_mounts"]

DEFAULT_SHM_SIZE: Final = 64 * 1024 * 1024
_PROPAGATIONS: Final = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_IGNORED_BIND_OPTS: Final = ("z", "Z", "nocopy", "consistent", "cached", "delegated")


@dataclass(frozen=True)
class NetworkFiles:
    """Host paths (absolute, or relative to the bundle) of the files bound into /etc."""

    hostname: str | None = None
    hosts: str | None = None
    resolv_conf: str | None = None


def _mount(dest: str, kind: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": dest, "type": kind, "source": source, "options": options}


def default_mounts(shm_size: int, privileged: bool) -> list[dict[str, Any]]:
    """moby's oci/defaults.go mounts; /sys and the cgroup mount are writable when privileged."""
    if shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    ro = [] if privileged else ["ro"]
    return [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", *ro]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", [*ro, "nosuid", "noexec", "nodev"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/dev/shm", "tmpfs", "shm",
               ["nosuid", "noexec", "nodev", "mode=1777",
                f"size={shm_size or DEFAULT_SHM_SIZE}"]),
    ]


def network_file_mounts(files: NetworkFiles, readonly: bool) -> list[dict[str, Any]]:
    opts = ["rbind", "rprivate", *(["ro"] if readonly else [])]
    out = []
    for dest, src in (("/etc/resolv.conf", files.resolv_conf), ("/etc/hostname", files.hostname),
                      ("/etc/hosts", files.hosts)):
        if src:
            out.append(_mount(dest, "bind", src, list(opts)))
    return out


def _check_dest(dest: str, spec: str) -> str:
    if not dest.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: '{spec}': "
                              f"invalid mount config: mount path must be absolute")
    clean = "/" + "/".join(p for p in dest.split("/") if p and p != ".")
    if clean == "/":
        raise InvalidArgument(f"invalid volume specification: '{spec}': "
                              f"invalid mount config: destination can't be '/'")
    return clean


def _bind(dest: str, source: str, readonly: bool, propagation: str | None) -> dict[str, Any]:
    return _mount(dest, "bind", source,
                  ["rbind", *(["ro"] if readonly else []), propagation or "rprivate"])


def _volume_source(name: str, volumes: Mapping[str, str], spec: str) -> str:
    if name.startswith("/"):
        return name
    if name not in volumes:
        raise InvalidArgument(f"invalid volume specification: '{spec}': volume {name!r} "
                              f"was not resolved by the daemon")
    return volumes[name]


def _parse_bind(spec: str, volumes: Mapping[str, str]) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) == 1:
        raise InvalidArgument(f"invalid volume specification: '{spec}': anonymous volumes "
                              f"belong in Config.Volumes")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, dest = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not source:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    check_bind_mode(mode)
    readonly = False
    propagation = None
    for opt in (o for o in mode.split(",") if o):
        if opt in ("ro", "rw"):
            readonly = opt == "ro"
        elif opt in _PROPAGATIONS:
            propagation = opt
    return _bind(_check_dest(dest, spec), _volume_source(source, volumes, spec), readonly,
                 propagation)


def check_bind_mode(mode: str) -> None:
    """Refuse a ``-v src:dst:mode`` whose mode has an option Docker does not know."""
    for opt in (o for o in mode.split(",") if o):
        if opt not in ("ro", "rw", *_PROPAGATIONS, *_IGNORED_BIND_OPTS):
            raise InvalidArgument(f"invalid mode: {opt}")


def _tmpfs(dest: str, options: Sequence[str], spec: str) -> dict[str, Any]:
    opts = ["noexec", "nosuid", "nodev"]
    opposite = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    for o in options:
        if not o:
            continue
        if o in opposite and opposite[o] in opts:
            opts.remove(opposite[o])
        if o not in opts:
            opts.append(o)
    return _mount(_check_dest(dest, spec), "tmpfs", "tmpfs", opts)


def _parse_api_mount(m: Mapping[str, Any], volumes: Mapping[str, str]) -> dict[str, Any]:
    kind = str(m.get("Type") or "")
    target = str(m.get("Target") or "")
    if not target:
        raise InvalidArgument("invalid mount config: Target must not be empty")
    if kind == "bind":
        source = str(m.get("Source") or "")
        if not source.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"bind\": invalid mount path: "
                                  f"'{source}' mount path must be absolute")
        prop = (m.get("BindOptions") or {}).get("Propagation") or None
        if prop is not None and prop not in _PROPAGATIONS:
            raise InvalidArgument(f"invalid mount config for type \"bind\": invalid propagation "
                                  f"{prop!r}")
        return _bind(_check_dest(target, target), source, bool(m.get("ReadOnly")), prop)
    if kind == "volume":
        source = _volume_source(str(m.get("Source") or ""), volumes, target)
        return _bind(_check_dest(target, target), source, bool(m.get("ReadOnly")), None)
    if kind == "tmpfs":
        topts = m.get("TmpfsOptions") or {}
        opts: list[str] = []
        if topts.get("SizeBytes"):
            opts.append(f"size={int(topts['SizeBytes'])}")
        if topts.get("Mode"):
            opts.append(f"mode={int(topts['Mode']):o}")
        if m.get("ReadOnly"):
            opts.append("ro")
        return _tmpfs(target, opts, target)
    raise InvalidArgument(f"mount type unknown: {kind!r}")


def user_mounts(host_config: Mapping[str, Any], volumes: Mapping[str, str]) -> list[dict[str, Any]]:
    """Binds, then Mounts, then Tmpfs, refusing two mounts on the same destination."""
    out = [_parse_bind(str(b), volumes) for b in host_config.get("Binds") or []]
    out += [_parse_api_mount(m, volumes) for m in host_config.get("Mounts") or []]
    for dest, opts in (host_config.get("Tmpfs") or {}).items():
        out.append(_tmpfs(str(dest), str(opts or "").split(","), str(dest)))
    seen: set[str] = set()
    for m in out:
        if m["destination"] in seen:
            raise InvalidArgument(f"Duplicate mount point: {m['destination']}")
        seen.add(m["destination"])
    return out
