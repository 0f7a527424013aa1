"""``berth-runtime``: berth's OCI runtime as a command with runc's command-line contract.

Argument parsing and output formatting only; every command calls one entry point of the
runtime library (``berth.runtime.container``, ``exec``, ``control``). ``main`` parses the
global options and dispatches; ``commands`` is the table of subcommands, each run by a
function of ``lifecycle``, ``processes``, ``resources`` or ``info`` imported on use.
``python -m berth.runtime.cli`` (``__main__``) and ``python -m berth.runtime.cli.main`` run it too.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ["main"]


def __getattr__(name: str) -> "Callable[[], NoReturn]":
    # The console script does ``from berth.runtime.cli import main``. Importing the command
    # module only then, not with the package, lets ``python -m berth.runtime.cli.main`` run it
    # as __main__ without runpy finding it imported already (a RuntimeWarning, and two copies).
    if name == "main":
        from berth.runtime.cli.main import console_main

        # Importing the submodule bound ``main`` to it; the name means the entry point.
        globals()["main"] = console_main
        return console_main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from collections.abc import Callable
