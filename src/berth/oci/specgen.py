"""Docker's container Config + HostConfig -> an OCI runtime spec (config.json). Pure.

``generate`` composes small steps (process, namespaces, mounts, resources, security), each a
function of the input; host facts the daemon knows (CPU count, resolved volume paths, the
network files it wrote, host devices for --privileged) come in through :class:`SpecInput`.
Invalid requests raise InvalidArgument with Docker's wording.

Vocabulary: ``config`` is the already merged Config (see :func:`merge_image_config`);
``host_config`` is HostConfig as sent to ``POST /containers/create``.

Seccomp: the default profile or ``--security-opt seccomp=<profile JSON>|unconfined``,
resolved against the final capability set (berth.security.seccomp); none when privileged.

Devices: ``--privileged`` gets every host node (``host_devices``), ``--device`` nodes come in
``devices`` (both read on the host by berth.security.devices) with their devices-cgroup allow
rules, then ``--device-cgroup-rule``. ``--group-add``: numbers go to ``additionalGids``, names
to the ``berth.groups`` annotation (resolved by the runtime in the container's /etc/group).

Not here (later issues): --init, user-namespace remapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from berth.errors import InvalidArgument
from berth.oci import capabilities as caps
from berth.oci import specmounts, specresources
from berth.oci.merge import DEFAULT_PATH_ENV, merge_image_config
from berth.oci.specmounts import NetworkFiles
from berth.security import seccomp

__all__ = ["DOCKER_MASKED_PATHS", "DOCKER_READONLY_PATHS", "GROUPS_ANNOTATION", "USER_ANNOTATION",
           "HostDevice",
           "NetworkFiles", "SpecInput", "check_security", "generate", "merge_image_config"]

USER_ANNOTATION: Final = "berth.user"
GROUPS_ANNOTATION: Final = "berth.groups"
"""``--group-add`` names, comma-separated: resolved by the runtime in the container's /etc/group."""

DOCKER_MASKED_PATHS: Final = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
DOCKER_READONLY_PATHS: Final = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)


@dataclass(frozen=True)
class HostDevice:
    """A host device node the daemon read (--privileged's whole /dev, or one --device).

    ``path`` is where it appears in the container; ``permissions`` the devices-cgroup access.
    """

    path: str
    type: str
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0
    permissions: str = "rwm"


@dataclass(frozen=True)
class SpecInput:
    container_id: str
    config: Mapping[str, Any]
    host_config: Mapping[str, Any]
    cgroups_path: str
    hostname: str = ""
    network_files: NetworkFiles = field(default_factory=NetworkFiles)
    rootfs: str = "rootfs"
    volumes: Mapping[str, str] = field(default_factory=dict)
    host_cpus: int | None = None
    host_devices: Sequence[HostDevice] = ()
    devices: Sequence[HostDevice] = ()
    """``--device`` nodes (``HostConfig.Devices`` read on the host by the daemon)."""
    network_namespace_path: str | None = None
    """netns to join for ``NetworkMode: container:<id>`` (or a prepared bridge netns)."""
    pid_namespace_path: str | None = None
    """pid namespace to join for ``PidMode: container:<id>``."""
    ipc_namespace_path: str | None = None
    """ipc namespace to join for ``IpcMode: container:<id>``."""
    link_env: Sequence[str] = ()
    """Variables of the container's legacy links, before its own Env (which may override)."""
    shm_path: str | None = None
    """Host path bound onto /dev/shm instead of a tmpfs of its own (shareable, joined or host
    IPC; services/ipcshm.py)."""
    machine: str = "x86_64"
    """``uname -m`` of the host: picks the seccomp architectures and arch-only rules."""
    kernel: tuple[int, int] = (6, 1)
    """Host kernel (major, minor), for ``minKernel`` in seccomp profiles."""
    id_mappings: Mapping[str, Any] | None = None
    """``{"uidMappings": [...], "gidMappings": [...]}`` under ``--userns-remap``: a new user ns."""


def _replace_or_append(env: list[str], overrides: Sequence[str]) -> list[str]:
    out = list(env)
    index = {e.partition("=")[0]: i for i, e in enumerate(out)}
    for item in overrides:
        key = item.partition("=")[0]
        if key in index:
            out[index[key]] = item
        else:
            index[key] = len(out)
            out.append(item)
    return out


def _user(value: str) -> tuple[dict[str, Any], str | None]:
    """(process.user, berth.user annotation or None)."""
    if not value:
        return {"uid": 0, "gid": 0}, None
    user, sep, group = value.partition(":")
    if user.isdigit() and sep and group.isdigit():
        return {"uid": int(user), "gid": int(group), "additionalGids": [int(group)]}, None
    if not user:
        raise InvalidArgument(f"invalid user: {value!r}")
    # Names, and a bare uid (whose group and supplementary groups come from the image's
    # passwd/group), are resolved by the runtime inside the container.
    return {"uid": int(user) if user.isdigit() else 0, "gid": 0}, value


