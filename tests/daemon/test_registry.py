"""berthd as a registry client: the real docker CLI, the docker SDK and berth's CLI pull from
and push to ``berth registry serve`` and Distribution's registry on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import docker
import requests

from berth.testing.cgroups import session_cgroup_name
from tests.daemon.apihttp import request
from tests.registry.helpers import (
    Server,
    free_port,
    make_ca,
    make_htpasswd,
    push_test_image,
    start_berth_registry,
    start_distribution,
)


def _out(p: subprocess.CompletedProcess[bytes]) -> str:
    return p.stdout.decode() + p.stderr.decode()


def _images(daemon) -> list[dict]:
    _, _, body = request(str(daemon.socket), "GET", "/images/json")
    return json.loads(body)


def _blob_count(daemon) -> int:
    return len(list((daemon.data_root / "content" / "blobs" / "sha256").iterdir()))


def _seed_flow(daemon, server: Server, cleanup: list[str]) -> None:
    name = f"{server.host}/seed/busybox:1.0"
    cleanup.append(name)
    assert daemon.docker("tag", "busybox", name).returncode == 0
    p = daemon.docker("push", name)
    assert p.returncode == 0, _out(p)
    text = _out(p)
    assert f"The push refers to repository [{server.host}/seed/busybox]" in text
    assert "Pushed" in text or "Layer already exists" in text
    assert "1.0: digest: sha256:" in text
    p = daemon.docker("rmi", name)
    assert p.returncode == 0, _out(p)
    p = daemon.docker("pull", name)
    assert p.returncode == 0, _out(p)
    assert "Status: Downloaded newer image for " + name in _out(p)
    p = daemon.docker("run", "--rm", name, "echo", "seed flow ok")
    assert p.returncode == 0 and p.stdout == b"seed flow ok\n", _out(p)
    # A fresh image (layer not yet local) downloads and extracts with progress lines.
    digest, _ = push_test_image(server.url, "fresh/app", "v1", message=f"fresh {server.port}")
    fresh = f"{server.host}/fresh/app:v1"
    cleanup.append(fresh)
    p = daemon.docker("pull", fresh)
    assert p.returncode == 0, _out(p)
    for line in ("v1: Pulling from fresh/app", "Pulling fs layer", "Download complete",
                 "Pull complete", f"Digest: {digest}"):
        assert line in _out(p)
    p = daemon.docker("run", "--rm", fresh)
    assert p.stdout == f"fresh {server.port}\n".encode(), _out(p)
    p = daemon.docker("images", "--digests", "--format", "{{.Repository}} {{.Digest}}")
    assert f"{server.host}/fresh/app {digest}" in p.stdout.decode()


def test_docker_cli_with_berth_registry(daemon, scratch, servers, cleanup_images):
    s = start_berth_registry(scratch)
    servers.append(s)
    _seed_flow(daemon, s, cleanup_images)
    # A second repository on the same registry gets the layer by cross-repository mount.
    other = f"{s.host}/other/busybox:1.0"
    cleanup_images.append(other)
    daemon.docker("tag", "busybox", other)
    p = daemon.docker("push", other)
    assert p.returncode == 0 and "Mounted from seed/busybox" in _out(p), _out(p)
    p = daemon.docker("push", other)
    assert "Layer already exists" in _out(p)


def test_docker_cli_with_distribution_registry(daemon, scratch, servers, cleanup_images):
    s = start_distribution(scratch)
    servers.append(s)
    _seed_flow(daemon, s, cleanup_images)


def test_login_required(daemon, scratch, servers, cleanup_images):
    htp = make_htpasswd(scratch / "htpasswd", "carol", "letmein")
    s = start_berth_registry(scratch, "--htpasswd", str(htp))
    servers.append(s)
    name = f"{s.host}/private/busybox:1"
    cleanup_images.append(name)
    daemon.docker("tag", "busybox", name)
    env = {**daemon.env, "DOCKER_CONFIG": str(scratch / "docker-config")}

    def docker(*args: str) -> subprocess.CompletedProcess[bytes]:
        # stdin closed: the docker CLI would prompt for a login if berthd answered 401.
        return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    p = docker("push", name)
    assert p.returncode != 0 and "no basic auth credentials" in _out(p), _out(p)
    p = docker("pull", name)
    assert p.returncode != 0 and "no basic auth credentials" in _out(p), _out(p)
    status, _, body = request(str(daemon.socket), "POST", "/auth", json.dumps(
        {"username": "carol", "password": "wrong", "serveraddress": s.host}).encode(),
        {"Content-Type": "application/json"})
    assert status == 401 and "401 Unauthorized" in json.loads(body)["message"]
    p = docker("login", "-u", "carol", "-p", "wrong", s.host)
    assert p.returncode != 0 and "401" in _out(p)
    p = subprocess.run(["docker", "login", "-u", "carol", "--password-stdin", s.host],
                       env=env, input=b"letmein\n", capture_output=True, timeout=60)
    assert p.returncode == 0 and "Login Succeeded" in _out(p), _out(p)
    p = docker("push", name)
    assert p.returncode == 0, _out(p)
    daemon.docker("rmi", name)
    p = docker("pull", name)
    assert p.returncode == 0, _out(p)
    # berth's own CLI: login stores docker-compatible credentials, then push/pull use them.
    cfg_dir = scratch / "berth-config"
    benv = {**daemon.env, "DOCKER_CONFIG": str(cfg_dir)}

    def berth(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], env=benv,
                              input=input, capture_output=True, timeout=60)

    p = berth("pull", name)
    assert p.returncode != 0 and "no basic auth credentials" in _out(p)
    p = berth("login", "-u", "carol", "--password-stdin", s.host, input=b"letmein\n")
    assert p.returncode == 0 and "Login Succeeded" in _out(p), _out(p)
    auths = json.loads((cfg_dir / "config.json").read_text())["auths"]
    assert base64.b64decode(auths[s.host]["auth"]) == b"carol:letmein"
    p = berth("push", name)
    assert p.returncode == 0 and "1: digest: sha256:" in _out(p), _out(p)
    p = berth("pull", name)
    assert p.returncode == 0 and "Image is up to date" in _out(p), _out(p)
    assert b"Removing login credentials" in berth("logout", s.host).stdout
    assert s.host not in json.loads((cfg_dir / "config.json").read_text())["auths"]


def test_docker_sdk_pull_push_and_platform(daemon, scratch, servers, cleanup_images):
    s = start_berth_registry(scratch)
    servers.append(s)
    amd, amd_body = push_test_image(s.url, "multi/app", "amd64", "amd64", "on amd64")
    arm, arm_body = push_test_image(s.url, "multi/app", "arm64", "arm64", "on arm64")
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
                            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                             "digest": arm, "size": len(arm_body),
                             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                             "digest": amd, "size": len(amd_body),
                             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    r = requests.put(f"{s.url}/v2/multi/app/manifests/latest", data=index,
                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert r.status_code == 201
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    name = f"{s.host}/multi/app"
    cleanup_images.extend([f"{name}:latest", f"{name}:arm", f"{s.host}/sdk/pushed:v1"])
    client = docker.DockerClient(base_url=daemon.host)
    try:
        image = client.images.pull(name, tag="latest")
        assert image.attrs["Architecture"] == "amd64"
        assert f"{name}@{index_digest}" in image.attrs["RepoDigests"]
        p = daemon.docker("run", "--rm", f"{name}:latest")
        assert p.stdout == b"on amd64\n", _out(p)
        p = daemon.docker("pull", "--platform", "linux/arm64", f"{name}@{index_digest}")
        assert p.returncode == 0, _out(p)
        arm_image = client.images.get(f"{name}@{index_digest}")
        assert arm_image.attrs["Architecture"] == "arm64"
        image.tag(f"{s.host}/sdk/pushed", "v1")
        lines = list(client.images.push(f"{s.host}/sdk/pushed", tag="v1", stream=True,
                                        decode=True))
        aux = [x["aux"] for x in lines if "aux" in x]
        assert aux and aux[0]["Digest"] == amd and aux[0]["Tag"] == "v1"
    finally:
        client.close()


def test_failures_leave_no_partial_image(daemon, scratch, servers):
    s = start_berth_registry(scratch)
    servers.append(s)
    before_images, before_blobs = len(_images(daemon)), _blob_count(daemon)
    # Unknown repository / tag: 404 before streaming.
    p = daemon.docker("pull", f"{s.host}/nope/nothing:1")
    assert p.returncode != 0 and "not found" in _out(p)
    # Registry down.
    down = f"127.0.0.1:{free_port()}"
    p = daemon.docker("pull", f"{down}/x:1")
    assert p.returncode != 0 and "connection refused" in _out(p), _out(p)
    # A blob whose bytes do not match its digest: the pull fails, nothing is kept.
    _, manifest = push_test_image(s.url, "bad/app", "v1")
    layer = json.loads(manifest)["layers"][0]["digest"]
    blob = s.root / "blobs" / "sha256" / layer.removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    p = daemon.docker("pull", f"{s.host}/bad/app:v1")
    assert p.returncode != 0 and "verification failed" in _out(p), _out(p)
    assert len(_images(daemon)) == before_images
    assert _blob_count(daemon) == before_blobs
    assert list((daemon.data_root / "content" / "ingest").iterdir()) == []
    # A registry answering 500.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        p = daemon.docker("pull", f"127.0.0.1:{srv.server_address[1]}/x/y:1")
    finally:
        srv.shutdown()
        srv.server_close()
    assert p.returncode != 0 and "500" in _out(p), _out(p)
    assert len(_images(daemon)) == before_images


class _Failing(http.server.BaseHTTPRequestHandler):
    """A registry whose /v2/ answers but everything else fails with 500."""

    def do_GET(self) -> None:
        status = 200 if self.path == "/v2/" else 500
        body = b"{}" if status == 200 else b'{"errors":[{"code":"UNKNOWN","message":"boom"}]}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _start_private_berthd(base: Path, certs: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = base / "b.sock"
    log = base / "berthd.log"
    cmd = [sys.executable, "-m", "berth.daemon.main", "--host", f"unix://{sock}",
           "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
           "--pidfile", str(base / "pid"), "--cgroup-parent", session_cgroup_name("regtls"),
           "--registry-certs-dir", str(certs)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    from tests.conftest import _wait_for_socket

    _wait_for_socket(sock, proc, log)
    return proc, f"unix://{sock}"


def test_tls_with_certs_dir(scratch, servers):
    ca = make_ca(scratch)
    wrong = make_ca(scratch, "other-ca")
    s = start_berth_registry(scratch, "--tls-cert", str(ca.server_cert), "--tls-key",
                             str(ca.server_key))
    servers.append(s)
    digest, _ = push_test_image(s.url, "tls/app", "v1", message="over tls",
                                verify=str(ca.ca_cert))
    certs = scratch / "certs.d"
    (certs / s.host).mkdir(parents=True)
    shutil.copy(wrong.ca_cert, certs / s.host / "ca.crt")
    base = scratch / "berthd"
    base.mkdir()
    proc, host = _start_private_berthd(base, certs)
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_CONFIG": str(scratch / "dc")}
    try:
        p = subprocess.run(["docker", "pull", f"{s.host}/tls/app:v1"], env=env,
                           capture_output=True, timeout=60)
        assert p.returncode != 0 and "certificate" in _out(p), _out(p)
        shutil.copy(ca.ca_cert, certs / s.host / "ca.crt")
        p = subprocess.run(["docker", "pull", f"{s.host}/tls/app:v1"], env=env,
                           capture_output=True, timeout=60)
        assert p.returncode == 0 and f"Digest: {digest}" in _out(p), _out(p)
    finally:
        proc.terminate()
        proc.wait(20)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        left = cleanup_daemon_leftovers(base / "data", base / "exec", session_cgroup_name("regtls"))
        assert not left


class _BearerFront:
    """A token-auth registry front (like Docker Hub's): /token hands out scoped bearer tokens
    for basic credentials; /v2/ requests need a token for their repository's scope and are
    forwarded to a berth registry behind it."""

    def __init__(self, backend: str) -> None:
        import asyncio

        from aiohttp import ClientSession, web

        self.backend = backend
        self.scopes_seen: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.port = free_port()

        async def token(request: web.Request) -> web.StreamResponse:
            auth = request.headers.get("Authorization", "")
            if auth != "Basic " + base64.b64encode(b"dave:hunter2").decode():
                return web.json_response({"errors": [{"code": "UNAUTHORIZED",
                                                      "message": "bad credentials"}]}, status=401)
            scope = request.query.get("scope", "")
            self.scopes_seen.append(scope)
            return web.json_response({"token": "T " + scope})

        async def v2(request: web.Request) -> web.StreamResponse:
            tail = request.match_info["tail"]
            repo = tail.split("/manifests/")[0].split("/blobs/")[0]
            realm = f'Bearer realm="http://127.0.0.1:{self.port}/token",service="front"'
            auth = request.headers.get("Authorization", "")
            need = f"repository:{repo}:" if tail else ""
            if not auth.startswith("Bearer T ") or (need and need not in auth):
                challenge = realm + (f',scope="repository:{repo}:pull"' if tail else "")
                return web.json_response({"errors": [{"code": "UNAUTHORIZED",
                                                      "message": "authentication required"}]},
                                         status=401, headers={"WWW-Authenticate": challenge})
            async with ClientSession(auto_decompress=False) as s, s.request(
                    request.method, f"{self.backend}/v2/{tail}", params=request.query,
                    headers={k: v for k, v in request.headers.items()
                             if k.lower() in ("accept", "range", "content-type")},
                    data=await request.read()) as r:
                body = await r.read()
                keep = {k: v for k, v in r.headers.items()
                        if k.lower() in ("content-type", "docker-content-digest", "location")}
                return web.Response(status=r.status, body=body, headers=keep)

        app = web.Application()
        app.router.add_get("/token", token)
        app.router.add_route("*", "/v2/{tail:.*}", v2)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_bearer_token_auth(daemon, scratch, servers, cleanup_images):
    s = start_berth_registry(scratch)
    servers.append(s)
    digest, _ = push_test_image(s.url, "team/tok", "v1", message="via token")
    front = _BearerFront(s.url)
    name = f"127.0.0.1:{front.port}/team/tok:v1"
    cleanup_images.append(name)
    env = {**daemon.env, "DOCKER_CONFIG": str(scratch / "dc")}
    try:
        p = subprocess.run(["docker", "pull", name], env=env, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert p.returncode != 0 and "unauthorized" in _out(p).lower(), _out(p)
        p = subprocess.run(["docker", "login", "-u", "dave", "--password-stdin",
                            f"127.0.0.1:{front.port}"], env=env, input=b"hunter2\n",
                           capture_output=True, timeout=60)
        assert p.returncode == 0, _out(p)
        p = subprocess.run(["docker", "pull", name], env=env, capture_output=True, timeout=60)
        assert p.returncode == 0 and f"Digest: {digest}" in _out(p), _out(p)
        assert "repository:team/tok:pull" in front.scopes_seen
        p = subprocess.run(["docker", "run", "--rm", name], env=env, capture_output=True,
                           timeout=60)
        assert p.stdout == b"via token\n", _out(p)
    finally:
        front.close()
