"""A build pulls what it needs with the client's credentials, as Docker's classic builder:
FROM and ``COPY --from`` of images only a registry with htpasswd auth has (``berth registry
serve`` on 127.0.0.1), driven by the docker CLI (``X-Registry-Config`` from its config.json),
berth's CLI and the docker SDK (after ``login``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon
from tests.registry.helpers import Server, make_htpasswd, push_test_image, start_berth_registry

pytestmark = pytest.mark.root

USER, PASSWORD = "builder", "s3cret-build-pw"


@dataclass
class Private:
    server: Server
    config_dir: Path  # an empty DOCKER_CONFIG of the test's own

    def ref(self, repo: str) -> str:
        return f"{self.server.host}/{repo}:v1"


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Private]:
    scratch = Path(tempfile.mkdtemp(prefix="berth-build-auth-"))
    htpasswd = make_htpasswd(scratch / "htpasswd", USER, PASSWORD)
    server = start_berth_registry(scratch, "--htpasswd", str(htpasswd))
    try:
        push_test_image(server.url, "auth/base", "v1", message="private base",
                        auth=(USER, PASSWORD))
        push_test_image(server.url, "auth/src", "v1", message="copied from private",
                        auth=(USER, PASSWORD))
        yield Private(server, tmp_path / "docker-config")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _run(daemon: Daemon, private: Private, *argv: str,
         input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**daemon.env, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(private.config_dir)}
    # stdin given or closed: nothing may wait for a password prompt.
    return subprocess.run(list(argv), env=env, input=input if input is not None else b"",
                          capture_output=True, timeout=120, check=False)


def _out(p: subprocess.CompletedProcess[bytes]) -> str:
    return (p.stdout + p.stderr).decode(errors="replace")


def _exists(daemon: Daemon, ref: str) -> bool:
    return daemon.docker("image", "inspect", ref).returncode == 0


def test_docker_build_pulls_from_and_copy_from_with_login(daemon: Daemon, tmp_path: Path,
                                                          private: Private,
                                                          cleanup_images: list[str]) -> None:
    base, src = private.ref("auth/base"), private.ref("auth/src")
    cleanup_images += [base, src, "auth-built:1"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\n"
        f"COPY --from={src} /etc/message /from-src\n"
        'CMD ["/bin/busybox", "cat", "/etc/message", "/from-src"]\n')

    # No login: the pull is refused, the build fails, nothing is left tagged.
    r = _run(daemon, private, "docker", "build", "-t", "auth-built:1", str(ctx))
    assert r.returncode != 0, _out(r)
    assert base in _out(r) and "no basic auth credentials" in _out(r), _out(r)
    assert not _exists(daemon, "auth-built:1") and not _exists(daemon, base)

    r = _run(daemon, private, "docker", "login", "-u", USER, "--password-stdin",
             private.server.host, input=PASSWORD.encode() + b"\n")
    assert r.returncode == 0, _out(r)
    r = _run(daemon, private, "docker", "build", "-t", "auth-built:1", str(ctx))
    out = _out(r)
    assert r.returncode == 0, out
    assert "v1: Pulling from auth/base" in out and "v1: Pulling from auth/src" in out, out
    assert f"Status: Downloaded newer image for {src}" in out
    assert _exists(daemon, base) and _exists(daemon, src)  # kept, as Docker does
    run = daemon.docker("run", "--rm", "auth-built:1")
    assert run.stdout == b"private basecopied from private", run.stderr
    assert daemon.log_path is None or PASSWORD not in daemon.log_path.read_text(errors="replace")


def test_copy_from_private_image_with_the_docker_sdk(daemon: Daemon, tmp_path: Path,
                                                     private: Private, cleanup_images: list[str]) -> None:
    src = private.ref("auth/src")
    cleanup_images += [src, "auth-sdk:1"]
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nCOPY --from={src} /etc/message /from-src\n")
    client = docker.DockerClient(base_url=daemon.host)
    try:
        with pytest.raises(docker.errors.BuildError) as failed:
            client.images.build(path=str(tmp_path), tag="auth-sdk:1", rm=True)
        assert f"invalid from flag value {src}" in str(failed.value), failed.value
        client.login(username=USER, password=PASSWORD, registry=private.server.host)
        image, logs = client.images.build(path=str(tmp_path), tag="auth-sdk:1", rm=True)
        assert any("Pulling from auth/src" in str(line.get("status", "")) for line in logs), logs
        out = client.containers.run(image.id, ["/bin/busybox", "cat", "/from-src"], remove=True)
        assert out == b"copied from private"
    finally:
        client.close()


def test_berth_build_pull_sends_stored_logins(daemon: Daemon, tmp_path: Path, private: Private,
                                              cleanup_images: list[str]) -> None:
    """``berth build --pull`` after ``berth login``: the base named by FROM and again by
    ``COPY --from`` is pulled once, with the stored credentials."""
    base = private.ref("auth/base")
    cleanup_images += [base, "auth-berth:1"]
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nCOPY --from={base} /etc/message /again\n")
    berth = [sys.executable, "-m", "berth.cli.main"]
    r = _run(daemon, private, *berth, "login", "-u", USER, "--password-stdin",
             private.server.host, input=PASSWORD.encode() + b"\n")
    assert r.returncode == 0, _out(r)
    r = _run(daemon, private, *berth, "build", "--pull", "-t", "auth-berth:1", str(tmp_path))
    out = _out(r)
    assert r.returncode == 0, out
    assert out.count("Pulling from auth/base") == 1, out
    run = daemon.docker("run", "--rm", "auth-berth:1", "/bin/busybox", "cat", "/again")
    assert run.stdout == b"private base", run.stderr
