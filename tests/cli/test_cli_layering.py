"""The CLI is a client: importing any ``berth.cli`` module loads no daemon-side code.

Each module is imported in a fresh interpreter (so one module's imports do not hide
another's) and the ``berth.*`` packages it loaded are compared with the server side's."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import berth.cli

# berthd and everything below it: the CLI reaches those only over the API.
SERVER_SIDE = ("berth.daemon", "berth.services", "berth.build", "berth.runtime", "berth.shim",
               "berth.store", "berth.images", "berth.snapshots", "berth.network",
               "berth.volumes", "berth.monitor", "berth.security", "berth.oci", "berth.init",
               "berth.registry.client", "berth.registry.server")

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(n for n in sys.modules if n == "berth" or n.startswith("berth."))))
"""


def _cli_modules() -> list[str]:
    return ["berth.cli"] + [f"berth.cli.{m.name}" for m in pkgutil.iter_modules(berth.cli.__path__)]


def test_cli_modules_import_no_server_side_code() -> None:
    modules = _cli_modules()
    assert "berth.cli.build" in modules and "berth.cli.main" in modules
    offenders: dict[str, list[str]] = {}
    for module in modules:
        r = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True,
                           timeout=60, check=False)
        assert r.returncode == 0, (module, r.stderr.decode())
        loaded = json.loads(r.stdout)
        assert module in loaded
        bad = [n for n in loaded if any(n == p or n.startswith(p + ".") for p in SERVER_SIDE)]
        if bad:
            offenders[module] = bad
    assert not offenders, offenders


def test_build_context_rules_are_shared_not_copied() -> None:
    """berthd applies the same ``.dockerignore`` implementation the CLI packs with."""
    import berth.build.context
    import berth.buildcontext

    assert berth.build.context.walk_context is berth.buildcontext.walk_context
    assert not hasattr(berth.build.context, "parse_dockerignore")
