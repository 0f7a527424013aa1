"""Namespaces as seen from inside: PID 1, hostname, private process table, lo up."""

from __future__ import annotations

import socket

import pytest

from .conftest import Env

pytestmark = pytest.mark.root


def test_command_is_pid_1(rt: Env) -> None:
    r = rt.run(["sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '"])
    assert r.status == 0
    assert r.stdout.splitlines() == ["1", "sh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' "]


def test_hostname_is_the_spec_s_and_host_keeps_its_own(rt: Env) -> None:
    r = rt.run(["hostname"])
    assert r.stdout == "berthtest\n"
    assert socket.gethostname() != "berthtest"


def test_host_processes_are_invisible(rt: Env) -> None:
    r = rt.run(["sh", "-c", "ls -d /proc/[0-9]* | wc -l"])
    # sh, ls and wc: nothing from the host
    assert r.status == 0 and int(r.stdout) <= 3


def test_loopback_is_up_in_new_netns(rt: Env) -> None:
    r = rt.run(["sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net; ping -c1 -W2 127.0.0.1"])
    lines = r.stdout.splitlines()
    assert int(lines[0], 16) & 0x1, r.stdout
    assert lines[1] == "lo"
    assert r.status == 0, r.stdout + r.stderr
