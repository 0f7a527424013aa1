"""Registry credentials stay secret: berth login stores them 0600 (in a 0700 directory when it
makes one), and neither the password nor its encodings ever reach berthd's log, inspect output
or the event stream — after a login, a push, a pull, a refused login and a container run."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.registry.helpers import Server, make_htpasswd, start_berth_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(scratch: Path) -> Iterator[tuple[Server, str, str]]:
    user, password = "dave", f"pw-{secrets.token_hex(12)}"
    s = start_berth_registry(scratch, "--htpasswd", str(make_htpasswd(scratch / "htpasswd", user,
                                                                        password)))
    try:
        yield s, user, password
    finally:
        s.stop()


def _secrets(user: str, password: str) -> list[bytes]:
    """Every form the password travels in: plain, basic-auth base64, X-Registry-Auth base64."""
    pair = f"{user}:{password}".encode()
    header = json.dumps({"username": user, "password": password}).encode()
    return [password.encode(), base64.b64encode(pair), base64.urlsafe_b64encode(header),
            base64.b64encode(header), password.encode().hex().encode()]


def test_credentials_stored_0600_and_never_leaked(daemon: Daemon, scratch: Path,
                                                  registry: tuple[Server, str, str]) -> None:
    server, user, password = registry
    since = int(time.time()) - 1
    log_offset = daemon.log_path.stat().st_size if daemon.log_path else 0
    cfg_dir = scratch / "config"  # absent: berth login makes it
    env = {**daemon.env, "DOCKER_CONFIG": str(cfg_dir)}

    def berth(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=env, input=input,
                              capture_output=True, timeout=60, stdin=None if input else subprocess.DEVNULL)

    name = f"{server.host}/secret/busybox:1"
    cid = ""
    try:
        p = berth("login", "-u", user, "--password-stdin", server.host, input=b"wrong-" + password.encode())
        assert p.returncode != 0
        p = berth("login", "-u", user, "--password-stdin", server.host, input=password.encode() + b"\n")
        assert p.returncode == 0, p.stderr
        cfg = cfg_dir / "config.json"
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
        assert cfg.stat().st_uid == os.getuid()
        assert stat.S_IMODE(cfg_dir.stat().st_mode) & 0o077 == 0, oct(cfg_dir.stat().st_mode)
        berth("tag", "busybox", name, ).check_returncode()
        p = berth("push", name)
        assert p.returncode == 0, p.stderr
        berth("rmi", name).check_returncode()
        p = berth("pull", name)
        assert p.returncode == 0, p.stderr
        p = berth("run", "-d", name, "sleep", "30")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.decode().strip()
        # a second login rewrites the file: still 0600
        p = berth("login", "-u", user, "--password-stdin", server.host, input=password.encode())
        assert p.returncode == 0 and stat.S_IMODE(cfg.stat().st_mode) == 0o600

        leaks = _secrets(user, password)
        outputs = {
            "image inspect": berth("image", "inspect", name).stdout,
            "container inspect": berth("inspect", cid).stdout,
            "info": berth("info").stdout,
            "system events": request(str(daemon.socket), "GET",
                                     f"/events?since={since}&until={int(time.time()) + 1}")[2],
        }
        if daemon.log_path is not None:
            with open(daemon.log_path, "rb") as f:
                f.seek(log_offset)
                outputs["berthd log"] = f.read()
        assert outputs["system events"], "no events recorded"
        assert b"push" in outputs["system events"] and b"pull" in outputs["system events"]
        for where, text in outputs.items():
            for leak in leaks:
                assert leak not in text, f"credential form {leak!r} found in {where}"
    finally:
        if cid:
            berth("rm", "-f", cid)
        berth("rmi", "-f", name)
