"""Execs started from a short-lived child of the shim (berth.shim.execchild): the exec'd process
is the shim's child once the answer arrives and is reaped there (also one that exits at once),
the helper child is gone, a tty exec's pty master reaches the shim, and a failing exec keeps
its error class and leaves no process behind."""

from __future__ import annotations

import signal

import pytest

from berth.errors import RuntimeFailure
from berth.shim.client import spawn
from berth.shim.protocol import ExecRequest
from tests.shim.conftest import ShimEnv, ppid, run, until_children
from tests.shim.test_main import assert_cleaned_up, shim_pid

pytestmark = pytest.mark.root


def test_exec_process_is_the_shims_child_and_is_reaped_there(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        try:
            await client.start()
            init = client.pid
            slow, _, _ = await client.exec(ExecRequest("e1", ("sh", "-c", "sleep 0.5; exit 7")))
            # The helper child that ran the runtime's exec has left (it forked the process
            # itself, which is the shim's, the subreaper's, once the helper is gone).
            children = await until_children(shim, {init, slow})
            parent = ppid(slow)
            state = await client.exec_state("e1", wait=True)
            quick, _, _ = await client.exec(ExecRequest("e2", ("true",)))
            quick_state = await client.exec_state("e2", wait=True)
            left = await until_children(shim, {init})
        finally:
            await client.kill(signal.SIGKILL)
            await client.wait()
        return shim, init, slow, parent, children, state, quick, quick_state, left

    shim, init, slow, parent, children, state, quick, quick_state, left = run(scenario())
    assert parent == shim
    assert children == {init, slow}
    assert (state["pid"], state["running"], state["exit_code"]) == (slow, False, 7)
    assert (quick_state["pid"], quick_state["running"], quick_state["exit_code"]) == (quick, False, 0)
    assert left == {init}
    assert_cleaned_up(shim_env, spec, state_dir, shim)


def test_tty_exec_gets_its_pty_through_the_child(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        try:
            await client.start()
            req = ExecRequest("t1", ("sh", "-c", "tty; exit 3"), tty=True, attach=True)
            _, reader, writer = await client.exec(req)
            assert reader is not None and writer is not None
            output = await reader.read()
            writer.close()
            state = await client.exec_state("t1", wait=True)
        finally:
            await client.kill(signal.SIGKILL)
            await client.wait()
        return shim, output, state

    shim, output, state = run(scenario())
    assert output.strip().startswith(b"/dev/pts/"), output
    assert state["exit_code"] == 3
    assert_cleaned_up(shim_env, spec, state_dir, shim)


def test_failing_exec_keeps_its_class_and_leaves_nothing(shim_env: ShimEnv) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        shim = shim_pid(state_dir)
        try:
            await client.start()
            init = client.pid
            with pytest.raises(RuntimeFailure, match="executable file not found"):
                await client.exec(ExecRequest("bad", ("no-such-command",)))
            left = await until_children(shim, {init})
            # The shim still serves execs after a failed one.
            pid, _, _ = await client.exec(ExecRequest("ok", ("true",)))
            state = await client.exec_state("ok", wait=True)
        finally:
            await client.kill(signal.SIGKILL)
            await client.wait()
        return shim, init, left, pid, state

    shim, init, left, pid, state = run(scenario())
    assert left == {init}
    assert (state["pid"], state["exit_code"]) == (pid, 0)
    assert_cleaned_up(shim_env, spec, state_dir, shim)
