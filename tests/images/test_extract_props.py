"""Property tests: whatever tar the extractors get, nothing outside the target exists or changes.

Covers the layer extractor (``berth.images.layer.apply_layer``), the ``cp`` extractor
(``berth.images.copyarchive.extract_into``) and archive staging for ``load``
(``berth.images.load.stage_archive``). Inputs mix ``..``, absolute names, symlinks and hard
links pointing out of the root, files written through them, and device nodes.

Each extraction runs in a forked child chrooted into the example's own world, so the absolute
targets (``/``, ``/etc``) name that world's root and ``etc``, which the check covers: an
escape shows as a failure instead of changing the host (a broken extractor once chmodded the
host's ``/`` and ``/etc`` to 0644 while this test, looking only at its temp dir, passed).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import Internal, InvalidArgument
from berth.images.copyarchive import extract_into
from berth.images.layer import apply_layer
from berth.images.load import stage_archive
from tests.forked import check_in_child

_PARTS = st.sampled_from(["a", "b", "..", ".", "", "l", "OUT", ".wh.a", ".wh..wh..opq"])
_NAMES = st.lists(_PARTS, min_size=1, max_size=4).map("/".join) | st.sampled_from(
    ["/OUT/x", "/etc/passwd", "l/x", "l/OUT/x", "../OUT/x"])
_KINDS = st.sampled_from(["file", "dir", "sym", "link", "chr"])
_TARGETS = st.sampled_from(["OUTSIDE", "/", "..", "../..", "a", "l", "/etc", "OUTSIDE/x",
                            "../OUT"])


def _snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {".": (os.lstat(path).st_mode, b"")}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            stt = os.lstat(p)
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(path))] = (stt.st_mode, data)
    return out


# Inside the chroot: the world's root is "/", so these are the paths the extractors get.
_ROOT = Path("/root")
_OUTSIDE = Path("/OUT")
_SRC = Path("/src")


def _tar(entries: list[tuple[str, str, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, target in entries:
            target = target.replace("OUTSIDE", str(_OUTSIDE))
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


def _in_world(base: Path, extract: Callable[[], None]) -> None:
    """Run ``extract`` chrooted into ``base`` in a forked child; it fails the test on error."""

    def chrooted() -> bool:
        os.chroot(base)
        os.chdir("/")
        extract()
        return True

    check_in_child(chrooted)


_ENTRIES = st.lists(st.tuples(_NAMES, _KINDS, _TARGETS), min_size=1, max_size=8)
_SETTINGS = settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


def _world() -> Path:
    """A sacrificial root: OUT (the "outside" victims), etc (what an absolute /etc names),
    root (the extraction target) and src (the archives)."""
    base = Path(tempfile.mkdtemp(prefix="prop-"))
    os.chmod(base, 0o755)
    outside = base / "OUT"
    outside.mkdir()
    (outside / "x").write_text("original")
    (outside / "sub").mkdir()
    (base / "etc").mkdir()
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\n")
    (base / "root").mkdir()
    (base / "src").mkdir()
    return base


def _check(base: Path, before: dict[str, tuple[int, bytes]]) -> None:
    allowed = base / "root"
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
    base = _world()
    try:
        (base / "src" / "layer.tar").write_bytes(_tar(entries))
        before = _snapshot(base)

        def extract() -> None:
            try:
                apply_layer(_SRC / "layer.tar", _ROOT / "layer")
            except InvalidArgument:
                assert not (_ROOT / "layer").exists()

        _in_world(base, extract)
        _check(base, before)
    finally:
        shutil.rmtree(base)


@_SETTINGS
@given(_ENTRIES, _ENTRIES)
def test_cp_extractor_stays_inside(first: list[tuple[str, str, str]],
                                   second: list[tuple[str, str, str]]) -> None:
    base = _world()
    try:
        (base / "root" / "a").mkdir()
        for n, entries in enumerate((first, second)):
            (base / "src" / f"in{n}.tar").write_bytes(_tar(entries))
        before = _snapshot(base)

        def extract() -> None:
            # Two uploads: links planted by the first must not carry the second out.
            for n in range(2):
                for dest in ("/", "/a", "/l"):
                    with contextlib.suppress(InvalidArgument, Internal, FileNotFoundError,
                                             NotADirectoryError):
                        extract_into(_SRC / f"in{n}.tar", _ROOT, dest)

        _in_world(base, extract)
        _check(base, before)
    finally:
        shutil.rmtree(base)


@_SETTINGS
@given(_ENTRIES)
def test_load_staging_never_uses_entry_names(entries: list[tuple[str, str, str]]) -> None:
    base = _world()
    try:
        (base / "src" / "archive.tar").write_bytes(_tar(entries))
        before = _snapshot(base)

        def extract() -> None:
            try:
                staged = stage_archive(_SRC / "archive.tar", _ROOT)
                for name in list(staged.files) + list(staged.links):
                    with contextlib.suppress(InvalidArgument):
                        assert staged.path(name).is_relative_to(_ROOT)
            except InvalidArgument:
                pass

        _in_world(base, extract)
        _check(base, before)
    finally:
        shutil.rmtree(base)
