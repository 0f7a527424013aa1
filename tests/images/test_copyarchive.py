from __future__ import annotations

import os
import stat

import pytest

from berth.errors import InvalidArgument
from berth.images.copyarchive import extract_into

from .tarutil import make_tar

pytestmark = pytest.mark.root


def test_parents_the_archive_does_not_list_are_created_like_docker(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    src = tmp_path / "in.tar"
    src.write_bytes(make_tar(("file", "data/sub/f", "x"), ("file", "data/g", "y")))
    extract_into(src, root, "/")
    assert (root / "data" / "sub" / "f").read_text() == "x"
    assert (root / "data" / "g").read_text() == "y"
    assert stat.S_IMODE(os.stat(root / "data" / "sub").st_mode) == 0o755


def test_created_parents_stay_inside_the_root(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink("/", root / "abs")
    os.symlink("../../outside", root / "rel")
    src = tmp_path / "in.tar"
    src.write_bytes(make_tar(("file", "abs/new/f", "a"), ("file", "rel/new/g", "b")))
    extract_into(src, root, "/")
    assert (root / "new" / "f").read_text() == "a"  # "/" is the container's root
    assert os.listdir(outside) == []


def test_a_file_in_the_way_of_a_parent_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_text("keep")
    src = tmp_path / "in.tar"
    src.write_bytes(make_tar(("file", "file/sub/x", "x")))
    with pytest.raises(InvalidArgument, match="parent is not a directory"):
        extract_into(src, root, "/")
    assert (root / "file").read_text() == "keep"
