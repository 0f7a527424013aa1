"""`builder prune` forgets the build cache and removes the images only the cache kept
(untagged, no container, no child), reporting the space their layers freed; tagged results,
their parents, images of containers and base images stay."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root

_MB = 1 << 20


@pytest.fixture
def cleanup(daemon: Daemon) -> Iterator[list[str]]:
    refs: list[str] = []
    try:
        yield refs
    finally:
        for ref in refs:
            daemon.docker("rm", "-f", ref)
            daemon.docker("rmi", "-f", ref)


def _build(daemon: Daemon, tmp_path: Path, tag: str | None, marker: str) -> str:
    ctx = tmp_path / marker
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        f"RUN head -c {2 * _MB} /dev/urandom > /big-{marker}\n"
        f"RUN echo {marker} > /marker\n")
    iid = ctx / "iid"
    args = ["build", "--iidfile", str(iid), *(["-t", tag] if tag else []), str(ctx)]
    r = subprocess.run(["docker", *args], env={**daemon.env, "DOCKER_BUILDKIT": "0"},
                       capture_output=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return iid.read_text().strip()


def _exists(daemon: Daemon, ref: str) -> bool:
    return daemon.docker("image", "inspect", ref).returncode == 0


def _parent(daemon: Daemon, ref: str) -> str:
    return daemon.docker("image", "inspect", "-f", "{{.Parent}}", ref,
                         check=True).stdout.decode().strip()


def test_builder_prune_removes_cache_only_images_and_reports_space(
        daemon: Daemon, tmp_path: Path, cleanup: list[str]) -> None:
    busybox = daemon.docker("image", "inspect", "-f", "{{.Id}}", "busybox",
                            check=True).stdout.decode().strip()
    untagged = _build(daemon, tmp_path, None, "loose")
    loose_mid = _parent(daemon, untagged)
    tagged = _build(daemon, tmp_path, "gap-prune-kept:1", "kept")
    used = _build(daemon, tmp_path, None, "used")
    cleanup += ["gap-prune-user", "gap-prune-kept:1", tagged, untagged, used, loose_mid]
    daemon.docker("create", "--name", "gap-prune-user", used, "true", check=True)

    client = docker.DockerClient(base_url=daemon.host)
    try:
        result = client.api.prune_builds()
    finally:
        client.close()
    assert result["CachesDeleted"] and len(result["CachesDeleted"]) >= 6, result
    # The loose build's two step images went, with its 2 MB layer (and the tiny marker one).
    assert 2 * _MB <= result["SpaceReclaimed"] < 3 * _MB, result
    assert not _exists(daemon, untagged) and not _exists(daemon, loose_mid)
    assert _exists(daemon, tagged) and _exists(daemon, _parent(daemon, tagged))
    assert _exists(daemon, used)  # a container uses it
    assert _exists(daemon, busybox)
    r = daemon.docker("run", "--rm", "gap-prune-kept:1", "cat", "/marker")
    assert r.stdout == b"kept\n"

    # The cache is gone: the same build runs every step again.
    ctx = tmp_path / "kept"
    r = subprocess.run(["docker", "build", "-t", "gap-prune-kept:1", str(ctx)],
                       env={**daemon.env, "DOCKER_BUILDKIT": "0"}, capture_output=True,
                       timeout=120, check=False)
    assert r.returncode == 0 and b"Using cache" not in r.stdout, r.stdout

    # Nothing left to prune: nothing reclaimed; the docker CLI and berth's CLI say so.
    r = daemon.docker("builder", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert b"Total reclaimed space:" in r.stdout
    r = daemon.berth("builder", "prune", "-f")
    assert r.returncode == 0 and r.stdout.endswith(b"Total reclaimed space: 0B\n"), r.stdout
