"""Restart policies: whether an exited container is started again, and after how long.

Docker's rules (moby restartmanager): ``no`` never; ``always`` always; ``unless-stopped``
unless the user stopped it; ``on-failure[:N]`` only on a non-zero exit code and at most N
times (N = 0: no limit). A manual stop or kill always wins. The delay starts at 100 ms and
doubles with each restart, up to one minute; a container that ran for 10 s or more starts
over from 100 ms. Pure: the container service keeps the state and does the waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Backoff", "RestartPolicy", "should_restart"]

_FIRST: Final = 0.1
_MAX: Final = 60.0
_RESET_AFTER: Final = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def from_host_config(cls, host_config: dict[str, Any]) -> RestartPolicy:
        raw = host_config.get("RestartPolicy") or {}
        return cls(str(raw.get("Name") or "no"), int(raw.get("MaximumRetryCount") or 0))

    @property
    def restarts_on_daemon_start(self) -> bool:
        """``always`` and ``unless-stopped`` containers come back when berthd starts."""
        return self.name in ("always", "unless-stopped")


def should_restart(policy: RestartPolicy, exit_code: int, restart_count: int,
                   manually_stopped: bool) -> bool:
    if manually_stopped:
        return False
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.name == "on-failure":
        return exit_code != 0 and (policy.maximum_retry_count == 0
                                   or restart_count < policy.maximum_retry_count)
    return False


@dataclass(frozen=True)
class Backoff:
    """The delay before the next restart; ``next`` gives the one after it."""

    delay: float = 0.0

    def next(self, ran_for: float) -> Backoff:
        if ran_for >= _RESET_AFTER or self.delay == 0.0:
            return Backoff(_FIRST)
        return Backoff(min(self.delay * 2, _MAX))
