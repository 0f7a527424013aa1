"""Volumes and mounts driven by the real docker CLI (and the SDK for the API shapes)."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import Daemon, retire_berthd, start_berthd, stop_berthd
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_named_volume_round_trip_and_in_use(daemon: Daemon) -> None:
    vol, a = _name(), _name()
    try:
        ok(daemon.docker("run", "--name", a, "-v", f"{vol}:/data", "busybox", "sh", "-c",
                         "echo persisted > /data/f"))
        out = ok(daemon.docker("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat", "/data/f"))
        assert out == "persisted\n"
        info = json.loads(ok(daemon.docker("volume", "inspect", vol)))[0]
        assert info["Mountpoint"] == str(daemon.data_root / "volumes" / vol / "_data")
        assert (Path(info["Mountpoint"]) / "f").read_text() == "persisted\n"
        r = daemon.docker("volume", "rm", vol)
        assert r.returncode != 0 and b"volume is in use" in r.stderr
        mounts = json.loads(ok(daemon.docker("inspect", a)))[0]["Mounts"]
        assert mounts[0]["Type"] == "volume" and mounts[0]["Name"] == vol
        ok(daemon.docker("rm", a))
        ok(daemon.docker("volume", "rm", vol))
        assert daemon.docker("volume", "inspect", vol).returncode != 0
    finally:
        daemon.docker("rm", "-f", a)
        daemon.docker("volume", "rm", "-f", vol)


def test_anonymous_volume_copy_up_and_rm_v(daemon: Daemon) -> None:
    a = _name()
    try:
        # /etc of busybox has files: an anonymous volume there starts as a copy of them.
        out = ok(daemon.docker("run", "--name", a, "-v", "/etc", "busybox", "cat", "/etc/group"))
        assert "root:" in out
        mounts = json.loads(ok(daemon.docker("inspect", a)))[0]["Mounts"]
        anon = [m["Name"] for m in mounts if m["Destination"] == "/etc"]
        assert len(anon) == 1 and len(anon[0]) == 64
        vols = ok(daemon.docker("volume", "ls", "-q")).split()
        assert anon[0] in vols
        ok(daemon.docker("rm", "-v", a))
        assert anon[0] not in ok(daemon.docker("volume", "ls", "-q")).split()
    finally:
        daemon.docker("rm", "-f", "-v", a)


def test_binds_mount_tmpfs_readonly_volumes_from(daemon: Daemon, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello").write_text("from host\n")
    missing = tmp_path / "created-by-v"
    a, b = _name(), _name()
    try:
        out = ok(daemon.docker("run", "--rm", "-v", f"{src}:/h:ro", "-v", f"{missing}:/m",
                               "--mount", f"type=bind,source={src},target=/b,readonly",
                               "--tmpfs", "/scratch", "--read-only", "busybox", "sh", "-c",
                               "cat /h/hello; touch /h/x 2>/dev/null || echo ro-ok; "
                               "touch /b/x 2>/dev/null || echo ro2-ok; touch /scratch/x && echo tmpfs-ok; "
                               "touch /rootfile 2>/dev/null || echo rootfs-ro; touch /m/y && echo m-ok"))
        assert out.split() == ["from", "host", "ro-ok", "ro2-ok", "tmpfs-ok", "rootfs-ro", "m-ok"]
        assert missing.is_dir() and (missing / "y").exists()
        r = daemon.docker("run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/x",
                          "busybox", "true")
        assert r.returncode == 125 and b"bind source path does not exist" in r.stderr
        assert not (tmp_path / "nope").exists()
        ok(daemon.docker("create", "--name", a, "-v", "/shared", "--mount", "type=volume,target=/v2",
                         "busybox", "true"))
        out = ok(daemon.docker("run", "--name", b, "--volumes-from", a, "busybox", "sh", "-c",
                               "echo x > /shared/f && echo x > /v2/f && echo ok"))
        assert out == "ok\n"
    finally:
        daemon.docker("rm", "-f", "-v", b, a)


def test_volume_api_shapes_and_prune(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    name = _name()
    try:
        v = client.volumes.create(name=name, labels={"k": "v"})
        assert v.attrs["Driver"] == "local" and v.attrs["Labels"] == {"k": "v"}
        assert v.attrs["Scope"] == "local" and v.attrs["CreatedAt"].endswith("Z")
        assert name in [x.name for x in client.volumes.list(filters={"label": "k=v"})]
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(name + "-none")
        with pytest.raises(docker.errors.APIError) as err:
            client.volumes.create(name="/bad")
        assert err.value.status_code == 400
        # Prune keeps named volumes unless all=true (API >= 1.42).
        client.volumes.prune()
        assert client.volumes.get(name)
        out = client.api.prune_volumes(filters={"all": "true", "label": "k=v"})
        assert name in out["VolumesDeleted"]
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(name).remove(force=True)
        client.close()


def test_volume_and_network_survive_berthd_restart() -> None:
    base = Path(tempfile.mkdtemp(prefix="berth-vol-"))
    d = start_berthd(base, "first")
    vol = _name()
    try:
        from berth.baseimages import ensure_base_images

        ensure_base_images(d.host)
        ok(d.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f"))
        stop_berthd(d)
        d = start_berthd(base, "second")
        assert ok(d.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f")) == "kept\n"
        assert vol in ok(d.docker("volume", "ls", "-q")).split()
        ok(d.docker("volume", "rm", vol))
    finally:
        leftovers = retire_berthd(d, base)
        shutil.rmtree(base, ignore_errors=True)
    assert not leftovers


def test_network_and_volume_events(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host)
    name = _name()
    try:
        since = time.time() - 1
        client.networks.create(name).remove()
        client.volumes.create(name).remove()
        until = time.time() + 1
        seen = [(e["Type"], e["Action"]) for e in client.events(since=since, until=until, decode=True)
                if e.get("Actor", {}).get("Attributes", {}).get("name") == name or
                e.get("Actor", {}).get("ID") == name]
        assert ("network", "create") in seen and ("network", "destroy") in seen
        assert ("volume", "create") in seen and ("volume", "destroy") in seen
    finally:
        client.close()


def test_a_create_that_fails_after_its_volumes_leaves_none(daemon: Daemon) -> None:
    """The anonymous volume is made before the network allocation refuses a --ip on the
    default bridge: the failed create removes it again (moby's create cleans up so)."""
    before = set(ok(daemon.docker("volume", "ls", "-q")).split())
    r = daemon.docker("create", "-v", "/data", "--ip", "172.31.250.9", "busybox", "true")
    assert r.returncode != 0 and b"user defined networks only" in r.stderr, r.stderr
    assert set(ok(daemon.docker("volume", "ls", "-q")).split()) <= before


def test_a_bind_mode_docker_refuses_creates_no_volume(daemon: Daemon) -> None:
    """The mode of ``-v name:/dst:mode`` is checked before any volume is made, as moby parses
    it: a refused create leaves no named volume behind."""
    name = f"badmode-{uuid.uuid4().hex[:8]}"
    try:
        r = daemon.docker("create", "-v", f"{name}:/data:rw,bogus", "busybox", "true")
        assert r.returncode == 1 and b"invalid mode: bogus" in r.stderr, r.stderr
        assert name not in ok(daemon.docker("volume", "ls", "-q")).split()
    finally:
        daemon.docker("volume", "rm", name)


def test_a_volume_refused_after_an_anonymous_one_leaves_none(daemon: Daemon) -> None:
    """The anonymous volume of the first --mount is made before the second's invalid name is
    refused: the refused create changes nothing (it was collected only at berthd's next start)."""
    before = set(ok(daemon.docker("volume", "ls", "-q")).split())
    r = daemon.docker("create", "--mount", "type=volume,dst=/anon", "--mount",
                      "type=volume,src=bad$x,dst=/v", "busybox", "true")
    assert r.returncode == 1 and b'"bad$x" includes invalid characters' in r.stderr, r.stderr
    assert set(ok(daemon.docker("volume", "ls", "-q")).split()) == before


@pytest.mark.parametrize(("flags", "message"), [
    (["-v", "/x:relative"], "invalid volume specification: '/x:relative': invalid mount config for "
                            "type \"bind\": invalid mount path: 'relative' mount path must be absolute"),
    (["-v", "vol:relative"], "invalid volume specification: 'vol:relative': invalid mount config for "
                             "type \"volume\": invalid mount path: 'relative' mount path must be absolute"),
    (["-v", "/x:/"], "invalid volume specification: '/x:/': invalid mount config for type \"bind\": "
                     "invalid specification: destination can't be '/'"),
    (["--tmpfs", "relative"], "invalid mount path: 'relative' mount path must be absolute"),
    (["--tmpfs", "/"], "invalid specification: destination can't be '/'"),
    (["-v", "/x:/y/", "-v", "/z:/y"], "Duplicate mount point: /y"),
    (["-v", "/x:/y", "--tmpfs", "/y"], "Duplicate mount point: /y"),
    (["-v", "/x:/y", "--mount", "type=bind,src=/z,dst=/y"], "Duplicate mount point: /y"),
    (["--restart", "always:3"], "maximum retry count cannot be used with restart policy 'always'"),
    (["--restart", "unless-stopped:1"],
     "maximum retry count cannot be used with restart policy 'unless-stopped'"),
    (["--restart", "no:2"], "maximum retry count cannot be used with restart policy 'no'"),
    (["--restart", "on-failure:-1"], "maximum retry count cannot be negative"),
])
def test_create_refuses_what_dockerd_refuses_at_create(daemon: Daemon, flags: list[str],
                                                       message: str) -> None:
    """Mount destinations and restart counts dockerd 20.10.24 refuses at create (each message
    checked against it) were accepted and refused only at start, or never: the create fails
    with dockerd's message (400) and leaves no container and no volume."""
    before_ctrs = set(ok(daemon.docker("ps", "-aq")).split())
    before_vols = set(ok(daemon.docker("volume", "ls", "-q")).split())
    r = daemon.docker("create", *flags, "busybox", "true")
    assert r.returncode == 1 and message.encode() in r.stderr, r.stderr
    assert set(ok(daemon.docker("ps", "-aq")).split()) == before_ctrs
    assert set(ok(daemon.docker("volume", "ls", "-q")).split()) == before_vols


def test_a_retry_count_without_on_failure_is_a_400(daemon: Daemon) -> None:
    api = docker.APIClient(base_url=daemon.host)
    try:
        with pytest.raises(docker.errors.APIError) as err:
            api.create_container("busybox", "true", host_config=api.create_host_config(
                restart_policy={"Name": "always", "MaximumRetryCount": 3}))
        assert err.value.status_code == 400
    finally:
        api.close()
