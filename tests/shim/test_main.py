"""The shim process end to end: real busybox containers through berth.shim.client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berth.errors import Conflict, NotModified, RuntimeFailure, Unavailable
from berth.shim import jsonlog, pidfile
from berth.shim.client import ShimClient, read_exit, spawn
from berth.shim.protocol import ProcessStatus
from berth.testing.cgroups import cgroup_dirs
from tests.shim.conftest import ShimEnv, run, wait_gone

pytestmark = pytest.mark.root


async def read_frames(reader: asyncio.StreamReader) -> dict[int, bytes]:
    out = {1: b"", 2: b""}
    while True:
        try:
            header = await reader.readexactly(8)
        except asyncio.IncompleteReadError as e:
            assert e.partial == b""
            return out
        stream, size = struct.unpack(">BxxxI", header)
        assert header[1:4] == b"\0\0\0"
        out[stream] += await reader.readexactly(size)


def shim_pid(state_dir: Path) -> int:
    shim = pidfile.read(state_dir)
    assert shim is not None, f"no shim pid file in {state_dir}"
    return shim.pid


def assert_cleaned_up(env: ShimEnv, spec, state_dir: Path, pid: int) -> None:
    assert wait_gone(pid), "shim process still running"
    assert not (state_dir / "shim.sock").exists()
    assert cgroup_dirs(env.cgroup_rel(spec)) == []
    assert not (env.runtime_root / spec.id).exists()


def test_attach_framing_log_and_exit(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["sh", "-c", "echo out; echo err >&2; printf part; exit 3"])
    before = time.time_ns()

    async def scenario():
        client = await spawn(state_dir, spec)
        pid = shim_pid(state_dir)
        assert (await client.state()).status is ProcessStatus.CREATED
        reader, writer = await client.attach(stdin=False, stdout=True, stderr=True)
        assert await client.start() == client.pid
        frames = await read_frames(reader)
        writer.close()
        status = await client.wait()
        return frames, status, pid

    frames, status, pid = run(scenario())
    after = time.time_ns()
    assert frames == {1: b"out\npart", 2: b"err\n"}
    assert status.exit_code == 3 and not status.oom_killed
    assert before <= status.finished_at_ns <= after
    assert read_exit(state_dir) == status
    raw = json.loads((state_dir / "exit.json").read_text())
    assert raw["exit_code"] == 3 and re.fullmatch(r"\d{4}-.*T.*\.\d{9}Z", raw["finished_at"])

    entries = list(jsonlog.read(spec.log_path))
    by_stream = {(e.stream, e.data) for e in entries}
    assert by_stream == {(jsonlog.Stream.STDOUT, b"out\n"), (jsonlog.Stream.STDERR, b"err\n"),
                         (jsonlog.Stream.STDOUT, b"part")}
    assert all(before <= e.time_ns <= after for e in entries)
    for line in spec.log_path.read_text().splitlines():
        assert re.fullmatch(r'\{"log":".*","stream":"std(out|err)","time":"[-\dT:]+\.\d{9}Z"\}',
                            line)
    assert_cleaned_up(shim_env, spec, state_dir, pid)


def test_stdin_round_trip_with_stdin_once(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["cat"], open_stdin=True, stdin_once=True)

    async def scenario():
        client = await spawn(state_dir, spec)
        reader, writer = await client.attach(stdin=True, stdout=True, stderr=True)
        await client.start()
        writer.write(b"hello\n")
        writer.write(b"x" * 300_000 + b"\n")
        await writer.drain()
        writer.write_eof()  # stdin_once: cat sees EOF and exits
        frames = await read_frames(reader)
        writer.close()
        return frames, await client.wait()

    frames, status = run(scenario())
    assert frames[1] == b"hello\n" + b"x" * 300_000 + b"\n"
    assert status.exit_code == 0


def test_stdin_stays_open_without_stdin_once_and_sigkill(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["cat"], open_stdin=True, stdin_once=False)

    async def scenario():
        client = await spawn(state_dir, spec)
        reader, writer = await client.attach(stdin=True, stdout=True, stderr=False)
        await client.start()
        writer.write(b"one\n")
        writer.write_eof()
        header = await reader.readexactly(8)
        assert await reader.readexactly(struct.unpack(">BxxxI", header)[1]) == b"one\n"
        await asyncio.sleep(0.3)
        state = await client.state()
        assert state.status is ProcessStatus.RUNNING  # detaching did not close stdin
        await client.kill(signal.SIGKILL)
        status = await client.wait()
        assert await reader.read() == b""  # attach stream closed after exit
        writer.close()
        return status

    assert run(scenario()).exit_code == 128 + 9


def test_tty_mode_isatty_and_resize(shim_env: ShimEnv):
    script = "[ -t 0 ] && [ -t 1 ] && echo isatty; read x; stty size; echo err >&2"
    state_dir, spec = shim_env.container(["sh", "-c", script], tty=True, open_stdin=True)

    async def scenario():
        client = await spawn(state_dir, spec)
        reader, writer = await client.attach(stdin=True, stdout=True, stderr=True)
        await client.start()
        data = await reader.readuntil(b"isatty\r\n")
        await client.resize(33, 111)
        writer.write(b"go\r")
        await writer.drain()
        data += await reader.read()
        writer.close()
        return data, await client.wait()

    data, status = run(scenario())
    assert status.exit_code == 0
    # Raw pty bytes, no multiplexing headers; the pty turns \n into \r\n and echoes input.
    assert data.startswith(b"isatty\r\n")
    assert b"33 111\r\n" in data and b"err\r\n" in data
    logged = b"".join(e.data for e in jsonlog.read(spec.log_path))
    assert b"33 111" in logged
    assert {e.stream for e in jsonlog.read(spec.log_path)} == {jsonlog.Stream.STDOUT}


def test_resize_without_tty_is_refused(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["true"])

    async def scenario():
        client = await spawn(state_dir, spec)
        with pytest.raises(Conflict):
            await client.resize(10, 10)
        await client.start()
        return await client.wait()

    assert run(scenario()).exit_code == 0


def test_attach_before_start_loses_nothing(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["seq", "1", "50000"])

    async def scenario():
        client = await spawn(state_dir, spec)
        reader, writer = await client.attach(stdin=False, stdout=True, stderr=True)
        slow_reader, slow_writer = await client.attach(stdin=False, stdout=True, stderr=False)
        await client.start()
        frames = await read_frames(reader)
        await asyncio.sleep(0.2)  # the second client reads late: backpressure, not loss
        slow = await read_frames(slow_reader)
        writer.close()
        slow_writer.close()
        return frames, slow, await client.wait()

    frames, slow, status = run(scenario())
    expected = "".join(f"{i}\n" for i in range(1, 50001)).encode()
    assert frames[1] == expected and slow[1] == expected
    assert b"".join(e.data for e in jsonlog.read(spec.log_path)) == expected
    assert status.exit_code == 0


def test_kill_all_and_wait_from_several_clients(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["sh", "-c", "sleep 100 & sleep 100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        await client.start()
        waits = [asyncio.create_task(client.wait()) for _ in range(3)]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in waits)
        await client.kill(signal.SIGKILL, all=True)
        return await asyncio.gather(*waits)

    statuses = run(scenario())
    assert {s.exit_code for s in statuses} == {137}
    assert len({s.finished_at_ns for s in statuses}) == 1


def test_spawn_failure_reports_runtime_message(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["no-such-command"])
    with pytest.raises(RuntimeFailure, match=r'exec: "no-such-command": executable file not found'):
        run(spawn(state_dir, spec))
    assert wait_gone(shim_pid(state_dir))
    assert cgroup_dirs(shim_env.cgroup_rel(spec)) == []
    assert read_exit(state_dir) is None


def test_shutdown(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec)
        pid = shim_pid(state_dir)
        await client.start()
        with pytest.raises(Conflict):
            await client.shutdown()
        with pytest.raises(NotModified):
            await client.start()
        await client.kill(signal.SIGKILL)
        await client.wait()
        assert wait_gone(pid)
        with pytest.raises(Unavailable):
            await ShimClient.connect(state_dir)

        # a created, never started container: shutdown ends it and its shim
        state_dir2, spec2 = shim_env.container(["sleep", "100"])
        client2 = await spawn(state_dir2, spec2)
        pid2 = shim_pid(state_dir2)
        await client2.shutdown()
        assert wait_gone(pid2)
        return spec2, state_dir2, pid2

    spec2, state_dir2, pid2 = run(scenario())
    assert_cleaned_up(shim_env, spec2, state_dir2, pid2)


_DAEMON = """
import asyncio, sys
from pathlib import Path
from berth.shim.client import spawn
from berth.shim.spec import ShimSpec
import json

