"""What every forked child of the runtime does: run a body and report its failure, shed the
caller's fds, reset signals before exec; and reaping from the caller's side.

Shared by container creation and ``exec``; kept apart from container.py so that ``exec``
does not import the create path (mounts, devices, user namespaces).
"""

from __future__ import annotations

import os
import resource

from berth.errors import BerthError
from berth.runtime import _sys
from berth.runtime._suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable

    from berth.runtime.sync import Channel
else:
    # signal's functions and constants without its IntEnums (enum: ~5 ms of every start);
    # mypy has no stub for _signal and checks the calls against signal's.
    import _signal as signal

__all__ = ["close_inherited_fds", "kill_and_reap", "reap", "reset_signals", "run_child"]


def reap(pid: int) -> None:
    """Wait for ``pid``; a caller's own SIGCHLD handler may have reaped it already."""
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def kill_and_reap(pid: int) -> None:
    """SIGKILL ``pid`` and wait for it."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def run_child(body: Callable[[], object], ch: Channel) -> None:
    """Run ``body`` in a forked child; report any failure and never return to the caller."""
    code = 1
    try:
        body()
        code = 0
    except BaseException as exc:
        message = str(exc) if isinstance(exc, BerthError) else f"{type(exc).__name__}: {exc}"
        with suppress(BaseException):
            ch.send("error", message=message)
    finally:
        os._exit(code)


def close_inherited_fds(keep: int, also: int | None = None, preserve: int = 0) -> None:
    """Close every fd above 2 but ``keep``: nothing of the caller's reaches the container
    except the ``preserve`` fds from 3 on (``--preserve-fds``), which stay open across exec.

    Closing (not just close-on-exec) matters while the init waits for start: a pipe the
    caller holds (the shim's readiness pipe to berthd) must not stay open in it meanwhile.
    """
    # closerange (close_range(2) on Linux) needs no free fd: after a low RLIMIT_NOFILE
    # (--ulimit nofile=10) listing /proc/self/fd would itself fail with EMFILE.
    # A seccomp profile already installed may refuse close_range (older allowlists lack it);
    # Python then closes one fd at a time, so the range must stay small: the caller's fds
    # are below its own NOFILE hard limit (20000 here), well under 1 << 16.
    high = max(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 16)
    passed = range(3, 3 + max(preserve, 0))
    for fd in passed:
        with suppress(OSError):  # runc passes on only what is open
            os.set_inheritable(fd, True)
    low = 3
    for fd in sorted({keep, *passed} if also is None else {keep, also, *passed}):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, high)


def reset_signals() -> None:
    """Default dispositions and an empty mask, right before exec.

    Python ignores SIGPIPE and may block signals, and whoever started the caller may have
    ignored others; exec keeps both, containers must not.
    """
    with suppress(ValueError):
        signal.set_wakeup_fd(-1)
    default = signal.SIG_DFL
    for sig in signal.valid_signals():
        # Python's table knows every disposition (it read them all at start-up and made each
        # change since; nothing in berth sets one behind its back): only those not at the
        # default need a system call (one per signal cost ~0.1 ms on the way to exec).
        if sig in (signal.SIGKILL, signal.SIGSTOP) or signal.getsignal(sig) == default:
            continue
        with suppress(OSError, ValueError):
            signal.signal(sig, default)
    for internal in _sys.LIBC_INTERNAL_SIGNALS:
        # Not in Python's table (``getsignal`` says None whatever they are): reset blind.
        with suppress(OSError):
            _sys.default_disposition(internal)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
