"""Config of an image that has none (``docker import`` of a bare tar) and of a container made
from it, as a private dockerd shows them: Env and Volumes null, not a PATH and {} (the
process still gets the default PATH)."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import inspect, ok

pytestmark = pytest.mark.root


def _bare_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("d/f")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return buf.getvalue()


def test_imported_image_and_its_container_keep_nulls(
        daemon: Daemon, made: dict[str, list[str]]) -> None:
    image, bare, with_env = (f"t-{uuid.uuid4().hex[:10]}" for _ in range(3))
    made["images"].append(f"{image}:1")
    made["containers"] += [bare, with_env]
    ok(daemon.docker("import", "-", f"{image}:1", input=_bare_tar()))
    image_info = inspect(daemon, f"{image}:1")
    assert image_info["Config"].get("Env") is None
    assert image_info["DockerVersion"] == "berth"  # the engine that made it, as dockerd's own
    ok(daemon.docker("create", "--name", bare, f"{image}:1", "/d/f"))
    config = inspect(daemon, bare)["Config"]
    assert config["Env"] is None and config["Volumes"] is None, config
    ok(daemon.docker("create", "--name", with_env, "-e", "X=1", "-v", "/vol", f"{image}:1", "/d/f"))
    config = inspect(daemon, with_env)["Config"]
    assert config["Env"] == ["X=1"] and config["Volumes"] == {"/vol": {}}, config
    # the process still finds its programs: busybox's env, with the default PATH
    out = ok(daemon.docker("run", "--rm", "busybox", "env"))
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in out.splitlines()
