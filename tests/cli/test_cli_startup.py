"""CLI start-up stays cheap (no aiohttp/rich on the hot path) and global flags behave."""

from __future__ import annotations

import subprocess
import sys


def _cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None):
    return subprocess.run([sys.executable, *args], capture_output=True, timeout=30,
                          env=env or {"PATH": "/usr/bin:/bin", "BERTH_NO_AUTOSTART": "1"},
                          input=input)


def test_hot_path_imports_no_heavy_modules(tmp_path):
    host = f"unix://{tmp_path}/none.sock"
    for command in (["version"], ["ps"], ["run", "--rm", "busybox", "true"]):
        r = _cli("-X", "importtime", "-m", "berth.cli.main", "-H", host, *command)
        imported = {line.split("|")[-1].strip() for line in r.stderr.decode().splitlines()
                    if line.startswith("import time:")}
        assert "berth.cli.context" in imported
        heavy = {m for m in imported if m.split(".")[0] in ("aiohttp", "rich", "asyncio")}
        assert not heavy, heavy


def test_global_flags():
    r = _cli("-m", "berth.cli.main", "--version")
    assert r.returncode == 0 and r.stdout.startswith(b"berth version ")
    r = _cli("-m", "berth.cli.main")
    assert r.returncode == 0 and b"Commands:" in r.stdout
    r = _cli("-m", "berth.cli.main", "frobnicate")
    assert r.returncode == 1 and b"'frobnicate' is not a berth command" in r.stderr
    r = _cli("-m", "berth.cli.main", "--bogus", "ps")
    assert r.returncode == 125
    r = _cli("-m", "berth.cli.main", "ps", "--bogus")
    assert r.returncode == 125 and b"unrecognized arguments: --bogus" in r.stderr


def test_tty_requires_a_terminal_for_stdin(tmp_path):
    host = f"unix://{tmp_path}/none.sock"
    r = _cli("-m", "berth.cli.main", "-H", host, "run", "-it", "busybox", input=b"")
    assert r.returncode in (1, 125)
    assert b"the input device is not a TTY" in r.stderr or b"Cannot connect" in r.stderr
