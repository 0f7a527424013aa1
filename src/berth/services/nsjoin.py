"""Joining another container's pid or IPC namespace (``--pid container:X``, ``--ipc container:X``).

Owns the rules moby applies: at create the mode is checked (an unknown IPC mode is refused, a
donor that does not exist is 404) and the donor is recorded by its full ID; at start the donor
must be running, and for IPC it must have been created shareable (or host), else the start
fails with moby's message. The namespace paths handed to specgen are the donor init's
``/proc/<pid>/ns`` entries. It must not start, stop or change containers.

Which /dev/shm goes with an IPC mode is services/ipcshm.py's.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from berth import errors
from berth.services.container_model import Container

__all__ = ["JoinedNamespaces", "check_modes", "namespace_paths"]

_PREFIX: Final = "container:"
_IPC_MODES: Final = ("", "none", "private", "shareable", "host")
_PID_MODES: Final = ("", "host")


@dataclass(frozen=True)
class JoinedNamespaces:
    """Paths of the donor namespaces a container joins (None: one of its own or the host's)."""

    pid: str | None = None
    ipc: str | None = None
    ipc_donor: str | None = None
    """ID of the container whose IPC namespace (and /dev/shm) is joined."""


def check_modes(host_config: MutableMapping[str, Any], get: Callable[[str], Container]) -> None:
    """Refuse unknown modes; name a donor by its full ID (NotFound when it does not exist)."""
    ipc = str(host_config.get("IpcMode") or "")
    if ipc.startswith(_PREFIX):
        if not ipc.removeprefix(_PREFIX):
            raise errors.InvalidArgument('can\'t join IPC of container : invalid name or ID supplied: ""')
        host_config["IpcMode"] = _PREFIX + get(ipc.removeprefix(_PREFIX)).id
    elif ipc not in _IPC_MODES:
        raise errors.InvalidArgument(f"Invalid IPC mode: {ipc}")
    pid = str(host_config.get("PidMode") or "")
    if pid.startswith(_PREFIX):
        host_config["PidMode"] = _PREFIX + get(pid.removeprefix(_PREFIX)).id
    elif pid not in _PID_MODES:
        raise errors.InvalidArgument(f"invalid PID mode: {pid}")


def namespace_paths(host_config: MutableMapping[str, Any],
                    get: Callable[[str], Container]) -> JoinedNamespaces:
    """The namespaces to join at start; Conflict when a donor cannot be joined now."""
    pid_path = ipc_path = ipc_donor = None
    pid = str(host_config.get("PidMode") or "")
    if pid.startswith(_PREFIX):
        donor = get(pid.removeprefix(_PREFIX))
        if not donor.state.running or not donor.state.pid:
            raise errors.Conflict(f"container {donor.id} is not running")
        pid_path = f"/proc/{donor.state.pid}/ns/pid"
    ipc = str(host_config.get("IpcMode") or "")
    if ipc.startswith(_PREFIX):
        donor = get(ipc.removeprefix(_PREFIX))
        if not donor.state.running or not donor.state.pid:
            raise errors.Conflict(f"can't join IPC of container {donor.id}: container "
                                  f"{donor.id} is not running")
        if str(donor.host_config.get("IpcMode") or "") not in ("shareable", "host"):
            raise errors.Conflict(f"can't join IPC of container {donor.id}: non-shareable IPC "
                                  "(hint: use IpcMode:shareable for the donor container)")
        ipc_path = f"/proc/{donor.state.pid}/ns/ipc"
        ipc_donor = donor.id
    return JoinedNamespaces(pid=pid_path, ipc=ipc_path, ipc_donor=ipc_donor)
