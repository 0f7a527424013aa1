"""``berth-runtime``: berth's OCI runtime as a command with runc's command-line contract.

Argument parsing and output formatting only; every command calls one entry point of the
runtime library (``berth.runtime.container``, ``exec``, ``control``). ``main`` parses the
global options and dispatches; ``commands`` is the table of subcommands, each run by a
function of ``lifecycle``, ``processes``, ``resources`` or ``info`` imported on use.
"""

from berth.runtime.cli.main import console_main as main

__all__ = ["main"]
