"""Seccomp user notification: a tiny agent listening on ``linux.seccomp.listenerPath`` gets the
container's notify fd with runc's process-state message and answers the trapped syscalls.

The agent is a thread of the test speaking the kernel's ioctl interface directly; the
conftest's ``rt`` removes the container even when the test fails.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from berth.errors import RuntimeFailure
from berth.runtime import container
from berth.runtime import exec as rexec

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root

# _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp)
_NOTIF_RECV = 0xC0502100
_NOTIF_SEND = 0xC0182101
_NOTIF_SIZE = 80


class Agent(threading.Thread):
    """Take every notify fd the runtime sends, fail every notified syscall with EXDEV."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.messages: list[dict[str, Any]] = []
        self.handled: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        notify_fds: list[int] = []
        try:
            while not self.stop.is_set():
                ready = select.select([self.server, *notify_fds], [], [], 0.1)[0]
                for r in ready:
                    if r is self.server:
                        conn, _ = self.server.accept()
                        with conn:
                            data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
                        self.messages.append(json.loads(data))
                        notify_fds += fds
                    else:
                        self._answer(r)
        finally:
            for fd in notify_fds:
                os.close(fd)

    def _answer(self, notify: int) -> None:
        buf = bytearray(_NOTIF_SIZE)
        try:
            fcntl.ioctl(notify, _NOTIF_RECV, buf)
        except OSError:
            return  # the filtered process is gone
        notif_id, _pid, _flags, nr = struct.unpack_from("QIIi", buf)
        self.handled.append(nr)
        with contextlib.suppress(OSError):  # ENOENT: the caller was killed meanwhile
            fcntl.ioctl(notify, _NOTIF_SEND, bytearray(struct.pack("QqiI", notif_id, 0,
                                                                   -errno.EXDEV, 0)))


def _seccomp(listener: Path) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(listener),
            "listenerMetadata": "tiny-agent",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


@pytest.mark.parametrize("no_new_privileges", [False, True])
def test_notify_fd_reaches_the_listener_which_answers_syscalls(rt: Env,
                                                               no_new_privileges: bool) -> None:
    agent = Agent(rt.base / "agent.sock")
    agent.start()

    def mutate(spec: dict[str, Any]) -> None:
        spec["process"]["noNewPrivileges"] = no_new_privileges
        spec["linux"]["seccomp"] = _seccomp(rt.base / "agent.sock")

    try:
        r = rt.run(["sh", "-c", "mkdir /made-here; echo rc=$?; test -d /made-here || echo absent"],
                   mutate=mutate)
    finally:
        agent.stop.set()
        agent.join(10)
        agent.server.close()
    assert r.stdout == "rc=1\nabsent\n", r.stderr
    assert "Invalid cross-device link" in r.stderr
    assert agent.handled, "the agent saw no syscall"
    [msg] = agent.messages
    assert msg["fds"] == ["seccompFd"] and msg["metadata"] == "tiny-agent"
    assert msg["state"]["id"] == rt.ids[-1] and msg["state"]["status"] == "creating"
    assert msg["pid"] == msg["state"]["pid"] > 0


def test_notify_without_listener_is_refused(rt: Env) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}

    bundle, mounts, _ = rt.bundle(["true"], mutate=mutate)
    with pytest.raises(RuntimeFailure, match=r"SCMP_ACT_NOTIFY needs linux\.seccomp\.listenerPath"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_unreachable_listener_fails_create_and_leaves_nothing(rt: Env) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["seccomp"] = _seccomp(rt.base / "nobody-listens.sock")

    bundle, mounts, _ = rt.bundle(["true"], mutate=mutate)
    with pytest.raises(RuntimeFailure, match="send notify fd to"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_exec_in_a_notify_container_sends_its_own_fd(rt: Env) -> None:
    agent = Agent(rt.base / "agent.sock")
    agent.start()

    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["seccomp"] = _seccomp(rt.base / "agent.sock")

    bundle, mounts, _ = rt.bundle(["sleep", "30"], mutate=mutate)
    try:
        created = container.create(rt.options(bundle, mounts))
        try:
            created.start()
            out_r, out_w = os.pipe()
            try:
                started = rexec.exec_process(rt.state_root, created.id, rexec.ExecOptions(
                    args=("sh", "-c", "mkdir /from-exec 2>&1; echo rc=$?"), stdout=out_w))
            finally:
                os.close(out_w)
            with os.fdopen(out_r) as f:
                text = f.read()
            assert wait_exit(started.pid) == 0
        finally:
            container.delete(rt.state_root, created.id)
    finally:
        agent.stop.set()
        agent.join(10)
        agent.server.close()
    assert "Invalid cross-device link" in text and "rc=1" in text, text
    assert [m["state"]["status"] for m in agent.messages] == ["creating", "running"]
    assert agent.messages[1]["pid"] == started.pid
