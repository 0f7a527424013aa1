"""Run a check in a forked child, so whatever it does to its process (a cgroup move, a
priming thread) never happens to the test process itself."""

from __future__ import annotations

import os
from collections.abc import Callable


def check_in_child(check: Callable[[], bool]) -> None:
    """Fork, run ``check`` in the child and fail the test unless it returned True there."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            try:
                verdict = b"ok" if check() else b"check returned False"
            except BaseException as exc:  # reported to the parent, which fails the test
                verdict = repr(exc).encode()
            os.write(w, verdict[:4096])
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        verdict = os.read(r, 4096)
    finally:
        os.close(r)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert verdict == b"ok", verdict.decode(errors="replace")
