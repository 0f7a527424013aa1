"""FROM of an image that is not local is pulled through the distribution service (as the
classic builder does), ``--pull`` re-pulls a base that changed in the registry, and a base
no registry has fails the build clearly. Registry: ``berth registry serve`` on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.registry.helpers import Server, push_test_image, start_berth_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry() -> Iterator[Server]:
    scratch = Path(tempfile.mkdtemp(prefix="berth-gap-build-"))
    server = start_berth_registry(scratch)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _docker_build(daemon: Daemon, ctx: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**daemon.env, "DOCKER_BUILDKIT": "0"}
    return subprocess.run(["docker", "build", *args, str(ctx)], env=env, capture_output=True,
                          timeout=120, check=False)


def _context(tmp_path: Path, base: str) -> Path:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nRUN [\"/bin/busybox\", \"mkdir\", \"/made-by-run\"]\nLABEL gap=pull\n")
    return tmp_path


def test_missing_base_is_pulled_and_pull_refreshes_it(daemon: Daemon, tmp_path: Path,
                                                      registry: Server,
                                                      cleanup_images: list[str]) -> None:
    base = f"{registry.host}/gaps/base:v1"
    push_test_image(registry.url, "gaps/base", "v1", message="first base")
    cleanup_images += [base, "gap-pulled:1", "gap-pulled:2", "gap-pulled:3"]
    assert daemon.docker("image", "inspect", base).returncode != 0
    ctx = _context(tmp_path, base)

    r = _docker_build(daemon, ctx, "-t", "gap-pulled:1")
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "v1: Pulling from gaps/base" in out
    assert f"Status: Downloaded newer image for {base}" in out
    assert daemon.docker("image", "inspect", base).returncode == 0  # kept, as Docker does
    run = daemon.docker("run", "--rm", "gap-pulled:1")
    assert run.stdout == b"first base\n", run.stderr

    # The registry's tag moves; a plain rebuild keeps the local base (fully cached) ...
    push_test_image(registry.url, "gaps/base", "v1", message="second base")
    r = daemon.berth("build", "-t", "gap-pulled:2", str(ctx))
    assert r.returncode == 0, r.stderr
    assert b"Pulling from" not in r.stdout
    assert daemon.docker("run", "--rm", "gap-pulled:2").stdout == b"first base\n"
    # ... and --pull fetches the new one, so the steps over it run again.
    r = daemon.berth("build", "--pull", "-t", "gap-pulled:3", str(ctx))
    assert r.returncode == 0, r.stderr
    assert f"Status: Downloaded newer image for {base}".encode() in r.stdout, r.stdout
    assert b"Using cache" not in r.stdout
    assert daemon.docker("run", "--rm", "gap-pulled:3").stdout == b"second base\n"


def test_pull_flag_with_an_up_to_date_base(daemon: Daemon, tmp_path: Path, registry: Server,
                                           cleanup_images: list[str]) -> None:
    base = f"{registry.host}/gaps/same:v1"
    push_test_image(registry.url, "gaps/same", "v1", message="same base")
    cleanup_images += [base, "gap-same:1"]
    ctx = _context(tmp_path, base)
    assert _docker_build(daemon, ctx, "-t", "gap-same:1").returncode == 0
    r = _docker_build(daemon, ctx, "--pull", "-t", "gap-same:1")
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert f"Status: Image is up to date for {base}" in out
    assert out.count("Using cache") == 2  # same base: RUN and LABEL still hit the cache


def test_base_no_registry_has_fails_clearly(daemon: Daemon, tmp_path: Path, registry: Server,
                                            cleanup_images: list[str]) -> None:
    cleanup_images.append("gap-nobase:1")
    ctx = _context(tmp_path, f"{registry.host}/gaps/nosuch:v1")
    r = _docker_build(daemon, ctx, "-t", "gap-nobase:1")
    assert r.returncode != 0
    err = (r.stdout + r.stderr).decode()
    assert f"{registry.host}/gaps/nosuch:v1" in err and "pull" in err, err
    assert daemon.docker("image", "inspect", "gap-nobase:1").returncode != 0
