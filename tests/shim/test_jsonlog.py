import asyncio
import json
from pathlib import Path

from berth.shim.jsonlog import MAX_ENTRY, JsonLogWriter, LogEntry, Stream, follow, read

T0 = 1_700_000_000_000_000_000


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writer_splits_lines_and_keeps_partials(tmp_path):
    log = tmp_path / "c-json.log"
    w = JsonLogWriter(log)
    w.write(Stream.STDOUT, b"hello\nwor", T0)
    w.write(Stream.STDERR, b"oops\n", T0 + 1)
    w.write(Stream.STDOUT, b"ld\n", T0 + 2)
    w.write(Stream.STDOUT, b"tail", T0 + 3)
    w.flush(T0 + 4)
    w.close()
    assert lines(log) == [
        {"log": "hello\n", "stream": "stdout", "time": "2023-11-14T22:13:20.000000000Z"},
        {"log": "oops\n", "stream": "stderr", "time": "2023-11-14T22:13:20.000000001Z"},
        {"log": "world\n", "stream": "stdout", "time": "2023-11-14T22:13:20.000000002Z"},
        {"log": "tail", "stream": "stdout", "time": "2023-11-14T22:13:20.000000004Z"},
    ]
    # Docker's exact byte layout: no spaces, log/stream/time order.
    assert log.read_bytes().startswith(
        b'{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:20.000000000Z"}\n')


def test_long_lines_split_at_16k(tmp_path):
    log = tmp_path / "l.log"
    w = JsonLogWriter(log)
    w.write(Stream.STDOUT, b"a" * (MAX_ENTRY * 2 + 10) + b"\n", T0)
    w.close()
    got = [e.data for e in read(log)]
    assert got == [b"a" * MAX_ENTRY, b"a" * MAX_ENTRY, b"a" * 10 + b"\n"]


def test_invalid_utf8_replaced(tmp_path):
    log = tmp_path / "u.log"
    w = JsonLogWriter(log)
    w.write(Stream.STDOUT, b"caf\xc3\xa9 \xff\n", T0)
    w.close()
    assert lines(log)[0]["log"] == "café \ufffd\n"
    assert next(read(log)).data == "café \ufffd\n".encode()


def test_rotation_keeps_max_file(tmp_path):
    log = tmp_path / "r.log"
    w = JsonLogWriter(log, max_size=200, max_file=3)
    for i in range(40):
        w.write(Stream.STDOUT, f"line {i:03d}\n".encode(), T0 + i)
    w.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.log", "r.log.1", "r.log.2"]
    for p in tmp_path.iterdir():
        # a file is rotated once it holds max_size, so it exceeds it by at most one entry
        assert p.stat().st_size < 200 + 100
    entries = list(read(log))
    nums = [int(e.data.split()[1]) for e in entries]
    assert nums == list(range(nums[0], 40))  # contiguous, oldest file first
    assert nums[0] > 0  # the oldest lines were dropped


def test_rotation_with_one_file_truncates(tmp_path):
    log = tmp_path / "t.log"
    w = JsonLogWriter(log, max_size=100, max_file=1)
    for i in range(10):
        w.write(Stream.STDOUT, f"{i}\n".encode(), T0)
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["t.log"]
    assert [e.data for e in read(log)][-1] == b"9\n"
    assert len(list(read(log))) < 10


def test_read_tail_since_until(tmp_path):
    log = tmp_path / "s.log"
    w = JsonLogWriter(log, max_size=300, max_file=20)
    for i in range(30):
        w.write(Stream.STDOUT if i % 2 else Stream.STDERR, f"n{i}\n".encode(), T0 + i * 10)
    w.close()
    assert len(list(tmp_path.iterdir())) > 2
    all_entries = list(read(log))
    assert [e.data for e in all_entries] == [f"n{i}\n".encode() for i in range(30)]
    assert all_entries[1] == LogEntry(Stream.STDOUT, T0 + 10, b"n1\n")
    assert [e.data for e in read(log, tail=3)] == [b"n27\n", b"n28\n", b"n29\n"]
    # tail reaching back across rotated files
    assert [e.data for e in read(log, tail=25)] == [f"n{i}\n".encode() for i in range(5, 30)]
    assert len(list(read(log, tail=100))) == 30
    assert list(read(log, tail=0)) == []
    assert [e.data for e in read(log, since=T0 + 270)] == [b"n27\n", b"n28\n", b"n29\n"]
    assert [e.data for e in read(log, until=T0 + 20)] == [b"n0\n", b"n1\n", b"n2\n"]
    assert [e.data for e in read(log, since=T0 + 100, until=T0 + 120)] == [
        b"n10\n", b"n11\n", b"n12\n"]
    # datetime bounds work too (microsecond precision: all entries share T0's microsecond)
    assert len(list(read(log, since=all_entries[0].time))) == 30
    assert list(read(log, until=all_entries[0].time.replace(year=2000))) == []
    # tail counts lines before the time filter, as dockerd does
    assert [e.data for e in read(log, tail=3, since=T0 + 285)] == [b"n29\n"]


def test_read_missing_and_torn_lines(tmp_path):
    log = tmp_path / "m.log"
    assert list(read(log)) == []
    w = JsonLogWriter(log)
    w.write(Stream.STDOUT, b"a\nb\n", T0)
    w.close()
    with open(log, "ab") as f:
        f.write(b'garbage\n{"log":"half')  # a foreign line and a line still being written
    assert [e.data for e in read(log)] == [b"a\n", b"b\n"]
    # tail counts lines in the file, the unreadable one included; the torn one is not a line yet
    assert [e.data for e in read(log, tail=2)] == [b"b\n"]


def test_follow_yields_appended_until_exited(tmp_path):
    log = tmp_path / "f.log"
    w = JsonLogWriter(log, max_size=120, max_file=2)
    w.write(Stream.STDOUT, b"before\n", T0)

    async def scenario() -> list[bytes]:
        exited = asyncio.Event()
        got: list[bytes] = []

        async def produce() -> None:
            for i in range(12):  # enough to rotate several times while following
                await asyncio.sleep(0.02)
                w.write(Stream.STDOUT, f"after {i}\n".encode(), T0 + i + 1)
            w.write(Stream.STDOUT, b"partial", T0 + 50)
            w.flush(T0 + 51)
            exited.set()

        task = asyncio.create_task(produce())
        async for entry in follow(log, until_exited=exited, poll_interval=0.01):
            got.append(entry.data)
        await task
        return got

    got = asyncio.run(asyncio.wait_for(scenario(), 10))
    w.close()
    assert got == [b"before\n", *[f"after {i}\n".encode() for i in range(12)], b"partial"]


def test_follow_with_tail_and_until(tmp_path):
    log = tmp_path / "g.log"
    w = JsonLogWriter(log)
    for i in range(5):
        w.write(Stream.STDOUT, f"{i}\n".encode(), T0 + i)

    async def scenario() -> list[bytes]:
        exited = asyncio.Event()
        got = []
        async def later() -> None:
            await asyncio.sleep(0.05)
            w.write(Stream.STDERR, b"5\n", T0 + 5)
            w.write(Stream.STDERR, b"6\n", T0 + 6)
        task = asyncio.create_task(later())
        async for entry in follow(log, tail=2, until=T0 + 5, until_exited=exited,
                                  poll_interval=0.01):
            got.append(entry.data)
        await task
        return got

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == [b"3\n", b"4\n", b"5\n"]
    w.close()
