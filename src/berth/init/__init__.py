"""``--init``: the tiny reaper that runs as PID 1 (berth-init.c beside this file).

Owns building the static binary once per data root (``<data-root>/init/berth-init``, compiled
with the host's gcc like the hello-world image, written to a temp name and renamed so a
half-written binary is never used) and the spec change Docker makes for ``--init``: the
binary bind-mounted read-only at ``/sbin/docker-init`` and put in front of the command.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Final

from berth import errors

__all__ = ["INIT_PATH", "apply_init", "ensure_binary"]

INIT_PATH: Final = "/sbin/docker-init"
_SOURCE: Final = Path(__file__).with_name("berth-init.c")


def ensure_binary(data_root: Path) -> Path:
    """The compiled init for this data root, building it if missing or older than its source."""
    target = data_root / "init" / "berth-init"
    try:
        if target.stat().st_mtime >= _SOURCE.stat().st_mtime:
            return target
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".berth-init-")
    os.close(fd)
    try:
        proc = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", tmp, str(_SOURCE)],
                              capture_output=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise errors.Internal("building berth-init failed: "
                                  + proc.stderr.decode(errors="replace")[-2000:])
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except FileNotFoundError as e:
        raise errors.Unavailable("--init needs gcc on the host to build berth-init") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def apply_init(spec: dict[str, Any], binary: Path) -> dict[str, Any]:
    """Docker's --init: mount the init and run the command under it (returns ``spec``)."""
    proc = spec["process"]
    proc["args"] = [INIT_PATH, "--", *proc["args"]]
    spec.setdefault("mounts", []).append({
        "destination": INIT_PATH, "type": "bind", "source": str(binary),
        "options": ["rbind", "ro"]})
    return spec
