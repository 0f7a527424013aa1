"""``docker cp`` source paths the way Docker reads them: ``dir/.`` (the directory's contents,
into a new or an existing directory) and a trailing ``/`` or ``/.`` on something that is not
a directory (an error, 500 as moby's lstat error, never a copy of the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import new_name, ok

pytestmark = pytest.mark.root

_TREE = "mkdir -p /d/sub && echo a > /d/f && echo b > /d/sub/g && ln -s /d/f /d/link"


def _files(top: Path) -> list[str]:
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*"))


def test_cp_dir_dot_copies_the_contents(daemon: Daemon, names: list[str], tmp_path: Path) -> None:
    c = new_name(names)
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c", _TREE))
    # into a directory that does not exist yet: it becomes a copy of /d
    ok(daemon.docker("cp", f"{c}:/d/.", str(tmp_path / "new")))
    assert _files(tmp_path / "new") == ["f", "link", "sub", "sub/g"]
    assert (tmp_path / "new" / "sub" / "g").read_text() == "b\n"
    assert not (tmp_path / "f").exists()
    # into an existing directory: the contents land in it, not in a "sub" below it
    (tmp_path / "have").mkdir()
    ok(daemon.docker("cp", f"{c}:/d/sub/.", str(tmp_path / "have")))
    assert _files(tmp_path / "have") == ["g"]
    # the whole directory keeps its own name
    ok(daemon.docker("cp", f"{c}:/d", str(tmp_path / "have")))
    assert _files(tmp_path / "have" / "d") == ["f", "link", "sub", "sub/g"]


def test_cp_trailing_slash_on_a_file_is_an_error(daemon: Daemon, names: list[str],
                                                 tmp_path: Path) -> None:
    c = new_name(names)
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c", _TREE))
    for path in ("/d/f/", "/d/link/", "/d/f/.", "/d/f/x"):
        r = daemon.docker("cp", f"{c}:{path}", str(tmp_path / "out"))
        assert r.returncode == 1, (path, r.stderr)
        assert f"lstat {path}: not a directory".encode() in r.stderr, r.stderr
        assert not (tmp_path / "out").exists()
        for method in ("HEAD", "GET"):
            status, _, _ = request(str(daemon.socket), method,
                                   f"/containers/{c}/archive?path={path}")
            assert status == 500, (method, path, status)
    # a directory asked for with a trailing slash, through a link or not, is fine
    ok(daemon.docker("cp", f"{c}:/d/sub/", str(tmp_path / "sub")))
    assert _files(tmp_path / "sub") == ["g"]
    # copying into a path below a file fails the same way and changes nothing
    (tmp_path / "in.txt").write_text("x")
    r = daemon.docker("cp", str(tmp_path / "in.txt"), f"{c}:/d/f/")
    assert r.returncode == 1
    ok(daemon.docker("cp", f"{c}:/d/f", str(tmp_path / "f")))
    assert (tmp_path / "f").read_text() == "a\n"
