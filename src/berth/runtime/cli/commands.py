"""The subcommand table: each module registers its parsers; ``func(args, root) -> exit code``."""

from __future__ import annotations

from typing import Any

from berth.runtime.cli import info, lifecycle, processes, resources

__all__ = ["register"]


def register(sub: Any) -> None:
    for module in (lifecycle, processes, resources, info):
        module.register(sub)
