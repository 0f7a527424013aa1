"""Images in depth through the real docker CLI and skopeo: commit/diff/history, whiteouts,
export/import across data roots, save/load (docker-archive and OCI), cp, prune, df."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.apihttp import request
from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def cleanup(daemon: Daemon) -> Iterator[list[str]]:
    """Names of containers and images a test created, removed even when it fails."""
    names: list[str] = []
    yield names
    for n in reversed(names):
        daemon.docker("rm", "-f", n)
        daemon.docker("rmi", "-f", n)


def test_commit_diff_history_and_changes(daemon: Daemon, cleanup: list[str]) -> None:
    c, img, idle = _name(), _name("img") + ":v1", _name()
    cleanup += [c, img, idle]
    # /etc holds the engine's mount points (hosts, hostname, resolv.conf), not a change (moby
    # keeps them in its init layer): a container that wrote nothing shows nothing.
    ok(daemon.docker("run", "--name", idle, "busybox", "true"))
    assert ok(daemon.docker("diff", idle)) == ""
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c",
                     "echo hi > /hello; rm /bin/ls; mkdir -p /etc/x; echo a > /etc/x/y"))
    diff = ok(daemon.docker("diff", c)).splitlines()
    assert diff == ["C /bin", "D /bin/ls", "C /etc", "A /etc/x", "A /etc/x/y", "A /hello"]
    image_id = ok(daemon.docker("commit", "-a", "Ann <a@x>", "-m", "first", "-c", "ENV A=b",
                                "-c", 'CMD ["cat", "/hello"]', "-c", "WORKDIR /etc",
                                "-c", "LABEL k=v", "-c", "EXPOSE 80", "-c", "USER root",
                                "-c", 'ENTRYPOINT ["/bin/sh", "-c", "exec \\"$@\\"", "x"]',
                                c, img)).strip()
    assert image_id.startswith("sha256:")
    info = json.loads(ok(daemon.docker("image", "inspect", img)))[0]
    base = json.loads(ok(daemon.docker("image", "inspect", "busybox")))[0]
    assert info["Author"] == "Ann <a@x>" and info["Comment"] == "first"
    assert info["Parent"] == base["Id"]
    assert info["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    assert len(info["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    cfg = info["Config"]
    assert "A=b" in cfg["Env"] and cfg["Cmd"] == ["cat", "/hello"]
    assert cfg["WorkingDir"] == "/etc" and cfg["Labels"] == {"k": "v"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["User"] == "root"
    assert info["Size"] > 0 and info["Id"] == image_id
    out = ok(daemon.docker("run", "--rm", img))
    assert out == "hi\n"
    r = daemon.docker("run", "--rm", img, "ls", "/bin/ls")
    assert r.returncode != 0
    assert ok(daemon.docker("run", "--rm", img, "sh", "-c", "echo $A; pwd")) == "b\n/etc\n"
    hist = ok(daemon.docker("history", "--no-trunc", "--format",
                            "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", img)).splitlines()
    assert hist[0].split("|")[0] == image_id
    assert hist[0].split("|")[2] == "first" and "echo hi > /hello" in hist[0]
    assert hist[1].split("|")[0] == base["Id"]
    # 409 while a container uses it, unless forced; the parent has a dependent child. By ID:
    # by name it would only be untagged if another test left a second tag on it.
    r = daemon.docker("rmi", base["Id"])
    assert r.returncode != 0
    assert b"conflict" in r.stderr


def test_whiteouts_and_opaque_directories_across_layers(daemon: Daemon,
                                                        cleanup: list[str]) -> None:
    c1, c2, c3 = _name(), _name(), _name()
    l1, l2 = _name("wh") + ":1", _name("wh") + ":2"
    cleanup += [c1, c2, c3, l1, l2]
    ok(daemon.docker("run", "--name", c1, "busybox", "sh", "-c",
                     "mkdir -p /d/sub && echo 1 > /d/a && echo 2 > /d/sub/b && echo k > /keep "
                     "&& echo g > /gone"))
    ok(daemon.docker("commit", c1, l1))
    ok(daemon.docker("run", "--name", c2, l1, "sh", "-c",
                     "rm -rf /d && mkdir /d && echo new > /d/n && rm /gone"))
    assert "D /gone" in ok(daemon.docker("diff", c2)).splitlines()
    ok(daemon.docker("commit", c2, l2))
    out = ok(daemon.docker("run", "--name", c3, l2, "sh", "-c",
                           "ls -A /d; cat /keep; ls /gone 2>&1 || true"))
    assert out.splitlines()[0] == "n"
    assert "k" in out.splitlines() and "No such file" in out
    # The layer tar carries the whiteout and the opaque marker, as OCI tools read them.
    with tempfile.TemporaryDirectory() as d:
        ok(daemon.docker("save", "-o", f"{d}/a.tar", l2))
        with tarfile.open(f"{d}/a.tar") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            top = tar.extractfile(manifest[0]["Layers"][-1])
            assert top is not None
            with tarfile.open(fileobj=io.BytesIO(top.read())) as layer:
                names = layer.getnames()
    assert ".wh.gone" in names
    assert "d/.wh..wh..opq" in names


def test_export_on_one_root_import_on_another(daemon: Daemon, cleanup: list[str],
                                              tmp: Path) -> None:
    c = _name()
    cleanup.append(c)
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c", "echo migrated > /data.txt"))
    ok(daemon.docker("export", "-o", str(tmp / "rootfs.tar"), c))
    with tarfile.open(tmp / "rootfs.tar") as tar:
        names = tar.getnames()
    assert "data.txt" in names and "bin/busybox" in names
    other = start_berthd(Path(tempfile.mkdtemp(prefix="berth-test-", dir=tmp)), "other")
    try:
        r = subprocess.run(["docker", "import", "-m", "moved", "-c", "CMD cat /data.txt", "-",
                            "moved:1"], input=(tmp / "rootfs.tar").read_bytes(),
                           env=other.env, capture_output=True, timeout=60)
        ok(r)
        r = subprocess.run(["docker", "run", "--rm", "moved:1"], env=other.env,
                           capture_output=True, timeout=60)
        assert ok(r) == "migrated\n"
        r = subprocess.run(["docker", "image", "inspect", "moved:1"], env=other.env,
                           capture_output=True, timeout=60)
        assert json.loads(ok(r))[0]["Comment"] == "moved"
    finally:
        stop_berthd(other)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        cleanup_daemon_leftovers(other.data_root, other.exec_root, other.cgroup_parent)


def test_import_from_url_on_loopback(daemon: Daemon, cleanup: list[str], tmp: Path) -> None:
    import http.server
    import threading

    img = _name("url") + ":1"
    cleanup.append(img)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("from-url")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"url"))
    (tmp / "r.tar").write_bytes(buf.getvalue())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(tmp), **k)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/r.tar"
        ok(daemon.docker("import", url, img))
        info = json.loads(ok(daemon.docker("image", "inspect", img)))[0]
        assert info["Comment"] == f"Imported from {url}"
        r = daemon.docker("import", f"http://127.0.0.1:{server.server_address[1]}/missing.tar")
        assert r.returncode != 0
    finally:
        server.shutdown()
        server.server_close()


def test_save_load_roundtrip_shared_layers_and_skopeo(daemon: Daemon, cleanup: list[str],
                                                      tmp: Path) -> None:
    c, a1, a2, b1 = _name(), _name("sv") + ":1", "", ""
    a2 = a1.replace(":1", ":2")
    b1 = _name("sv2") + ":x"
    cleanup += [c, a1, a2, b1, "skop/copy:7", "skop/back:8"]
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c", "echo saved > /s"))
    ok(daemon.docker("commit", c, a1))
    ok(daemon.docker("tag", a1, a2))
    ok(daemon.docker("tag", "busybox", b1))
    archive = tmp / "all.tar"
    ok(daemon.docker("save", "-o", str(archive), a1, a2, b1))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert len(names) == len(set(names))
    tags = sorted(t for m in manifest for t in (m["RepoTags"] or []))
    assert tags == sorted([a1, a2, b1])
    # busybox's layer is used by both images and stored once.
    all_layers = [layer for m in manifest for layer in m["Layers"]]
    assert len(set(all_layers)) == 2 and len(all_layers) == 3
    assert len(index["manifests"]) == 3
    again = tmp / "again.tar"
    ok(daemon.docker("save", "-o", str(again), a1, a2, b1))
    assert again.read_bytes() == archive.read_bytes()  # deterministic
    ids = ok(daemon.docker("image", "inspect", "-f", "{{.Id}}", a1)).strip()
    ok(daemon.docker("rm", c))
    ok(daemon.docker("rmi", a1, a2, b1))
    out = ok(daemon.docker("load", "-i", str(archive)))
    assert sorted(out.splitlines()) == sorted(f"Loaded image: {t}" for t in [a1, a2, b1])
    assert ok(daemon.docker("image", "inspect", "-f", "{{.Id}}", a1)).strip() == ids
    assert ok(daemon.docker("run", "--rm", a2, "cat", "/s")) == "saved\n"
    # skopeo reads both faces of berth's archive and writes archives berth loads.
    oci = tmp / "oci.tar"
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is required (apt-get install skopeo)"
    subprocess.run([skopeo, "copy", "-q", f"docker-archive:{archive}:{a1}",
                    f"oci-archive:{oci}:skop/copy:7"], check=True, capture_output=True)
    assert ok(daemon.docker("load", "-i", str(oci))) == "Loaded image: skop/copy:7\n"
    assert ok(daemon.docker("run", "--rm", "skop/copy:7", "cat", "/s")) == "saved\n"
    back = tmp / "back.tar"
    subprocess.run([skopeo, "copy", "-q", f"oci-archive:{archive}:2",
                    f"docker-archive:{back}:skop/back:8"], check=True, capture_output=True)
    with open(back, "rb") as f:
        out = ok(daemon.docker("load", input=f.read()))
    assert out == "Loaded image: skop/back:8\n"
    assert ok(daemon.docker("image", "inspect", "-f", "{{.Id}}", "skop/back:8")).strip() == ids


def _stat_header(daemon: Daemon, container: str, path: str) -> tuple[int, dict[str, object]]:
    status, headers, _ = request(str(daemon.socket), "HEAD",
                                 f"/containers/{container}/archive?path={path}")
    raw = headers.get("x-docker-container-path-stat", "")
    return status, json.loads(base64.b64decode(raw)) if raw else {}


def test_cp_both_ways_running_and_stopped(daemon: Daemon, cleanup: list[str],
                                          tmp: Path) -> None:
    running, stopped = _name(), _name()
    cleanup += [running, stopped]
    ok(daemon.docker("run", "-d", "--name", running, "busybox", "sleep", "300"))
    ok(daemon.docker("create", "--name", stopped, "busybox", "cat", "/etc/in.txt"))
    (tmp / "in.txt").write_text("copied in\n")
    for c in (running, stopped):
        ok(daemon.docker("cp", str(tmp / "in.txt"), f"{c}:/etc/"))
        status, st = _stat_header(daemon, c, "/etc/in.txt")
        assert status == 200 and st["name"] == "in.txt" and st["size"] == 10
        assert st["mode"] == 0o644
        status, st = _stat_header(daemon, c, "/etc")
        assert st["mode"] & (1 << 31)  # Go's ModeDir
        status, st = _stat_header(daemon, c, "/bin/sh")
        assert st["mode"] & (1 << 27) and st["linkTarget"] == "/bin/busybox"
        assert _stat_header(daemon, c, "/nope")[0] == 404
        out = tmp / f"out-{c}"
        ok(daemon.docker("cp", f"{c}:/etc/in.txt", str(out)))
        assert out.read_text() == "copied in\n"
        r = daemon.docker("cp", f"{c}:/etc/nothing", str(tmp))
        assert r.returncode != 0 and b"Could not find the file" in r.stderr
    assert ok(daemon.docker("exec", running, "cat", "/etc/in.txt")) == "copied in\n"
    assert ok(daemon.docker("start", "-a", stopped)) == "copied in\n"
    # A directory out of a stopped container, as a tar on stdout.
    r = daemon.docker("cp", f"{stopped}:/etc", "-")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        assert "etc/in.txt" in tar.getnames()


def _tar(*entries: tuple[str, bytes | None, str]) -> bytes:
    """(name, data or None, kind) with kind file/sym/link/dir/chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
                continue
            info.type = {"sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "dir": tarfile.DIRTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = (data or b"").decode()
            tar.addfile(info)
    return buf.getvalue()


def test_cp_rejects_hostile_archives(daemon: Daemon, cleanup: list[str], tmp: Path) -> None:
    c = _name()
    cleanup.append(c)
    ok(daemon.docker("create", "--name", c, "busybox", "true"))
    victim = tmp / "victim"
    victim.write_text("untouched")
    # As dockerd joins names to the destination: ".." stops at the container's root and an
    # absolute name lands under the destination (both inside the container), a device node
    # is made inside it where berthd's device cgroup lets it mknod (else a 500, as moby's
    # mknod error), a hard link's target is joined the same way (here: the file the first
    # archive put in the container), and only a name above the destination is refused.
    hostile = [
        (_tar(("../../../../../../" + str(victim), b"owned", "file")), (200,)),
        (_tar((str(victim), b"owned", "file")), (200,)),
        (_tar(("dev", None, "dir"), ("dev/evil", None, "chr")), (200, 500)),
        (_tar(("h", b"/etc/../../../../" + str(victim).encode(), "link")), (200,)),
        (_tar(("a/../../up", b"owned", "file")), (500,)),
    ]
    for body, expected in hostile:
        status, _, raw = request(str(daemon.socket), "PUT",
                                 f"/containers/{c}/archive?path=/tmp", body=body,
                                 headers={"Content-Type": "application/x-tar"})
        assert status in expected, raw
        if status != 200:
            assert json.loads(raw)["message"]
        assert victim.read_text() == "untouched"
    # A symlink pointing out, then a file written "through" it: lands inside the container.
    body = _tar(("esc", str(tmp).encode(), "sym"))
    status, _, raw = request(str(daemon.socket), "PUT", f"/containers/{c}/archive?path=/tmp",
                             body=body, headers={"Content-Type": "application/x-tar"})
    assert status == 200, raw
    body = _tar(("victim", b"owned", "file"))
    status, _, raw = request(str(daemon.socket), "PUT",
                             f"/containers/{c}/archive?path=/tmp/esc", body=body,
                             headers={"Content-Type": "application/x-tar"})
    assert victim.read_text() == "untouched"
    assert (tmp / "victim").read_text() != "owned"


def test_image_prune_and_system_df(daemon: Daemon, cleanup: list[str]) -> None:
    c, keep = _name(), _name("keep") + ":1"
    cleanup += [c, keep]
    ok(daemon.docker("run", "--name", c, "busybox", "sh", "-c", "echo x > /x"))
    dangling = ok(daemon.docker("commit", c)).strip()
    ok(daemon.docker("commit", c, keep))
    listed = ok(daemon.docker("images", "-q", "--no-trunc", "--filter", "dangling=true"))
    assert dangling in listed.split()
    out = ok(daemon.docker("image", "prune", "-f"))
    assert f"deleted: {dangling}" in out
    r = daemon.docker("image", "inspect", dangling)
    assert r.returncode != 0
    assert keep.split(":")[0] in ok(daemon.docker("images", "--filter",
                                                  f"reference={keep.split(':')[0]}"))
    df = ok(daemon.docker("system", "df", "--format", "{{json .}}"))
    rows = {json.loads(line)["Type"]: json.loads(line) for line in df.splitlines()}
    assert {"Images", "Containers", "Local Volumes", "Build Cache"} <= set(rows)
    assert int(rows["Images"]["TotalCount"]) >= 2
    # prune -a keeps images containers use (busybox) and removes unused tagged ones.
    ok(daemon.docker("rm", c))
    status, _, raw = request(str(daemon.socket), "POST",
                             '/images/prune?filters={"dangling":["false"],"label":["nope"]}')
    assert status == 200 and json.loads(raw)["ImagesDeleted"] is None
    status, _, raw = request(str(daemon.socket), "POST", '/images/prune?filters={"bogus":["1"]}')
    assert status == 400