def _group_add(hc: Mapping[str, Any]) -> tuple[list[int], list[str]]:
    """``--group-add``: (numeric gids, names for the runtime to resolve)."""
    gids: list[int] = []
    names: list[str] = []
    for item in hc.get("GroupAdd") or []:
        value = str(item)
        if value.isdigit():
            gids.append(int(value))
        elif not value or "," in value or ":" in value:
            raise InvalidArgument(f"invalid group: {value!r}")
        else:
            names.append(value)
    return gids, names


def _capabilities(hc: Mapping[str, Any], privileged: bool) -> list[str]:
    adds = [caps.normalize(c) for c in hc.get("CapAdd") or []]
    drops = [caps.normalize(c) for c in hc.get("CapDrop") or []]
    for field_name, names in (("CapAdd", adds), ("CapDrop", drops)):
        for name in names:
            if name != "ALL" and name not in caps.CAP_NUMBERS:
                raise InvalidArgument(f"invalid {field_name}: unknown capability: \"{name}\"")
    if privileged:
        return list(caps.ALL_CAPABILITIES)
    if "ALL" in adds:
        return [c for c in caps.ALL_CAPABILITIES if c not in drops]
    if "ALL" in drops:
        return [c for c in dict.fromkeys(adds) if c != "ALL"]
    out = [c for c in caps.DOCKER_DEFAULT_CAPABILITIES if c not in drops]
    out += [c for c in adds if c not in out]
    return out


def _security(hc: Mapping[str, Any]) -> tuple[bool, seccomp.SeccompChoice]:
    """(no_new_privileges, seccomp) from SecurityOpt; options berth cannot honour are refused."""
    nnp = False
    choice = seccomp.SeccompChoice()
    for opt in hc.get("SecurityOpt") or []:
        key, _, value = str(opt).replace("=", ":", 1).partition(":")
        if key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
            nnp = value != "false"
        elif key == "seccomp":
            choice = seccomp.parse_choice(value)
        elif (key, value) in (("apparmor", "unconfined"), ("label", "disable")) or key == "label":
            continue
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
    return nnp, choice


def check_security(host_config: Mapping[str, Any], host_cpus: int | None = None) -> None:
    """Refuse bad capabilities, security options, sysctls, resource limits and ulimits at
    create time, as dockerd does (not at start, where a failed ``docker run`` leaves a
    created container behind)."""
    _capabilities(host_config, bool(host_config.get("Privileged")))
    specresources.resources(host_config, bool(host_config.get("Privileged")), host_cpus)
    specresources.rlimits(host_config)
    _security(host_config)
    _group_add(host_config)
    specresources.device_cgroup_rules(host_config)
    net = str(host_config.get("NetworkMode") or "")
    specresources.sysctls(host_config, net == "host", str(host_config.get("IpcMode") or "") == "host")


def _namespaces(inp: SpecInput) -> tuple[list[dict[str, str]], bool, bool]:
    """(namespaces, host network, host ipc)."""
    hc = inp.host_config
    out = [{"type": "mount"}]
    net = str(hc.get("NetworkMode") or "default")
    host_net = net == "host"
    if net.startswith("container:"):
        if not inp.network_namespace_path:
            raise InvalidArgument(f"cannot join network of {net[len('container:'):]!r}: "
                                  f"no namespace path")
        out.append({"type": "network", "path": inp.network_namespace_path})
    elif not host_net:  # default, bridge, none and user networks all get their own
        entry = {"type": "network"}
        if inp.network_namespace_path:
            entry["path"] = inp.network_namespace_path
        out.append(entry)
    pid = str(hc.get("PidMode") or "")
    if pid != "host":
        out.append(_joined("pid", pid, inp.pid_namespace_path))
    ipc = str(hc.get("IpcMode") or "")
    host_ipc = ipc == "host"
    if not host_ipc:
        out.append(_joined("ipc", ipc, inp.ipc_namespace_path))
    uts = str(hc.get("UTSMode") or "")
    if uts != "host" and not host_net:
        out.append({"type": "uts"})
    if str(hc.get("CgroupnsMode") or "") == "private":
        out.append({"type": "cgroup"})
    return out, host_net, host_ipc


def _joined(kind: str, mode: str, path: str | None) -> dict[str, str]:
    """A namespace of its own, or another container's (``container:<id>``) by its path."""
    if not mode.startswith("container:"):
        return {"type": kind}
    if not path:
        raise InvalidArgument(f"cannot join {kind} namespace of {mode[len('container:'):]!r}: "
                              f"no namespace path")
    return {"type": kind, "path": path}


def _shm(mount: dict[str, Any], ipc_mode: str, shm_path: str | None) -> dict[str, Any] | None:
    """A default mount, with /dev/shm as the IPC mode wants it: none has no /dev/shm, a host
    path given binds that, host without one has none (the old spec), else a tmpfs of its own."""
    if mount["destination"] != "/dev/shm":
        return mount
    if shm_path:
        return {"destination": "/dev/shm", "type": "bind", "source": shm_path,
                "options": ["rbind", "rprivate"]}
    if ipc_mode in ("none", "host"):
        return None
    return mount


