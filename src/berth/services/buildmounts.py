"""Running a function with snapshot mounts applied, in a mount namespace nobody else sees.

Owns the thread trick that keeps build mounts out of the host mount table: a fresh thread
unshares its filesystem context and mount namespace (allowed for one thread of a
multi-threaded process: only CLONE_VM/SIGHAND/THREAD need a single thread), makes every
mount private, mounts, runs the function and exits. When the thread ends its namespace goes
with it, so even a crash mid-step leaves no mount behind (the container rootfs rule of
``berth.mount``). Mount targets are empty directories under a temp root, removed afterwards.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from berth.mount import Mount, mount_all, unmount
from berth.runtime import _sys

__all__ = ["with_private_mounts"]

T = TypeVar("T")


def with_private_mounts(roots: Sequence[tuple[Sequence[Mount], Path]], tmp_dir: Path,
                        fn: Callable[[list[Path]], T]) -> T:
    """Call ``fn`` with one path per root: the mount point of its mounts, or the given
    directory itself when a root has no mounts (a scratch root is a plain directory)."""
    outcome: dict[str, object] = {}

    def work() -> None:
        targets: list[Path] = []
        try:
            _sys.unshare(_sys.CLONE_NEWNS | _CLONE_FS)
            _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
            paths: list[Path] = []
            for mounts, plain in roots:
                if not mounts:
                    paths.append(plain)
                    continue
                target = Path(tempfile.mkdtemp(prefix="mnt-", dir=tmp_dir))
                targets.append(target)
                mount_all(list(mounts), str(target))
                paths.append(target)
            outcome["value"] = fn(paths)
        except BaseException as e:  # handed to the calling thread
            outcome["error"] = e
        finally:
            for target in reversed(targets):
                with suppress(Exception):
                    unmount(str(target))
                with suppress(OSError):
                    target.rmdir()

    thread = threading.Thread(target=work, name="build-mounts")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


_CLONE_FS = 0x00000200
