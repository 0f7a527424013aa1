"""What the shim factory imports is in every shim: modules that register at-fork handlers
(threading: ~0.4 MB dirtied in each forked shim, bench/README.md) must stay out of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_factory_imports_no_module_with_fork_handlers() -> None:
    code = ("import json, sys, berth.shim.factory; "
            "print(json.dumps([m for m in ('threading', 'subprocess', 'logging', 'uuid') "
            "if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                         env=dict(os.environ)).stdout
    assert json.loads(out) == []