async def main():
    state_dir = Path(sys.argv[1])
    spec = ShimSpec.from_json(json.loads(sys.argv[2]))
    client = await spawn(state_dir, spec)
    reader, writer = await client.attach(stdin=True, stdout=True, stderr=True)
    await client.start()
    waiting = asyncio.create_task(client.wait())
    print("started", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_survives_daemon_death(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(
        ["sh", "-c", "echo up; while [ ! -e /tmp/stop-$ID ]; do sleep 0.05; done; exit 4"],
        open_stdin=True)
    config = json.loads((spec.bundle / "config.json").read_text())
    config["process"]["env"].append(f"ID={spec.id}")
    (spec.bundle / "config.json").write_text(json.dumps(config))
    daemon = subprocess.Popen([sys.executable, "-c", _DAEMON, str(state_dir),
                               json.dumps(spec.to_json())], stdout=subprocess.PIPE)
    stop_file = shim_env.rootfs / "tmp" / f"stop-{spec.id}"
    try:
        assert daemon.stdout is not None
        assert daemon.stdout.readline() == b"started\n"
        daemon.kill()  # berthd dies while attached and waiting
        daemon.wait()
        pid = shim_pid(state_dir)
        time.sleep(0.3)
        assert not wait_gone(pid, timeout=0.1)

        async def reconnect():
            client = await ShimClient.connect(state_dir)
            state = await client.state()
            assert state.status is ProcessStatus.RUNNING and state.pid == client.pid
            os.kill(client.pid, 0)

        run(reconnect())
        stop_file.touch()  # the container exits while no client is connected
        assert wait_gone(pid)
        status = read_exit(state_dir)
        assert status is not None and status.exit_code == 4
        assert [e.data for e in jsonlog.read(spec.log_path)] == [b"up\n"]
        assert_cleaned_up(shim_env, spec, state_dir, pid)

        async def late_wait():
            # wait() after the shim is gone falls back to exit.json
            return await ShimClient(state_dir).wait()

        assert run(late_wait()) == status
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()
        stop_file.unlink(missing_ok=True)


def test_log_rotation_through_shim(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(["seq", "1", "3000"], log_max_size=4096, log_max_file=3)

    async def scenario():
        client = await spawn(state_dir, spec)
        await client.start()
        return await client.wait()

    assert run(scenario()).exit_code == 0
    assert sorted(p.name for p in spec.log_path.parent.glob(f"{spec.id}-json.log*")) == [
        f"{spec.id}-json.log", f"{spec.id}-json.log.1", f"{spec.id}-json.log.2"]
    lines = [int(e.data) for e in jsonlog.read(spec.log_path)]
    assert lines[-1] == 3000 and lines == list(range(lines[0], 3001))
    assert [int(e.data) for e in jsonlog.read(spec.log_path, tail=5)] == list(range(2996, 3001))


def test_oom_killed_is_reported(shim_env: ShimEnv):
    state_dir, spec = shim_env.container(
        ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"])
    config = json.loads((spec.bundle / "config.json").read_text())
    limit = 16 * 1024 * 1024
    config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    (spec.bundle / "config.json").write_text(json.dumps(config))

    async def scenario():
        client = await spawn(state_dir, spec)
        await client.start()
        return await client.wait()

    status = run(scenario())
    assert status.oom_killed
    assert status.exit_code != 0
    assert read_exit(state_dir) == status


def test_tty_client_eof_leaves_the_container_running(shim_env: ShimEnv):
    # As moby: with a tty, a client going away (detach keys, closed terminal) does not end
    # the container's stdin, even with stdin_once.
    state_dir, spec = shim_env.container(["cat"], tty=True, open_stdin=True, stdin_once=True)

    async def scenario():
        client = await spawn(state_dir, spec)
        reader, writer = await client.attach(stdin=True, stdout=True, stderr=False)
        await client.start()
        writer.write(b"abc\r")
        await writer.drain()
        await reader.readuntil(b"abc\r\nabc\r\n")  # echo, then cat's copy
        writer.write_eof()
        writer.close()
        await asyncio.sleep(0.5)
        state = await client.state()
        await client.kill(signal.SIGKILL, all=True)
        return state, await client.wait()

    state, status = run(scenario())
    assert state.status.value == "running"
    assert status.exit_code == 137
