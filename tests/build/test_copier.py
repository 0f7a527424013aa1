"""COPY/ADD placement rules on plain directories (a stand-in root is just a directory)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from berth.build.copier import Owner, copy_sources, find_sources, is_archive, lookup_owner
from berth.errors import InvalidArgument


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / ".hidden").write_text("h")
    (root / "dir" / "b.txt").write_text("b")
    (root / "dir" / "sub" / "c.txt").write_text("c")
    os.utime(root / "a.txt", (1000, 1000))
    return root


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    (root / "existing").mkdir()
    (root / "link").symlink_to("/existing")
    return root


def _copy(ctx, rootfs, sources, dest, workdir="/", **kw):
    found = find_sources(ctx, sources, "COPY")
    kw.setdefault("owner", None)
    kw.setdefault("chmod", None)
    kw.setdefault("unpack_archives", frozenset())
    copy_sources(found, dest, rootfs, workdir, what="COPY", **kw)


def test_file_to_path_dir_and_workdir(ctx, rootfs):
    _copy(ctx, rootfs, ["a.txt"], "/x/renamed")
    _copy(ctx, rootfs, ["a.txt"], "/y/")
    _copy(ctx, rootfs, ["a.txt"], "/existing")
    _copy(ctx, rootfs, ["a.txt"], "rel/", workdir="/work")
    assert (rootfs / "x" / "renamed").read_text() == "a"
    assert (rootfs / "y" / "a.txt").exists() and (rootfs / "existing" / "a.txt").exists()
    assert (rootfs / "work" / "rel" / "a.txt").exists()
    assert (rootfs / "x" / "renamed").stat().st_mtime == 1000


def test_directory_copies_contents(ctx, rootfs):
    _copy(ctx, rootfs, ["dir"], "/d")
    assert sorted(p.relative_to(rootfs / "d").as_posix() for p in (rootfs / "d").rglob("*")) == [
        "b.txt", "sub", "sub/c.txt"]


def test_globs_match_dotfiles_and_need_a_directory(ctx, rootfs):
    _copy(ctx, rootfs, ["*"], "/all/")
    assert (rootfs / "all" / ".hidden").exists() and (rootfs / "all" / "b.txt").exists()
    with pytest.raises(InvalidArgument, match="must be a directory and end with a /"):
        _copy(ctx, rootfs, ["a.txt", ".hidden"], "/nodir")
    with pytest.raises(InvalidArgument, match="no source files"):
        _copy(ctx, rootfs, ["*.none"], "/x/")


def test_sources_cannot_leave_the_context(ctx, rootfs, tmp_path):
    (tmp_path / "outside").write_text("secret")
    with pytest.raises(InvalidArgument, match="file not found in build context"):
        _copy(ctx, rootfs, ["../outside"], "/x")
    (ctx / "escape").symlink_to("../outside")
    with pytest.raises(InvalidArgument):  # the link resolves inside the context, to nothing
        find_sources(ctx, ["escape"], "COPY")


def test_destination_symlinks_resolve_inside_the_root(ctx, rootfs):
    _copy(ctx, rootfs, ["a.txt"], "/link/")
    assert (rootfs / "existing" / "a.txt").exists()


def test_chown_and_chmod(ctx, rootfs):
    owner = lookup_owner(rootfs, "app:staff")
    assert owner == Owner(1000, 50)
    assert lookup_owner(rootfs, "app") == Owner(1000, 1001)
    assert lookup_owner(rootfs, "7:8") == Owner(7, 8)
    with pytest.raises(InvalidArgument):
        lookup_owner(rootfs, "ghost")
    _copy(ctx, rootfs, ["dir"], "/owned", owner=owner, chmod=0o640)
    st = (rootfs / "owned" / "b.txt").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 50, 0o640)
    assert (rootfs / "owned").stat().st_uid == 1000


def test_add_unpacks_local_archives_only(ctx, rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/f")
        info.size = 2
        info.uid = 5
        tar.addfile(info, io.BytesIO(b"hi"))
    (ctx / "t.tgz").write_bytes(buf.getvalue())
    assert is_archive(ctx / "t.tgz") and not is_archive(ctx / "a.txt")
    _copy(ctx, rootfs, ["t.tgz"], "/u/", unpack_archives=frozenset({ctx / "t.tgz"}))
    assert (rootfs / "u" / "inner" / "f").read_text() == "hi"
    assert (rootfs / "u" / "inner" / "f").stat().st_uid == 5
    _copy(ctx, rootfs, ["t.tgz"], "/c/")
    assert (rootfs / "c" / "t.tgz").exists()
