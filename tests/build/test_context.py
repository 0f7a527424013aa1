""".dockerignore matching (Docker's rules, ``berth.buildcontext``) and the context tar/dir
helpers on both sides (the CLI's tar, berthd's ``berth.build.context``)."""

from __future__ import annotations

import io
import tarfile

import pytest

from berth.build.context import apply_ignore, extract_context
from berth.buildcontext import parse_dockerignore, walk_context, write_context_tar
from berth.errors import InvalidArgument

MATRIX = [
    # (patterns, path, excluded)
    ("*.log", "a.log", True),
    ("*.log", "dir/a.log", False),           # * stays within one path element
    ("*/*.log", "dir/a.log", True),
    ("**/*.log", "dir/sub/a.log", True),
    ("**/*.log", "a.log", True),               # ** matches zero directories too
    ("dir", "dir/sub/file", True),             # a parent directory match covers children
    ("dir/", "dir/file", True),
    ("/dir", "dir/file", True),                # leading slash is dropped
    ("./dir/../other", "other", True),         # patterns are cleaned
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("[ab].txt", "b.txt", True),
    ("[!ab].txt", "c.txt", True),
    ("# comment\n\n  spaced.txt  ", "spaced.txt", True),
    ("# comment", "# comment", False),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("!README.md\n*.md", "README.md", True),   # the last matching pattern wins
    ("docs\n!docs/keep.txt", "docs/keep.txt", False),
    ("docs\n!docs/keep.txt", "docs/drop.txt", True),
    ("**", "anything/at/all", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MATRIX)
def test_matrix(patterns, path, excluded):
    assert parse_dockerignore(patterns).matches(path) is excluded


def _tree(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data)


def test_walk_and_apply(tmp_path):
    _tree(tmp_path, {"Dockerfile": "FROM x", ".dockerignore": "*", "a.log": "", "src/main.py": "",
                     "src/junk.log": "", "docs/keep.txt": "", "docs/drop.txt": ""})
    ignore = parse_dockerignore("*.log\n**/*.log\ndocs\n!docs/keep.txt\nDockerfile\n")
    kept = list(walk_context(tmp_path, ignore, always=frozenset({"Dockerfile"})))
    assert kept == [".dockerignore", "Dockerfile", "docs/keep.txt", "src", "src/main.py"]
    apply_ignore(tmp_path, ignore)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == [".dockerignore", "docs", "docs/keep.txt", "src", "src/main.py"]


def test_tar_round_trip(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"Dockerfile": "FROM busybox", "keep": "1", "skip.tmp": "2"})
    (src / "keep").chmod(0o751)
    buf = io.BytesIO()
    write_context_tar(src, buf, parse_dockerignore("*.tmp"), extra=((".dockerfile.x", b"FROM y"),))
    path = tmp_path / "ctx.tar"
    path.write_bytes(buf.getvalue())
    dst.mkdir()
    extract_context(path, dst)
    assert sorted(p.name for p in dst.iterdir()) == [".dockerfile.x", "Dockerfile", "keep"]
    assert (dst / "keep").stat().st_mode & 0o777 == 0o751


def test_extract_refuses_escape(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    path = tmp_path / "bad.tar"
    path.write_bytes(buf.getvalue())
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidArgument):
        extract_context(path, tmp_path / "out")
    assert not (tmp_path / "evil").exists()
