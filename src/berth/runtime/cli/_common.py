"""Helpers shared by the subcommands: signal names, pid files, OCI state documents, waiting."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, NotFound
from berth.runtime import _fastjson, control
from berth.runtime import state as statefile
from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from typing import Any, Final
else:
    # signal's functions and constants without its IntEnums (enum: ~5 ms of every start);
    # mypy has no stub for _signal and checks the calls against signal's.
    import _signal as signal

__all__ = ["OCI_VERSION", "exists", "forward_signals", "oci_state", "parse_signal", "wait_exit",
           "write_pid_file"]

OCI_VERSION: Final = "1.2.0"
_FORWARDED: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)

def _signal_numbers() -> dict[str, int]:
    """Name -> number for the names ``signal.Signals`` has (aliases such as SIGIOT included)."""
    return {name: int(getattr(signal, name)) for name in dir(signal)
            if name.startswith("SIG") and not name.startswith("SIG_") and name.isupper()}


def parse_signal(text: str) -> int:
    """``KILL``, ``SIGKILL``, ``sigkill`` or ``9`` -> 9; unknown names are InvalidArgument."""
    if text.isdigit():
        num = int(text)
        if num in _signal_numbers().values() or 34 <= num <= 64:
            return num
        raise InvalidArgument(f"unknown signal {text!r}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return _signal_numbers()[name]
    except KeyError:
        raise InvalidArgument(f"unknown signal {text!r}") from None

def write_pid_file(path: str, pid: int) -> None:
    # Written beside the target and renamed: a reader never sees an empty pid file.
    target = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, target)

def oci_state(root: str, container_id: str) -> dict[str, Any]:
    """The OCI state document for ``container_id`` as ``runc state`` prints it."""
    st = statefile.load(root, container_id)
    status = statefile.status_of(st).value
    if status == "running":
        with suppress(Exception):
            if control.is_paused(root, container_id):
                status = "paused"
    spec: dict[str, Any] = {}
    with suppress(OSError, ValueError), open(os.path.join(st.bundle, "config.json")) as f:
        spec = _fastjson.loads(f.read())
    rootfs = str((spec.get("root") or {}).get("path") or "rootfs")
    if not rootfs.startswith("/"):
        rootfs = os.path.normpath(os.path.join(st.bundle, rootfs))
    return {"ociVersion": OCI_VERSION, "id": st.id,
            "pid": 0 if status == "stopped" else st.pid, "status": status,
            "bundle": st.bundle, "rootfs": rootfs, "created": st.created, "owner": "",
            "annotations": spec.get("annotations") or {}}

def exists(root: str, container_id: str) -> bool:
    try:
        statefile.load(root, container_id)
    except NotFound:
        return False
    return True

def forward_signals(pid: int) -> None:
    """Pass the signals a foreground ``run``/``exec`` receives on to the container process."""
    def handler(sig: int, _frame: object) -> None:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)
    for sig in _FORWARDED:
        signal.signal(sig, handler)

def wait_exit(pid: int) -> int:
    """Reap children (we are a subreaper) until ``pid`` exits; its shell-style exit code."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
                else 128 + os.WTERMSIG(status)
