"""The Engine API itself: version negotiation, headers, status codes and error bodies."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Daemon
from tests.daemon.apihttp import request
from tests.daemon.helpers import eventually
from tests.daemon.test_images_hostile import _trash_empty

pytestmark = pytest.mark.root


def test_ping_headers(daemon: Daemon) -> None:
    status, headers, body = request(str(daemon.socket), "GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.45"
    assert headers["ostype"] == "linux"
    assert headers["builder-version"] == "1"
    assert "no-cache" in headers["cache-control"]
    status, headers, body = request(str(daemon.socket), "HEAD", "/_ping")
    assert status == 200 and body == b""


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.45"])
def test_versioned_paths(daemon: Daemon, prefix: str) -> None:
    status, _, body = request(str(daemon.socket), "GET", f"{prefix}/version")
    assert status == 200
    assert json.loads(body)["ApiVersion"] == "1.45"


def test_version_out_of_range(daemon: Daemon) -> None:
    status, _, body = request(str(daemon.socket), "GET", "/v1.99/version")
    assert status == 400
    assert "too new" in json.loads(body)["message"]
    status, _, body = request(str(daemon.socket), "GET", "/v1.12/version")
    assert status == 400
    assert "too old" in json.loads(body)["message"]


def test_info_counts(daemon: Daemon) -> None:
    status, _, body = request(str(daemon.socket), "GET", "/info")
    info = json.loads(body)
    assert status == 200
    assert info["Images"] >= 2
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert info["DockerRootDir"] == str(daemon.data_root)


def test_unknown_route_is_json_404(daemon: Daemon) -> None:
    status, headers, body = request(str(daemon.socket), "GET", "/no/such/route")
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert "message" in json.loads(body)


def _containers(daemon: Daemon) -> list[str]:
    _, _, body = request(str(daemon.socket), "GET", "/containers/json?all=1")
    return sorted(c["Id"] for c in json.loads(body))


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[1, 2]",
    json.dumps({"Image": "busybox", "Cmd": 5}).encode(),
    json.dumps({"Image": "busybox", "Env": "A=b"}).encode(),
    json.dumps({"Image": "busybox", "HostConfig": {"Memory": "lots"}}).encode(),
    json.dumps({"Cmd": ["true"]}).encode(),
])
def test_bad_create_bodies_are_400_and_change_nothing(daemon: Daemon, body: bytes) -> None:
    before = _containers(daemon)
    status, _, raw = request(str(daemon.socket), "POST", "/containers/create", body,
                             {"Content-Type": "application/json"})
    assert status == 400, raw
    assert json.loads(raw)["message"]
    assert _containers(daemon) == before


@pytest.mark.parametrize("name", ["bad name", "-x", "a/b", "ü"])
def test_illegal_names_are_400(daemon: Daemon, name: str) -> None:
    before = _containers(daemon)
    from urllib.parse import quote

    status, _, raw = request(str(daemon.socket), "POST", f"/containers/create?name={quote(name)}",
                             {"Image": "busybox", "Cmd": ["true"]})
    assert status == 400
    assert "Invalid container name" in json.loads(raw)["message"]
    assert _containers(daemon) == before


def test_not_found_is_404(daemon: Daemon) -> None:
    for method, path in [("GET", "/containers/nope/json"), ("POST", "/containers/nope/start"),
                         ("DELETE", "/containers/nope"), ("GET", "/images/nope:1/json")]:
        status, _, raw = request(str(daemon.socket), method, path)
        assert status == 404, (method, path)
        assert "No such" in json.loads(raw)["message"]


def test_non_tar_import_is_400_and_leaves_nothing(daemon: Daemon) -> None:
    def images() -> list[str]:
        return sorted(i["Id"] for i in json.loads(
            request(str(daemon.socket), "GET", "/images/json?all=1")[2]))

    # Earlier tests' removals are deleted on berthd's trash thread (content/ingest/rm-*):
    # compare once it is done, before and after.
    eventually(lambda: _trash_empty(daemon.data_root))
    before = images()
    blobs = sorted((daemon.data_root / "content").rglob("*"))
    status, _, raw = request(str(daemon.socket), "POST",
                             "/images/create?fromSrc=-&repo=junk&tag=1", b"this is not a tar" * 100)
    assert status == 400, raw
    assert images() == before
    eventually(lambda: _trash_empty(daemon.data_root))
    assert sorted((daemon.data_root / "content").rglob("*")) == blobs


def test_start_and_stop_twice_are_304(daemon: Daemon) -> None:
    status, _, raw = request(str(daemon.socket), "POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["sleep", "1000"]})
    cid = json.loads(raw)["Id"]
    try:
        assert request(str(daemon.socket), "POST", f"/containers/{cid}/start")[0] == 204
        assert request(str(daemon.socket), "POST", f"/containers/{cid}/start")[0] == 304
        assert request(str(daemon.socket), "POST", f"/containers/{cid}/stop?t=0")[0] == 204
        assert request(str(daemon.socket), "POST", f"/containers/{cid}/stop?t=0")[0] == 304
        status, _, raw = request(str(daemon.socket), "POST", f"/containers/{cid}/kill")
        assert status == 409
    finally:
        request(str(daemon.socket), "DELETE", f"/containers/{cid}?force=1")
