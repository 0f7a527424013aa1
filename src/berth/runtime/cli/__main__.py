"""``python -m berth.runtime.cli``: the ``berth-runtime`` command."""

from berth.runtime.cli.main import console_main

console_main()
