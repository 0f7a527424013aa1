"""The API socket's group: found, or created as a system group when missing (berthd -G)."""

from __future__ import annotations

import grp
import shutil
import subprocess

from berth.errors import RuntimeFailure

__all__ = ["ensure_group"]


def ensure_group(name: str) -> int:
    """The gid of ``name``, creating it with groupadd --system if it does not exist."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    groupadd = shutil.which("groupadd") or "/usr/sbin/groupadd"
    res = subprocess.run([groupadd, "--system", name], capture_output=True, text=True, timeout=30)
    # 9: the group appeared meanwhile (another berthd made it).
    if res.returncode not in (0, 9):
        raise RuntimeFailure(f"groupadd {name}: {res.stderr.strip()}")
    return grp.getgrnam(name).gr_gid
