"""The shim's state-dir files: replaced whole by rename, and an exit.json that does not parse
(only a power loss with the exec root on disk can leave one) reads as no status."""

from __future__ import annotations

from pathlib import Path

from berth.shim.exitfile import EXIT_FILE, read_exit, write_exit
from berth.shim.protocol import ExitStatus
from berth.shim.spec import write_atomic


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "shim.pid"
    write_atomic(path, b"123\n", 0o644)
    write_atomic(path, b"4567\n", 0o644)
    assert path.read_bytes() == b"4567\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["shim.pid"]


def test_exit_file_round_trip_and_unreadable_file(tmp_path: Path) -> None:
    assert read_exit(tmp_path) is None
    status = ExitStatus(3, 1_700_000_000_123_456_789, True)
    write_exit(tmp_path, status)
    assert read_exit(tmp_path) == status
    for junk in (b"", b"{", b'{"exit_code": "x"}', b"[1]",
                 b'{"exit_code": 1, "finished_at": "yesterday"}'):
        (tmp_path / EXIT_FILE).write_bytes(junk)
        assert read_exit(tmp_path) is None, junk
