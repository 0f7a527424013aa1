"""berthd killed (-9) in the middle of ``docker import`` (after the layer blob, after the
config and manifest blobs, after unpacking): after a restart the store is consistent, the
spooled request body is gone, and the same import succeeds and runs."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.conftest import network_flags, start_berthd, stop_berthd
from tests.daemon.test_images_hostile import _consistent, _docker, _images, _start

pytestmark = pytest.mark.root


def _rootfs_tar(path: Path) -> None:
    """A minimal rootfs: static busybox and an ``sh`` link to it."""
    with tarfile.open(path, "w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type = tarfile.SYMTYPE
        link.linkname = "busybox"
        tar.addfile(link)
        marker = b"imported\n"
        info = tarfile.TarInfo("marker")
        info.size = len(marker)
        tar.addfile(info, io.BytesIO(marker))


@pytest.mark.parametrize("point", ["import:layer", "import:blobs", "import:unpacked"])
def test_kill_during_import_then_retry(point: str, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    _rootfs_tar(rootfs)
    base = Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp_path))
    d = _start(base, point)
    try:
        r = _docker(d, "import", str(rootfs), "crashimp:1")
        assert r.returncode != 0
        assert d.process is not None and d.process.wait(10) == -9
        d = start_berthd(base, "crashy")
        _consistent(d)
        assert _images(d.socket) == []
        assert not [p for p in (d.data_root / "tmp").iterdir() if p.name.startswith("import-")]
        r = _docker(d, "import", "-c", 'CMD ["/bin/sh"]', str(rootfs), "crashimp:1")
        assert r.returncode == 0, r.stderr
        r = _docker(d, "run", "--rm", "--network", "none", "crashimp:1", "sh", "-c",
                    "cat /marker")
        assert r.stdout == b"imported\n", r.stderr
        _consistent(d)
    finally:
        _docker(d, "rm", "-f", *[c for c in _docker(d, "ps", "-aq").stdout.decode().split()])
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)
        from berth.testing.netcleanup import cleanup_network_leftovers

        # The restarted daemon made its bridge and nftables table: remove them too.
        cleanup_network_leftovers(d.data_root, network_flags(base)[1])
