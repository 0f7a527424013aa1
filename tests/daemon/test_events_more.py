"""Events beyond container lifecycle, read back through the real ``docker events`` CLI:
network create/connect/disconnect/destroy, volume create/mount/unmount/destroy, image
pull/push, kill with its signal (also the signals of stop and rm -f), attach, rename with oldName,
exec_create/exec_start/exec_die."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.registry.helpers import start_berth_registry


def _events(daemon, since: float, *filters: str) -> list[dict[str, Any]]:
    """Everything published since ``since`` (replayed: --until ends the stream)."""
    args = ["events", "--since", f"{since:.9f}", "--until", f"{time.time() + 0.2:.9f}",
            "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    r = daemon.docker(*args, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def _of(events: list[dict[str, Any]], actor: str) -> list[tuple[str, dict[str, str]]]:
    return [(e["Action"], e["Actor"]["Attributes"]) for e in events if e["Actor"]["ID"] == actor]


def _run(daemon, made, *args: str) -> str:
    name = f"ev-{secrets.token_hex(4)}"
    made["containers"].append(name)
    r = daemon.docker("run", "-d", "--name", name, *args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().strip()


def test_network_events(daemon, made) -> None:
    t0 = time.time()
    net, other = f"evnet-{secrets.token_hex(3)}", f"evnet2-{secrets.token_hex(3)}"
    made["networks"] += [net, other]
    nid = daemon.docker("network", "create", net, check=True).stdout.decode().strip()
    oid = daemon.docker("network", "create", other, check=True).stdout.decode().strip()
    cid = _run(daemon, made, "--network", net, "busybox", "sleep", "100")
    assert daemon.docker("network", "connect", other, cid).returncode == 0
    assert daemon.docker("network", "disconnect", other, cid).returncode == 0
    assert daemon.docker("rm", "-f", cid).returncode == 0
    assert daemon.docker("network", "rm", net, other).returncode == 0
    events = _events(daemon, t0, "type=network")
    assert all(e["Type"] == "network" for e in events)
    mine = _of(events, nid)
    assert [a for a, _ in mine] == ["create", "connect", "disconnect", "destroy"], events
    assert mine[0][1] == {"name": net, "type": "bridge"}
    assert mine[1][1] == {"name": net, "type": "bridge", "container": cid}
    assert [a for a, _ in _of(events, oid)] == ["create", "connect", "disconnect", "destroy"]
    assert _of(events, oid)[1][1]["container"] == cid


def test_volume_events(daemon, made) -> None:
    t0 = time.time()
    vol = f"evvol-{secrets.token_hex(3)}"
    made["volumes"].append(vol)
    assert daemon.docker("volume", "create", vol).returncode == 0
    cid = _run(daemon, made, "-v", f"{vol}:/data:ro", "busybox", "sleep", "100")
    assert daemon.docker("stop", "-t", "0", cid).returncode == 0
    assert daemon.docker("rm", cid).returncode == 0
    assert daemon.docker("volume", "rm", vol).returncode == 0
    mine = _of(_events(daemon, t0, "type=volume", f"volume={vol}"), vol)
    assert [a for a, _ in mine] == ["create", "mount", "unmount", "destroy"]
    assert mine[0][1] == {"driver": "local"}
    assert mine[1][1] == {"driver": "local", "container": cid, "destination": "/data",
                          "read/write": "false", "propagation": ""}
    assert mine[2][1] == {"driver": "local", "container": cid}


def test_kill_rename_and_exec_events(daemon, made) -> None:
    t0 = time.time()
    cid = _run(daemon, made, "busybox", "sleep", "100")
    old = made["containers"][-1]
    new = old + "-renamed"
    made["containers"].append(new)
    assert daemon.docker("rename", old, new).returncode == 0
    r = daemon.docker("exec", new, "sh", "-c", "exit 3")
    assert r.returncode == 3
    assert daemon.docker("kill", "-s", "USR1", new).returncode == 0
    events = _events(daemon, t0, f"container={cid}")
    actions = [a for a, _ in _of(events, cid)]
    assert actions[:2] == ["create", "start"]
    rename = dict(_of(events, cid))["rename"]
    assert rename["oldName"] == f"/{old}" and rename["name"] == new
    kill = dict(_of(events, cid))["kill"]
    assert kill["signal"] == "10" and kill["image"] == "busybox"
    execs = [(a, attrs) for a, attrs in _of(events, cid) if a.startswith("exec_")]
    assert [a for a, _ in execs] == ["exec_create: sh -c exit 3", "exec_start: sh -c exit 3",
                                     "exec_die"]
    assert len({attrs["execID"] for _, attrs in execs}) == 1
    assert execs[2][1]["exitCode"] == "3"
    # Docker's event filter matches "exec_die" and the prefix of "exec_create: ...".
    filtered = _events(daemon, t0, f"container={cid}", "event=exec_create", "event=exec_die")
    assert [e["Action"] for e in filtered] == ["exec_create: sh -c exit 3", "exec_die"]


def test_pull_and_push_events(daemon, made) -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-evreg-"))
    server = start_berth_registry(base)
    try:
        ref = f"{server.host}/events/busybox:{secrets.token_hex(3)}"
        made["images"].append(ref)
        assert daemon.docker("tag", "busybox", ref).returncode == 0
        t0 = time.time()
        push = daemon.docker("push", ref, timeout=120)
        assert push.returncode == 0, push.stderr.decode()
        assert daemon.docker("rmi", ref).returncode == 0
        pull = daemon.docker("pull", ref, timeout=120)
        assert pull.returncode == 0, pull.stderr.decode()
        events = _events(daemon, t0, "type=image", f"image={ref}")
        mine = _of(events, ref)
        assert [a for a, _ in mine] == ["push", "untag", "pull"] or \
            [a for a, _ in mine] == ["push", "pull"]
        name = ref.rsplit(":", 1)[0]
        assert dict(mine)["push"] == {"name": name}
        assert dict(mine)["pull"] == {"name": name}
        legacy = next(e for e in events if e["Action"] == "pull")
        assert legacy["status"] == "pull" and legacy["id"] == ref
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_stop_and_forced_rm_log_their_signals_run_logs_attach(daemon, made) -> None:
    """As dockerd: stop sends kill 15, then kill 9 when the timeout passes, then die and stop;
    rm -f of a running container is kill 9, die, destroy; an attached run logs attach."""
    t0 = time.time()
    stopped = _run(daemon, made, "busybox", "sleep", "100")  # pid 1 ignores SIGTERM
    assert daemon.docker("stop", "-t", "1", stopped).returncode == 0
    removed = _run(daemon, made, "busybox", "sleep", "100")
    assert daemon.docker("rm", "-f", removed).returncode == 0
    attached = f"ev-{secrets.token_hex(4)}"
    made["containers"].append(attached)
    assert daemon.docker("run", "--name", attached, "busybox", "true").returncode == 0
    events = _events(daemon, t0, "type=container")
    steps = [(a, attrs.get("signal", attrs.get("exitCode", ""))) for a, attrs in
             _of(events, stopped)]
    assert steps == [("create", ""), ("start", ""), ("kill", "15"), ("kill", "9"),
                     ("die", "137"), ("stop", "")], events
    steps = [(a, attrs.get("signal", "")) for a, attrs in _of(events, removed)]
    assert steps[2:] == [("kill", "9"), ("die", ""), ("destroy", "")], events
    attached_id = next(e["Actor"]["ID"] for e in events
                       if e["Actor"]["Attributes"].get("name") == attached)
    assert [a for a, _ in _of(events, attached_id)] == ["create", "attach", "start", "die"]