def _oom_score_adj(hc: Mapping[str, Any]) -> int | None:
    value = hc.get("OomScoreAdj")
    if not value:
        return None
    if not -1000 <= int(value) <= 1000:
        raise InvalidArgument(f"Invalid value {value}, range for oom score adj is "
                              f"[-1000, 1000]")
    return int(value)


def generate(inp: SpecInput) -> dict[str, Any]:
    """The OCI runtime spec (config.json contents) for one container."""
    config, hc = inp.config, inp.host_config
    args = [str(a) for a in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])]
    if not args:
        raise InvalidArgument("no command specified")
    tty = bool(config.get("Tty"))
    privileged = bool(hc.get("Privileged"))
    cwd = str(config.get("WorkingDir") or "/")
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an "
                              f"absolute path")
    namespaces, host_net, host_ipc = _namespaces(inp)
    uts_private = any(n["type"] == "uts" for n in namespaces)
    hostname = inp.hostname or str(config.get("Hostname") or "") or inp.container_id[:12]

    env = [DEFAULT_PATH_ENV, f"HOSTNAME={hostname}"] + (["TERM=xterm"] if tty else [])
    env += inp.link_env
    env = _replace_or_append(env, [str(e) for e in config.get("Env") or []])

    user, user_annotation = _user(str(config.get("User") or ""))
    group_gids, group_names = _group_add(hc)
    if group_gids:
        user["additionalGids"] = list(dict.fromkeys([*user.get("additionalGids", []), *group_gids]))
    cap_list = _capabilities(hc, privileged)
    process: dict[str, Any] = {
        "terminal": tty,
        "user": user,
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": list(cap_list), "effective": list(cap_list),
                         "permitted": list(cap_list)},
        "noNewPrivileges": False,
    }
    process["noNewPrivileges"], seccomp_choice = _security(hc)
    rl = specresources.rlimits(hc)
    if rl:
        process["rlimits"] = rl
    oom = _oom_score_adj(hc)
    if oom is not None:
        process["oomScoreAdj"] = oom

    readonly_root = bool(hc.get("ReadonlyRootfs"))
    users = specmounts.user_mounts(hc, inp.volumes)
    taken = {m["destination"] for m in users}
    mounts = [_shm(m, str(hc.get("IpcMode") or ""), inp.shm_path)
              for m in specmounts.default_mounts(int(hc.get("ShmSize") or 0), privileged)
              if m["destination"] not in taken]
    mounts = [m for m in mounts if m is not None]
    mounts += [m for m in specmounts.network_file_mounts(inp.network_files, readonly_root)
               if m["destination"] not in taken]
    mounts += users

    if inp.id_mappings is not None:
        namespaces = [{"type": "user"}, *namespaces]
    linux: dict[str, Any] = {
        "cgroupsPath": inp.cgroups_path,
        "namespaces": namespaces,
        "resources": specresources.resources(hc, privileged, inp.host_cpus),
    }
    if inp.id_mappings is not None:
        linux["uidMappings"] = list(inp.id_mappings["uidMappings"])
        linux["gidMappings"] = list(inp.id_mappings["gidMappings"])
    sysctl = specresources.sysctls(hc, host_net, host_ipc)
    if sysctl:
        linux["sysctl"] = sysctl
    nodes = [*(inp.host_devices if privileged else ()), *inp.devices]
    if nodes:
        linux["devices"] = [{"path": d.path, "type": d.type, "major": d.major,
                             "minor": d.minor, "fileMode": d.file_mode, "uid": d.uid,
                             "gid": d.gid} for d in nodes]
    if not privileged:
        # moby: each --device adds its allow rule after the defaults, then --device-cgroup-rule.
        linux["resources"]["devices"] += [
            {"allow": True, "type": d.type, "major": d.major, "minor": d.minor,
             "access": d.permissions} for d in inp.devices]
        linux["resources"]["devices"] += specresources.device_cgroup_rules(hc)
        # The container's own lists when it has them ([] for systempaths=unconfined).
        masked, readonly = hc.get("MaskedPaths"), hc.get("ReadonlyPaths")
        linux["maskedPaths"] = [str(p) for p in masked] if masked is not None else list(DOCKER_MASKED_PATHS)
        linux["readonlyPaths"] = ([str(p) for p in readonly] if readonly is not None
                                  else list(DOCKER_READONLY_PATHS))
        # Docker resolves the profile against the bounding set; --privileged has no filter.
        filter_ = seccomp.to_oci(seccomp_choice, cap_list, inp.machine, inp.kernel)
        if filter_ is not None:
            linux["seccomp"] = filter_

    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": readonly_root},
        "mounts": mounts,
        "linux": linux,
        "annotations": {},
    }
    if uts_private:
        spec["hostname"] = hostname
    if user_annotation is not None:
        spec["annotations"][USER_ANNOTATION] = user_annotation
    if group_names:
        spec["annotations"][GROUPS_ANNOTATION] = ",".join(group_names)
    return spec
