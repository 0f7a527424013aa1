"""``berth-runtime``: berth's OCI runtime as a command with runc's command-line contract.

Argument parsing and output formatting only; every command calls one entry point of the
runtime library (``berth.runtime.container``, ``exec``, ``control``). ``main`` parses the
global options, ``commands`` holds one function per subcommand.
"""

from berth.runtime.cli.main import main

__all__ = ["main"]
