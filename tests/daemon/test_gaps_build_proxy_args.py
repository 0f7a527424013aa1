"""The predefined proxy ARGs (HTTP_PROXY, https_proxy, NO_PROXY, ...), as Docker's classic
builder treats them (checked against dockerd 20.10): a --build-arg value reaches RUN without
an ARG line, stays out of history, the image's Env and the cache key (changing it keeps the
cache), is never reported as unconsumed; declared with ARG it is an ordinary build arg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


def _build(daemon: Daemon, ctx: Path, *args: str) -> str:
    r = subprocess.run(["docker", "build", *args, str(ctx)],
                       env={**daemon.env, "DOCKER_BUILDKIT": "0"}, capture_output=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return (r.stdout + r.stderr).decode()


def _history(daemon: Daemon, ref: str) -> list[str]:
    out = daemon.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref, check=True)
    return out.stdout.decode().splitlines()


def test_undeclared_proxy_args_reach_run_only(daemon: Daemon, tmp_path: Path,
                                              cleanup_images: list[str]) -> None:
    cleanup_images.append("gap-proxy:1")
    (tmp_path / "Dockerfile").write_text(
        'FROM busybox\nRUN echo "p=$HTTP_PROXY s=$https_proxy n=$no_proxy a=$ALL_PROXY" > /p\n'
        "RUN cat /p\n")
    out = _build(daemon, tmp_path, "-t", "gap-proxy:1", "--build-arg", "HTTP_PROXY=http://a:1",
                 "--build-arg", "https_proxy=http://s:2", "--build-arg", "no_proxy=x.test",
                 "--build-arg", "ALL_PROXY=socks5://c:3")
    assert "p=http://a:1 s=http://s:2 n=x.test a=socks5://c:3" in out
    assert "not consumed" not in out
    r = daemon.docker("run", "--rm", "gap-proxy:1", "cat", "/p")
    assert r.stdout == b"p=http://a:1 s=http://s:2 n=x.test a=socks5://c:3\n"
    # Docker's history: the args given count toward RUN's "|N" prefix but are not listed.
    history = _history(daemon, "gap-proxy:1")
    assert history[:2] == ["|0 /bin/sh -c cat /p",
                           '|0 /bin/sh -c echo "p=$HTTP_PROXY s=$https_proxy n=$no_proxy '
                           'a=$ALL_PROXY" > /p'], history
    assert "http://a:1" not in "".join(history)
    env = daemon.docker("image", "inspect", "-f", "{{json .Config.Env}}", "gap-proxy:1",
                        check=True).stdout.decode()
    assert "PROXY" not in env.upper(), env
    # Another proxy value keeps every step cached.
    out = _build(daemon, tmp_path, "-t", "gap-proxy:1", "--build-arg", "HTTP_PROXY=http://b:9",
                 "--build-arg", "https_proxy=http://s:2", "--build-arg", "no_proxy=x.test",
                 "--build-arg", "ALL_PROXY=socks5://c:3")
    assert out.count("Using cache") == 2, out


def test_declared_proxy_arg_is_an_ordinary_build_arg(daemon: Daemon, tmp_path: Path,
                                                     cleanup_images: list[str]) -> None:
    cleanup_images.append("gap-proxy:2")
    (tmp_path / "Dockerfile").write_text(
        'FROM busybox\nARG HTTP_PROXY\nRUN echo "p=$HTTP_PROXY" > /p\n')
    _build(daemon, tmp_path, "-t", "gap-proxy:2", "--build-arg", "HTTP_PROXY=http://a:1")
    out = _build(daemon, tmp_path, "-t", "gap-proxy:2", "--build-arg", "HTTP_PROXY=http://b:2")
    assert "Using cache" not in out.split("ARG HTTP_PROXY", 1)[1].split("RUN", 1)[1], out
    assert _history(daemon, "gap-proxy:2")[:2] == [
        '|1 HTTP_PROXY=http://b:2 /bin/sh -c echo "p=$HTTP_PROXY" > /p',
        "/bin/sh -c #(nop)  ARG HTTP_PROXY"]
    r = daemon.docker("run", "--rm", "gap-proxy:2", "cat", "/p")
    assert r.stdout == b"p=http://b:2\n"
