"""The exit is answered before the runtime's delete, the release after it: a waiter gets the
status and attach streams end while the delete (here held up by a poststop hook) still runs;
the wait connection closes only once the container's runtime state and cgroups are gone."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from berth.shim.client import spawn
from berth.testing.cgroups import cgroup_dirs
from tests.shim.conftest import ShimEnv
from tests.shim.test_main import assert_cleaned_up, shim_pid

pytestmark = pytest.mark.root

_HOOK_SECONDS = 1.0


def _with_slow_poststop(spec_bundle, seconds: float) -> None:
    config = spec_bundle / "config.json"
    data = json.loads(config.read_text())
    data["hooks"] = {"poststop": [{"path": "/bin/busybox",
                                   "args": ["busybox", "sleep", str(seconds)]}]}
    config.write_text(json.dumps(data))


def test_status_and_attach_end_come_before_the_delete_release_after(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sh", "-c", "echo bye; exit 7"])
    _with_slow_poststop(spec.bundle, _HOOK_SECONDS)

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        reader, writer = await client.attach(False, True, True)
        waiting = asyncio.ensure_future(client.exited())
        await asyncio.sleep(0.05)  # the wait is registered before the init runs
        await client.start()
        status, released = await waiting
        answered = time.monotonic()
        output = await asyncio.wait_for(reader.read(), 0.5)  # ended without the delete
        writer.close()
        assert not released.done(), "released before the runtime's delete ran"
        in_delete = (shim_env.runtime_root / spec.id).exists()
        await asyncio.wait_for(released, 10)
        return status, output, time.monotonic() - answered, in_delete, shim

    status, output, release_after, in_delete, shim = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status.exit_code == 7
    assert b"bye" in output
    assert in_delete
    assert release_after >= _HOOK_SECONDS * 0.8
    # What berthd relies on before it reuses the ID: state and cgroups are gone at the release.
    assert not (shim_env.runtime_root / spec.id).exists()
    assert cgroup_dirs(shim_env.cgroup_rel(spec)) == []
    assert_cleaned_up(shim_env, spec, state_dir, shim)


def test_wait_after_the_exit_is_released_at_once(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["true"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        await client.start()
        first = await client.wait()
        # The shim may be gone by now: the status then comes from exit.json, released at once.
        status, released = await client.exited()
        await asyncio.wait_for(released, 10)
        return first, status, shim

    first, status, shim = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert first.exit_code == status.exit_code == 0
    assert_cleaned_up(shim_env, spec, state_dir, shim)
