"""Events through the real docker CLI (`docker events --since/--until`), the SDK and a raw
streamed GET /events: container and image actions with Docker's fields, filters, live delivery."""

from __future__ import annotations

import json
import socket
import time
import uuid

import docker

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import ok


def test_docker_events_since_until_replays_container_and_image_events(daemon: Daemon) -> None:
    name = f"ev-{uuid.uuid4().hex[:10]}"
    tag = f"ev-tag-{uuid.uuid4().hex[:8]}:v1"
    since = f"{time.time() - 0.5:.9f}"
    r = daemon.docker("run", "--name", name, "--label", "tier=test", "busybox", "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr.decode()
    ok(daemon.docker("rm", name))
    ok(daemon.docker("tag", "busybox", tag))
    ok(daemon.docker("rmi", tag))
    until = f"{time.time() + 0.2:.9f}"
    out = ok(daemon.docker("events", "--since", since, "--until", until,
                           "--format", "{{json .}}", timeout=20))
    events = [json.loads(line) for line in out.splitlines()]
    mine = [e for e in events if e["Actor"]["Attributes"].get("name") in (name, tag)]
    actions = [(e["Type"], e["Action"]) for e in mine]
    for want in [("container", "create"), ("container", "start"), ("container", "die"),
                 ("container", "destroy"), ("image", "tag"), ("image", "untag")]:
        assert want in actions, actions
    assert actions.index(("container", "create")) < actions.index(("container", "start")) \
        < actions.index(("container", "die")) < actions.index(("container", "destroy"))
    die = next(e for e in mine if e["Action"] == "die")
    assert die["Actor"]["Attributes"] == {"exitCode": "3", "image": "busybox", "name": name, "tier": "test"}
    assert die["status"] == "die" and die["id"] == die["Actor"]["ID"] and die["from"] == "busybox"
    assert die["scope"] == "local" and die["time"] == die["timeNano"] // 10**9
    assert float(since) <= die["timeNano"] / 1e9 <= float(until)
    # The default text format, filtered to one container by name.
    text = ok(daemon.docker("events", "--since", since, "--until", until, "--filter", f"container={name}",
                            "--filter", "event=die", timeout=20))
    lines = text.strip().splitlines()
    assert len(lines) == 1 and f" container die {die['id']} (" in lines[0]
    assert "exitCode=3" in lines[0] and f"name={name}" in lines[0]


def test_events_stream_live_and_honour_filters(daemon: Daemon) -> None:
    name = f"ev-{uuid.uuid4().hex[:10]}"
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(str(daemon.socket))
    try:
        flt = json.dumps({"type": {"container": True}, "container": {name: True}})
        from urllib.parse import quote

        s.sendall(f"GET /events?filters={quote(flt)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:  # headers come at once, before any event
            buf += s.recv(4096)
        assert buf.startswith(b"HTTP/1.1 200")
        ok(daemon.docker("run", "-d", "--name", name, "busybox", "sleep", "60"))
        deadline = time.monotonic() + 15
        while b'"start"' not in buf:
            assert time.monotonic() < deadline, buf
            buf += s.recv(4096)
        body = buf.split(b"\r\n\r\n", 1)[1]
        assert b'"Action": "create"' in body and b'"Type": "image"' not in body
    finally:
        s.close()
        daemon.docker("rm", "-f", name)


def test_events_via_sdk_and_bad_input(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    since = time.time() - 1
    name = f"ev-{uuid.uuid4().hex[:10]}"
    client.containers.create("busybox", "true", name=name)
    client.containers.get(name).remove()
    got = list(client.events(since=since, until=time.time() + 0.2, decode=True,
                             filters={"event": ["create", "destroy"], "container": name}))
    assert [e["Action"] for e in got] == ["create", "destroy"]
    client.close()
    status, _, body = request(str(daemon.socket), "GET", "/events?filters=" + '{"bogus":["1"]}')
    assert status == 400 and json.loads(body) == {"message": "Invalid filter 'bogus'"}
    status, _, body = request(str(daemon.socket), "GET", "/events?since=yesterday")
    assert status == 400 and "since" in json.loads(body)["message"]
