"""A container's mount points, Docker's ``MountPoints``: resolved once at create, pure.

Turns Binds (``-v``), Mounts (``--mount``), the merged Config.Volumes (image VOLUME and
``-v /path``) and VolumesFrom into a list of :class:`MountPoint` values; volumes are named
here (anonymous ones get fresh 64-hex names) and created by the caller. ``spec_host_config``
then gives specgen a HostConfig in which every mount point is an explicit Bind or Mount.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument
from berth.oci.specmounts import check_bind_mode

__all__ = ["MountPoint", "from_json", "inspect_view", "plan", "spec_host_config", "to_json"]


@dataclass(frozen=True)
class MountPoint:
    type: str                 # volume | bind | tmpfs
    destination: str
    source: str = ""          # host path for binds
    name: str = ""            # volume name
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    anonymous: bool = False
    copy_up: bool = True
    origin: str = "binds"     # binds | mounts | config | volumes-from (how specgen gets it)


def to_json(mp: MountPoint) -> dict[str, Any]:
    return {"Type": mp.type, "Destination": mp.destination, "Source": mp.source, "Name": mp.name,
            "RW": mp.rw, "Mode": mp.mode, "Propagation": mp.propagation, "Anonymous": mp.anonymous,
            "CopyUp": mp.copy_up, "Origin": mp.origin}


def from_json(d: Mapping[str, Any]) -> MountPoint:
    return MountPoint(type=d["Type"], destination=d["Destination"], source=d.get("Source", ""),
                      name=d.get("Name", ""), rw=bool(d.get("RW", True)), mode=d.get("Mode", ""),
                      propagation=d.get("Propagation", ""), anonymous=bool(d.get("Anonymous")),
                      copy_up=bool(d.get("CopyUp", True)), origin=d.get("Origin", "binds"))


def _clean(dest: str) -> str:
    return "/" + "/".join(p for p in dest.split("/") if p and p != ".")


_KNOWN_TYPES = ("bind", "volume", "tmpfs")
# The option blocks each type may carry; any other block is refused, as moby does.
_OPTION_FIELDS = {"bind": "BindOptions", "volume": "VolumeOptions", "tmpfs": "TmpfsOptions"}


def check_mount(m: Mapping[str, Any]) -> None:
    """Refuse a ``HostConfig.Mounts`` entry that Docker refuses, with Docker's message."""
    kind = str(m.get("Type") or "")
    prefix = f'invalid mount config for type "{kind}": '
    target = str(m.get("Target") or "")
    source = str(m.get("Source") or "")
    if not target:
        raise InvalidArgument(prefix + "field Target must not be empty")
    if _clean(target) == "/":
        raise InvalidArgument(prefix + "invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise InvalidArgument(prefix + f"invalid mount path: '{target}' mount path must be absolute")
    if kind not in _KNOWN_TYPES:
        raise InvalidArgument(prefix + "mount type unknown")
    for other, field in _OPTION_FIELDS.items():
        if other != kind and m.get(field) is not None:
            raise InvalidArgument(prefix + f"field {field} must not be specified")
    if kind == "bind":
        if not source:
            raise InvalidArgument(prefix + "field Source must not be empty")
        if not source.startswith("/"):
            raise InvalidArgument(prefix + f"invalid mount path: '{source}' mount path must be absolute")
    elif kind == "volume":
        if not source and m.get("ReadOnly"):
            raise InvalidArgument(prefix + "must not set ReadOnly mode when using anonymous volumes")
    elif source:
        raise InvalidArgument(prefix + "field Source must not be specified")


def _check_bind_dest(spec: str, dest: str, kind: str) -> str:
    """A ``-v`` destination as moby checks it at create (not only at start): absolute, not /."""
    prefix = f"invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": "
    if not dest.startswith("/"):
        raise InvalidArgument(prefix + f"invalid mount path: '{dest}' mount path must be absolute")
    clean = _clean(dest)
    if clean == "/":
        raise InvalidArgument(prefix + "invalid specification: destination can't be '/'")
    return clean


def _tmpfs_dests(host_config: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for dest in host_config.get("Tmpfs") or {}:
        d = str(dest)
        if not d.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{d}' mount path must be absolute")
        if _clean(d) == "/":
            raise InvalidArgument("invalid specification: destination can't be '/'")
        out.append(_clean(d))
    return out


def plan(config: Mapping[str, Any], host_config: Mapping[str, Any],
         volumes_from: Iterable[tuple[list[MountPoint], str]],
         new_name: Callable[[], str]) -> list[MountPoint]:
    """All mount points of a new container (``volumes_from``: (points, "ro"|"rw"|"") pairs)."""
    out: list[MountPoint] = []
    for b in host_config.get("Binds") or []:
        parts = str(b).split(":")
        if len(parts) < 2 or len(parts) > 3 or not parts[0]:
            raise InvalidArgument(f"invalid volume specification: '{b}'")
        # before the caller creates any volume: a refused create leaves none behind
        check_bind_mode(parts[2] if len(parts) == 3 else "")
        src = parts[0]
        dest = _check_bind_dest(str(b), parts[1], "bind" if src.startswith("/") else "volume")
        opts = parts[2].split(",") if len(parts) == 3 else []
        rw = "ro" not in opts
        mode = parts[2] if len(parts) == 3 else ""
        if src.startswith("/"):
            prop = next((o for o in opts if "private" in o or "shared" in o or "slave" in o), "rprivate")
            out.append(MountPoint("bind", dest, source=src, rw=rw, mode=mode, propagation=prop))
        else:
            out.append(MountPoint("volume", dest, name=src, rw=rw, mode=mode or "z",
                                  copy_up="nocopy" not in opts))
    for m in host_config.get("Mounts") or []:
        check_mount(m)
        kind = str(m.get("Type") or "")
        dest = _clean(str(m.get("Target") or "/"))
        if kind == "volume":
            name = str(m.get("Source") or "")
            vo = m.get("VolumeOptions") or {}
            out.append(MountPoint("volume", dest, name=name or new_name(), rw=not m.get("ReadOnly"),
                                  anonymous=not name, copy_up=not vo.get("NoCopy"), origin="mounts"))
        elif kind == "bind":
            prop = str((m.get("BindOptions") or {}).get("Propagation") or "rprivate")
            out.append(MountPoint("bind", dest, source=str(m.get("Source") or ""),
                                  rw=not m.get("ReadOnly"), propagation=prop, origin="mounts"))
        elif kind == "tmpfs":
            out.append(MountPoint("tmpfs", dest, rw=not m.get("ReadOnly"), origin="mounts"))
    taken: set[str] = set()
    for dest in [*(mp.destination for mp in out), *_tmpfs_dests(host_config)]:
        if dest in taken:
            raise InvalidArgument(f"Duplicate mount point: {dest}")
        taken.add(dest)
    for points, mode in volumes_from:
        for mp in points:
            if mp.destination in taken or mp.type == "tmpfs":
                continue
            rw = mp.rw if not mode else mode != "ro"
            out.append(MountPoint(mp.type, mp.destination, source=mp.source, name=mp.name, rw=rw,
                                  mode=mp.mode, propagation=mp.propagation, copy_up=False,
                                  origin="volumes-from"))
            taken.add(mp.destination)
    for dest in (config.get("Volumes") or {}):
        d = _clean(str(dest))
        if d in taken:
            continue
        out.append(MountPoint("volume", d, name=new_name(), anonymous=True, origin="config"))
        taken.add(d)
    return out


def spec_host_config(host_config: Mapping[str, Any], points: Iterable[MountPoint],
                     paths: Mapping[str, str]) -> dict[str, Any]:
    """HostConfig for specgen: points not expressed in Binds/Mounts become explicit binds."""
    hc = copy.deepcopy(dict(host_config))
    extra = []
    for mp in points:
        if mp.origin not in ("config", "volumes-from"):
            continue
        src = paths[mp.name] if mp.type == "volume" else mp.source
        extra.append({"Type": "bind", "Source": src, "Target": mp.destination, "ReadOnly": not mp.rw})
    if extra:
        hc["Mounts"] = [*(hc.get("Mounts") or []), *extra]
    return hc


def inspect_view(points: Iterable[MountPoint], paths: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for mp in points:
        if mp.type == "volume":
            out.append({"Type": "volume", "Name": mp.name, "Source": paths.get(mp.name, ""),
                        "Destination": mp.destination, "Driver": "local", "Mode": mp.mode,
                        "RW": mp.rw, "Propagation": ""})
        elif mp.type == "bind":
            out.append({"Type": "bind", "Source": mp.source, "Destination": mp.destination,
                        "Mode": mp.mode, "RW": mp.rw, "Propagation": mp.propagation})
        else:
            out.append({"Type": "tmpfs", "Source": "", "Destination": mp.destination, "Mode": "",
                        "RW": mp.rw, "Propagation": ""})
    return out
