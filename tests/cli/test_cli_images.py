"""import / images / tag / rmi, and version / info, against a live daemon."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from berth.testing.rootfs import busybox_rootfs_tar

pytestmark = pytest.mark.root


@pytest.fixture
def repo(daemon):
    name = f"berth-test-img-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        for tag in ("v1", "v2", "latest"):
            daemon.berth("rmi", "-f", f"{name}:{tag}")


def test_import_from_stdin_and_file(daemon, repo, tmp_path):
    tar = busybox_rootfs_tar()
    r = daemon.berth("import", "-m", "from test", "-c", 'CMD ["echo", "imported"]', "-",
                     f"{repo}:v1", input=tar, timeout=120)
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.decode().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    info = json.loads(daemon.berth("inspect", f"{repo}:v1").stdout)[0]
    assert info["Id"] == image_id and info["Comment"] == "from test"
    assert info["Config"]["Cmd"] == ["echo", "imported"]
    run = daemon.berth("run", "--rm", f"{repo}:v1")
    assert (run.returncode, run.stdout) == (0, b"imported\n")

    path = tmp_path / "rootfs.tar"
    path.write_bytes(tar)
    r = daemon.berth("import", str(path), f"{repo}:v2", timeout=120)
    assert r.returncode == 0, r.stderr

    r = daemon.berth("import", str(tmp_path / "missing.tar"), f"{repo}:v3")
    assert r.returncode == 1 and b"no such file" in r.stderr


def test_images_listing_tag_and_rmi(daemon, repo):
    r = daemon.berth("import", "-", f"{repo}:v1", input=busybox_rootfs_tar(), timeout=120)
    assert r.returncode == 0, r.stderr
    full = r.stdout.decode().strip()
    short = full.removeprefix("sha256:")[:12]

    assert daemon.berth("tag", f"{repo}:v1", f"{repo}:v2").returncode == 0
    out = daemon.berth("images", repo).stdout.decode().splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = sorted(line.split()[:3] for line in out[1:])
    assert rows == [[repo, "v1", short], [repo, "v2", short]]
    assert re.search(r"\s(Less than a second|\d+ seconds?) ago\s+\d[\d.]*[kM]B$", out[1])
    assert daemon.berth("images", "-q", repo).stdout.decode().split() == [short, short]
    assert daemon.berth("images", "-q", "--no-trunc", repo).stdout.decode().split() == [full] * 2
    fmt = daemon.berth("images", "--format", "{{.Repository}}:{{.Tag}}", repo).stdout.split()
    assert sorted(fmt) == [f"{repo}:v1".encode(), f"{repo}:v2".encode()]
    digests = daemon.berth("images", "--digests", repo).stdout.decode().splitlines()
    assert digests[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]

    r = daemon.berth("tag", f"{repo}:v1", "Bad Name")
    assert r.returncode == 1 and b"invalid reference format" in r.stderr
    r = daemon.berth("tag", "no-such-image-xyz", f"{repo}:v9")
    assert r.returncode == 1 and b"Error response from daemon: " in r.stderr

    r = daemon.berth("rmi", f"{repo}:v2")
    assert (r.returncode, r.stdout) == (0, f"Untagged: {repo}:v2\n".encode())
    r = daemon.berth("rmi", f"{repo}:v1")
    assert r.returncode == 0
    assert f"Untagged: {repo}:v1\n".encode() in r.stdout and f"Deleted: {full}".encode() in r.stdout
    r = daemon.berth("rmi", f"{repo}:v1")
    assert r.returncode == 1 and b"No such image" in r.stderr


def test_rmi_of_image_in_use_conflicts(daemon, repo, names):
    assert daemon.berth("import", "-", f"{repo}:v1", input=busybox_rootfs_tar(),
                        timeout=120).returncode == 0
    name = names.new("user")
    assert daemon.berth("create", "--name", name, f"{repo}:v1", "true").returncode == 0
    r = daemon.berth("rmi", f"{repo}:v1")
    # Docker untags when other tags remain; with one tag and a container it refuses (409).
    assert r.returncode == 1 and b"Error response from daemon: " in r.stderr


def test_version_and_info(daemon):
    r = daemon.berth("version")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert text.startswith("Client:\n Version:") and "\nServer:" in text
    assert re.search(r"API version:\s+1\.\d+ \(minimum version 1\.\d+\)", text)
    fmt = daemon.berth("version", "--format", "{{.Server.ApiVersion}}").stdout.decode().strip()
    assert re.fullmatch(r"1\.\d+", fmt)
    info = daemon.berth("info")
    assert info.returncode == 0
    assert re.search(r"^ Containers: \d+$", info.stdout.decode(), re.M)
    assert b" Logging Driver: json-file" in info.stdout
    assert daemon.berth("info", "--format", "{{.OSType}}").stdout == b"linux\n"


def test_unreachable_daemon_message(tmp_path):
    import subprocess
    import sys

    sock = tmp_path / "none.sock"
    r = subprocess.run([sys.executable, "-m", "berth.cli.main", "-H", f"unix://{sock}", "ps"],
                       capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1
    assert f"Cannot connect to the berth daemon at unix://{sock}".encode() in r.stderr
    r = subprocess.run([sys.executable, "-m", "berth.cli.main", "-H", f"unix://{sock}", "run",
                        "busybox"], capture_output=True, timeout=30, env={"PATH": "/usr/bin"})
    assert r.returncode == 125
