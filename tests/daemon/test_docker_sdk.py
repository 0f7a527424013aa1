"""The foundation flows through the Docker SDK for Python."""

from __future__ import annotations

import io
import tarfile

import docker
import docker.errors
import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> docker.DockerClient:
    c = docker.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    c.close()


def test_version_negotiation(client: docker.DockerClient) -> None:
    v = client.version()
    assert v["ApiVersion"] == "1.45" and v["MinAPIVersion"] == "1.24"
    assert client.api.api_version == "1.45"
    assert client.ping() is True


def test_run_returns_output(client: docker.DockerClient) -> None:
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"


def test_nonzero_exit_raises(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    assert info.value.exit_status == 3


def test_unknown_image(client: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("no-such-image-abc")
    with pytest.raises(docker.errors.NotFound):
        client.containers.create("no-such-image-abc", ["true"])


def test_detached_container(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; sleep 1000"],
                              detach=True, labels={"suite": "sdk"}, environment={"A": "b"})
    try:
        c.reload()
        assert c.status == "running"
        assert c.attrs["Config"]["Labels"] == {"suite": "sdk"}
        # as dockerd: only what was given (busybox here has no Env; the process gets PATH)
        assert c.attrs["Config"]["Env"] == ["A=b"]
        listed = client.containers.list(filters={"label": "suite=sdk"})
        assert [x.id for x in listed] == [c.id]
        for _ in range(50):
            if c.logs() == b"one\ntwo\n":
                break
            import time

            time.sleep(0.1)
        assert c.logs(stdout=True, stderr=False) == b"one\n"
        assert c.logs(stdout=False, stderr=True) == b"two\n"
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_images_import_tag_remove(client: docker.DockerClient) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    resp = client.api.import_image_from_data(buf.getvalue(), repository="sdk-import", tag="v1")
    assert "sha256:" in resp
    img = client.images.get("sdk-import:v1")
    assert img.tags == ["sdk-import:v1"]
    assert len(img.attrs["RootFS"]["Layers"]) == 1
    img.tag("sdk-import", "v2")
    assert sorted(client.images.get("sdk-import:v1").tags) == ["sdk-import:v1", "sdk-import:v2"]
    client.images.remove("sdk-import:v2")
    assert client.images.get("sdk-import:v1").tags == ["sdk-import:v1"]
    client.images.remove("sdk-import:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("sdk-import:v1")


def _tiny_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"x\n"
        info = tarfile.TarInfo("file")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_rmi_of_used_image_conflicts(client: docker.DockerClient) -> None:
    client.api.import_image_from_data(_tiny_tar(), repository="used-image", tag="1")
    client.images.get("used-image:1").tag("used-image", "2")
    c = client.containers.create("used-image:1", ["true"])
    try:
        # while another tag remains, rmi only untags, even though a container uses the image
        client.images.remove("used-image:2")
        with pytest.raises(docker.errors.APIError) as info:
            client.images.remove("used-image:1")
        assert info.value.status_code == 409
        assert "is using its referenced image" in str(info.value)
        assert client.images.get("used-image:1").tags == ["used-image:1"]
    finally:
        c.remove()
    client.images.remove("used-image:1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("used-image:1")
