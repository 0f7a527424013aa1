"""Reconciliation at berthd start: a container that died while berthd was down (berthd
killed with SIGKILL) leaves no port rule, no netns; survivors keep theirs and still resolve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from berth.network.nftables import table_name
from tests.conftest import retire_berthd, start_berthd
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def _rules(data_root: Path) -> str:
    return subprocess.run(["nft", "list", "table", "ip", table_name(data_root)],
                          capture_output=True, text=True).stdout


def test_restart_after_crash_drops_dead_containers_rules() -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-netrestore-"))
    d = start_berthd(base, "first")
    leftovers: list[str] = []
    try:
        from berth.baseimages import ensure_base_images

        ensure_base_images(d.host)
        net = f"n-{uuid.uuid4().hex[:8]}"
        ok(d.docker("network", "create", net))
        ok(d.docker("run", "-d", "--name", "dies", "--network", net, "-p", "127.0.0.1::80",
                    "busybox", "sleep", "300"))
        ok(d.docker("run", "-d", "--name", "lives", "--network", net, "-p", "127.0.0.1::81",
                    "busybox", "sleep", "300"))
        dies = json.loads(ok(d.docker("inspect", "dies")))[0]
        port = dies["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        assert f"dport {port} " in _rules(d.data_root)
        assert d.process is not None
        d.process.send_signal(signal.SIGKILL)
        d.process.wait()
        os.kill(dies["State"]["Pid"], signal.SIGKILL)
        time.sleep(0.5)
        (base / "berthd.pid").unlink(missing_ok=True)
        d = start_berthd(base, "second")
        rules = _rules(d.data_root)
        assert f"dport {port} " not in rules
        assert not (d.exec_root / "netns" / dies["Id"]).exists()
        lives = json.loads(ok(d.docker("inspect", "lives")))[0]
        assert lives["NetworkSettings"]["Ports"]["81/tcp"][0]["HostPort"] in rules
        out = ok(d.docker("run", "--rm", "--network", net, "busybox", "nslookup", "lives"))
        assert lives["NetworkSettings"]["Networks"][net]["IPAddress"] in out
        ok(d.docker("rm", "-f", "dies", "lives"))
        ok(d.docker("network", "rm", net))
        assert " dnat to " not in _rules(d.data_root)
    finally:
        leftovers = retire_berthd(d, base)
        shutil.rmtree(base, ignore_errors=True)
    assert not leftovers
