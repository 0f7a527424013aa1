"""``docker top``: run the host's ``ps`` and keep the rows of one container's processes.

As moby does: ``ps`` runs on the host with the user's arguments, its header must have a PID
column, and only rows whose PID is in the container's cgroup are kept. The last column
(COMMAND/CMD) may contain spaces, so each row is split into as many fields as the header.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

from berth import errors

__all__ = ["parse_ps", "ps_table"]


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    """``{"Titles": [...], "Processes": [[...], ...]}`` for the rows of ``pids``."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise errors.Internal("ps printed nothing")
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise errors.InvalidArgument("Couldn't find PID field in ps output") from None
    processes: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= pid_col:
            continue
        try:
            pid = int(fields[pid_col])
        except ValueError:
            raise errors.InvalidArgument(f"Unexpected pid '{fields[pid_col]}'") from None
        if pid in pids:
            processes.append(fields)
    return {"Titles": titles, "Processes": processes}


def ps_table(ps_args: str, pids: set[int]) -> dict[str, Any]:
    try:
        args = shlex.split(ps_args)
    except ValueError as e:
        raise errors.InvalidArgument(f"invalid ps arguments: {e}") from e
    try:
        proc = subprocess.run(["ps", *args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise errors.Internal(f"running ps: {e}") from e
    if proc.returncode != 0:
        raise errors.InvalidArgument(
            f"ps: {proc.stderr.decode(errors='replace').strip() or 'failed'}")
    return parse_ps(proc.stdout.decode(errors="replace"), pids)
