"""Property tests: whatever tar the extractors get, nothing outside the target exists or changes.

Covers the layer extractor (``berth.images.layer.apply_layer``), the ``cp`` extractor
(``berth.images.copyarchive.extract_into``) and archive staging for ``load``
(``berth.images.load.stage_archive``). Inputs mix ``..``, absolute names, symlinks and hard
links pointing out of the root, files written through them, and device nodes.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import Internal, InvalidArgument
from berth.images.copyarchive import extract_into
from berth.images.layer import apply_layer
from berth.images.load import stage_archive

_PARTS = st.sampled_from(["a", "b", "..", ".", "", "l", "OUT", ".wh.a", ".wh..wh..opq"])
_NAMES = st.lists(_PARTS, min_size=1, max_size=4).map("/".join) | st.sampled_from(
    ["/OUT/x", "/etc/passwd", "l/x", "l/OUT/x", "../OUT/x"])
_KINDS = st.sampled_from(["file", "dir", "sym", "link", "chr"])
_TARGETS = st.sampled_from(["OUTSIDE", "/", "..", "../..", "a", "l", "/etc", "OUTSIDE/x",
                            "../OUT"])


def _snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            stt = os.lstat(p)
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(path))] = (stt.st_mode, data)
    return out


def _tar(entries: list[tuple[str, str, str]], outside: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, target in entries:
            target = target.replace("OUTSIDE", str(outside))
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = b"owned"
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = target
            info.devmajor, info.devminor = 1, 3
            tar.addfile(info)
    return buf.getvalue()


_ENTRIES = st.lists(st.tuples(_NAMES, _KINDS, _TARGETS), min_size=1, max_size=8)
_SETTINGS = settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _world() -> tuple[Path, Path, Path]:
    base = Path(tempfile.mkdtemp(prefix="prop-"))
    outside = base / "OUT"
    outside.mkdir()
    (outside / "x").write_text("original")
    (outside / "sub").mkdir()
    root = base / "root"
    root.mkdir()
    return base, outside, root


def _check(base: Path, before: dict[str, tuple[int, bytes]], allowed: Path) -> None:
    after = _snapshot(base)
    for name, value in before.items():
        if not (base / name).is_relative_to(allowed):
            assert after.get(name) == value, f"{name} changed"
    for name in after:
        if name not in before:
            assert (base / name).is_relative_to(allowed), f"{name} created outside"


@_SETTINGS
@given(_ENTRIES)
def test_layer_extractor_stays_inside(entries: list[tuple[str, str, str]]) -> None:
    base, outside, root = _world()
    try:
        src = Path(tempfile.mkdtemp(prefix="prop-src-")) / "layer.tar"
        src.write_bytes(_tar(entries, outside))
        before = _snapshot(base)
        try:
            apply_layer(src, root / "layer")
        except InvalidArgument:
            assert not (root / "layer").exists()
        _check(base, before, root)
    finally:
        shutil.rmtree(base)
        shutil.rmtree(src.parent, ignore_errors=True)


@_SETTINGS
@given(_ENTRIES, _ENTRIES)
def test_cp_extractor_stays_inside(first: list[tuple[str, str, str]],
                                   second: list[tuple[str, str, str]]) -> None:
    base, outside, root = _world()
    try:
        (root / "a").mkdir()
        before = _snapshot(base)
        # Two uploads: links planted by the first must not carry the second out.
        for n, entries in enumerate((first, second)):
            src = Path(tempfile.mkdtemp(prefix="prop-src-")) / f"in{n}.tar"
            src.write_bytes(_tar(entries, outside))
            for dest in ("/", "/a", "/l"):
                with contextlib.suppress(InvalidArgument, Internal, FileNotFoundError, NotADirectoryError):
                    extract_into(src, root, dest)
            shutil.rmtree(src.parent, ignore_errors=True)
        _check(base, before, root)
    finally:
        shutil.rmtree(base)
        shutil.rmtree(src.parent, ignore_errors=True)


@_SETTINGS
@given(_ENTRIES)
def test_load_staging_never_uses_entry_names(entries: list[tuple[str, str, str]]) -> None:
    base, outside, root = _world()
    try:
        src = Path(tempfile.mkdtemp(prefix="prop-src-")) / "archive.tar"
        src.write_bytes(_tar(entries, outside))
        before = _snapshot(base)
        try:
            staged = stage_archive(src, root)
            for name in list(staged.files) + list(staged.links):
                with contextlib.suppress(InvalidArgument):
                    assert staged.path(name).is_relative_to(root)
        except InvalidArgument:
            pass
        _check(base, before, root)
    finally:
        shutil.rmtree(base)
        shutil.rmtree(src.parent, ignore_errors=True)
