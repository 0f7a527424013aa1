"""``process.apparmorProfile``: the AppArmor profile a container process is confined by.

``check`` runs in the caller before anything is made: a profile on a host without AppArmor is
refused (runc fails the same spec when it cannot set the profile), never silently dropped.
``apply_on_exec`` runs in the process itself, before its capabilities are dropped: the kernel
switches to the profile at the next execve (AppArmor's change_onexec). Must not load profiles.
"""

from __future__ import annotations

import os

from berth.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["apply_on_exec", "check", "enabled"]

_ENABLED: Final = "/sys/module/apparmor/parameters/enabled"


def enabled() -> bool:
    try:
        with open(_ENABLED) as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def check(profile: str | None) -> None:
    """RuntimeFailure when ``profile`` is set and this host has no AppArmor."""
    if profile and not enabled():
        raise RuntimeFailure(f'apparmor profile "{profile}" is set but AppArmor is not '
                             "enabled on this host")


def apply_on_exec(profile: str | None) -> None:
    """Ask for ``profile`` at the next execve of the calling thread."""
    if not profile:
        return
    data = f"exec {profile}".encode()
    # The LSM-specific file (5.8+) first; the shared one is whichever LSM is the first.
    for path in ("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RuntimeFailure(f"apparmor: open {path}: {exc.strerror}") from exc
        try:
            os.write(fd, data)
            return
        except OSError as exc:
            raise RuntimeFailure(f'apparmor: apply profile "{profile}": {exc.strerror}') from exc
        finally:
            os.close(fd)
    raise RuntimeFailure("apparmor: the kernel offers no attr/exec file")
