"""berth registry serve against the OCI distribution spec, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.registry.helpers import make_ca, make_htpasswd, start_berth_registry


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(url: str, name: str, data: bytes, **kw) -> requests.Response:
    return requests.post(f"{url}/v2/{name}/blobs/uploads/", params={"digest": _d(data)},
                         data=data, **kw)


def _manifest(config: bytes, layers: list[bytes], subject: dict | None = None,
              artifact: str = "") -> bytes:
    m: dict = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": _d(config), "size": len(config)},
               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                           "digest": _d(x), "size": len(x)} for x in layers]}
    if subject:
        m["subject"] = subject
    if artifact:
        m["artifactType"] = artifact
    return json.dumps(m).encode()


@pytest.fixture
def reg(scratch, servers):
    s = start_berth_registry(scratch)
    servers.append(s)
    return s


def test_base_and_errors(reg):
    r = requests.get(f"{reg.url}/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    r = requests.get(f"{reg.url}/v2/nothing/manifests/latest")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    r = requests.get(f"{reg.url}/v2/a/blobs/sha256:{'0' * 64}")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    r = requests.get(f"{reg.url}/v2/a/blobs/sha256:nothex")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_monolithic_and_range_and_delete(reg):
    data = os.urandom(10000)
    r = _push_blob(reg.url, "lib/a", data)
    assert r.status_code == 201
    assert r.headers["Docker-Content-Digest"] == _d(data)
    assert r.headers["Location"] == f"/v2/lib/a/blobs/{_d(data)}"
    r = requests.head(f"{reg.url}/v2/lib/a/blobs/{_d(data)}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == 10000
    r = requests.get(f"{reg.url}/v2/lib/a/blobs/{_d(data)}", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Content-Range"] == "bytes 100-199/10000"
    assert requests.get(f"{reg.url}/v2/lib/a/blobs/{_d(data)}").content == data
    # A blob is linked per repository: another repository does not see it.
    assert requests.head(f"{reg.url}/v2/lib/b/blobs/{_d(data)}").status_code == 404
    # Wrong digest: refused and nothing stored.
    r = requests.post(f"{reg.url}/v2/lib/a/blobs/uploads/", params={"digest": _d(b"x")},
                      data=b"y")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert not (reg.root / "blobs/sha256" / _d(b"y")[7:]).exists()
    assert list((reg.root / "uploads").iterdir()) == []
    assert requests.delete(f"{reg.url}/v2/lib/a/blobs/{_d(data)}").status_code == 202
    assert requests.head(f"{reg.url}/v2/lib/a/blobs/{_d(data)}").status_code == 404


def test_chunked_resumable_cancel_and_mount(reg):
    data = os.urandom(3000)
    r = requests.post(f"{reg.url}/v2/c/blobs/uploads/")
    assert r.status_code == 202
    loc = reg.url + r.headers["Location"]
    r = requests.patch(loc, data=data[:1000], headers={"Content-Range": "0-999",
                                                       "Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["Range"] == "0-999"
    # Out-of-order chunk: 416, upload unchanged.
    r = requests.patch(loc, data=data[2000:], headers={"Content-Range": "2000-2999"})
    assert r.status_code == 416
    r = requests.get(loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-999"
    r = requests.patch(loc, data=data[1000:2000], headers={"Content-Range": "1000-1999"})
    assert r.headers["Range"] == "0-1999"
    r = requests.put(loc, params={"digest": _d(data)}, data=data[2000:])
    assert r.status_code == 201
    assert requests.get(f"{reg.url}/v2/c/blobs/{_d(data)}").content == data
    # Cancel.
    loc2 = reg.url + requests.post(f"{reg.url}/v2/c/blobs/uploads/").headers["Location"]
    assert requests.delete(loc2).status_code == 204
    r = requests.get(loc2)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    # Cross-repository mount: 201 when the source has it, 202 (a new upload) when not.
    r = requests.post(f"{reg.url}/v2/d/blobs/uploads/", params={"mount": _d(data), "from": "c"})
    assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == _d(data)
    r = requests.post(f"{reg.url}/v2/e/blobs/uploads/",
                      params={"mount": _d(data), "from": "nothere"})
    assert r.status_code == 202


def test_manifests_tags_catalog_referrers(reg):
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(100)
    manifest = _manifest(config, [layer])
    ct = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    r = requests.put(f"{reg.url}/v2/m/manifests/v1", data=manifest, headers=ct)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    _push_blob(reg.url, "m", config)
    _push_blob(reg.url, "m", layer)
    for tag in ("v1", "v2", "v3"):
        r = requests.put(f"{reg.url}/v2/m/manifests/{tag}", data=manifest, headers=ct)
        assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == _d(manifest)
    r = requests.get(f"{reg.url}/v2/m/manifests/v1")
    assert r.content == manifest
    assert r.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    r = requests.head(f"{reg.url}/v2/m/manifests/{_d(manifest)}")
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == _d(manifest)
    r = requests.put(f"{reg.url}/v2/m/manifests/sha256:{'1' * 64}", data=manifest, headers=ct)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    r = requests.put(f"{reg.url}/v2/m/manifests/x", data=b"not json", headers=ct)
    assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    r = requests.get(f"{reg.url}/v2/m/tags/list", params={"n": 2})
    assert r.json() == {"name": "m", "tags": ["v1", "v2"]}
    assert r.headers["Link"] == '</v2/m/tags/list?n=2&last=v2>; rel="next"'
    r = requests.get(f"{reg.url}/v2/m/tags/list", params={"n": 2, "last": "v2"})
    assert r.json()["tags"] == ["v3"] and "Link" not in r.headers
    _push_blob(reg.url, "other/repo", config)
    assert requests.get(f"{reg.url}/v2/_catalog").json() == {"repositories": ["m"]}
    # Referrers: an artifact whose subject is the manifest.
    empty = b"{}"
    _push_blob(reg.url, "m", empty)
    sig = _manifest(empty, [], subject={"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                        "digest": _d(manifest), "size": len(manifest)},
                    artifact="application/vnd.example.sig")
    r = requests.put(f"{reg.url}/v2/m/manifests/{_d(sig)}", data=sig, headers=ct)
    assert r.status_code == 201 and r.headers["OCI-Subject"] == _d(manifest)
    r = requests.get(f"{reg.url}/v2/m/referrers/{_d(manifest)}")
    assert r.status_code == 200
    assert [d["digest"] for d in r.json()["manifests"]] == [_d(sig)]
    assert r.json()["manifests"][0]["artifactType"] == "application/vnd.example.sig"
    r = requests.get(f"{reg.url}/v2/m/referrers/{_d(manifest)}",
                     params={"artifactType": "other/type"})
    assert r.json()["manifests"] == [] and r.headers["OCI-Filters-Applied"] == "artifactType"
    # Delete by digest takes its tags along.
    assert requests.delete(f"{reg.url}/v2/m/manifests/{_d(manifest)}").status_code == 202
    assert requests.get(f"{reg.url}/v2/m/manifests/v1").status_code == 404
    assert requests.get(f"{reg.url}/v2/m/tags/list").json()["tags"] == []


def test_garbage_collect_keeps_referenced(reg, scratch):
    config, keep, drop = b'{"os":"linux"}', os.urandom(50), os.urandom(60)
    for b in (config, keep, drop):
        _push_blob(reg.url, "g", b)
    manifest = _manifest(config, [keep])
    requests.put(f"{reg.url}/v2/g/manifests/v1", data=manifest,
                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    reg.stop()
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "registry", "garbage-collect",
                          "--root", str(reg.root)], capture_output=True, text=True, check=True)
    assert f"deleted {_d(drop)}" in out.stdout
    blobs = {p.name for p in (reg.root / "blobs/sha256").iterdir()}
    assert blobs == {_d(x)[7:] for x in (config, keep, manifest)}


def test_kill_9_mid_upload_keeps_store_consistent(scratch, servers):
    s = start_berth_registry(scratch)
    servers.append(s)
    data = os.urandom(4000)
    loc = requests.post(f"{s.url}/v2/k/blobs/uploads/").headers["Location"]
    requests.patch(s.url + loc, data=data[:2000], headers={"Content-Range": "0-1999"})
    s.stop(signal.SIGKILL)
    s2 = start_berth_registry(scratch, port=s.port, root=s.root)
    servers.append(s2)
    # The upload resumes where the durable part ended; no blob appeared half-written.
    r = requests.get(s2.url + loc)
    assert r.status_code == 204 and r.headers["Range"] == "0-1999"
    assert list((s.root / "blobs/sha256").iterdir()) == []
    requests.patch(s2.url + loc, data=data[2000:], headers={"Content-Range": "2000-3999"})
    assert requests.put(s2.url + loc, params={"digest": _d(data)}).status_code == 201
    assert requests.get(f"{s2.url}/v2/k/blobs/{_d(data)}").content == data


def test_auth_tls_read_only_and_config_file(scratch, servers):
    ca = make_ca(scratch)
    htp = make_htpasswd(scratch / "htpasswd", "alice", "s3cret")
    port_cfg = scratch / "registry.toml"
    port_cfg.write_text(f'htpasswd = "{htp}"\ntls_cert = "{ca.server_cert}"\n'
                        f'tls_key = "{ca.server_key}"\n')
    s = start_berth_registry(scratch, "--config", str(port_cfg), "--tls-cert", str(ca.server_cert),
                             "--tls-key", str(ca.server_key))
    servers.append(s)
    r = requests.get(f"{s.url}/v2/", verify=str(ca.ca_cert))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert requests.get(f"{s.url}/v2/", verify=str(ca.ca_cert),
                        auth=("alice", "wrong")).status_code == 401
    assert requests.get(f"{s.url}/v2/", verify=str(ca.ca_cert),
                        auth=("alice", "s3cret")).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{s.url}/v2/")  # not trusted without the test CA
    s.stop()
    ro = start_berth_registry(scratch, "--read-only", root=s.root)
    servers.append(ro)
    r = _push_blob(ro.url, "x", b"data")
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert requests.get(f"{ro.url}/v2/_catalog").status_code == 200
