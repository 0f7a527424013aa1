"""The creator process: the container is created and started by a child of the shim that
exits once the container runs, leaving the init to the shim (its parent from then on); an init
killed before ``start`` still reaches the shim, and create errors keep their class."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from berth.errors import RuntimeFailure
from berth.shim.client import spawn
from berth.shim.server import SOCKET_FILE
from berth.testing.cgroups import cgroup_dirs
from tests.shim.conftest import ShimEnv, ppid, run, until_children, wait_gone
from tests.shim.test_main import assert_cleaned_up, shim_pid

pytestmark = pytest.mark.root


def test_started_init_is_the_shims_child_and_the_creator_is_gone(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        await client.start()
        init = client.pid
        # The creator leaves right after answering start.
        assert await until_children(shim, {init}) == {init}
        assert ppid(init) == shim
        await client.kill(signal.SIGKILL)
        status = await client.wait()
        return status, shim

    status, shim = run(scenario())
    assert status.exit_code == 137
    assert_cleaned_up(shim_env, spec, state_dir, shim)


def test_init_killed_before_start_is_reaped_by_the_shim(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        os.kill(client.pid, signal.SIGKILL)
        status = await client.wait()
        return status, shim

    status, shim = run(scenario())
    assert status.exit_code == 137
    assert_cleaned_up(shim_env, spec, state_dir, shim)


def test_create_error_keeps_its_class_and_leaves_nothing(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["true"])
    config = spec.bundle / "config.json"
    data = json.loads(config.read_text())
    data["process"]["args"] = []
    config.write_text(json.dumps(data))

    async def scenario():
        with pytest.raises(RuntimeFailure, match=r"process\.args"):
            await spawn(state_dir, spec)

    run(scenario())
    assert wait_gone(shim_pid(state_dir))
    assert not (shim_env.runtime_root / spec.id).exists()
    assert cgroup_dirs(shim_env.cgroup_rel(spec)) == []
    # The shim bound its socket while the creator worked; a failed create removes it.
    assert not (state_dir / SOCKET_FILE).exists()


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``. Zombies have exited: they stay only when this test
    process is a subreaper (the runtime tests that run in-process make it one) and the shim's
    orphans were reparented to it."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command's closing parenthesis: state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_shim_failing_after_forking_the_creator_leaves_no_creator(shim_env: ShimEnv) -> None:
    # The creator is forked before the shim opens the log: a bad log option fails the shim
    # after that, and the waiting creator must leave with it.
    state_dir, spec = shim_env.container(["true"], log_max_size=-1)

    async def scenario():
        with pytest.raises(RuntimeFailure, match="invalid log options"):
            await spawn(state_dir, spec)

    run(scenario())
    pid = shim_pid(state_dir)
    assert wait_gone(pid)
    deadline = time.monotonic() + 5
    while _session_members(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _session_members(pid) == [], "the shim's creator outlived it"
    assert not (shim_env.runtime_root / spec.id).exists()
    assert cgroup_dirs(shim_env.cgroup_rel(spec)) == []
