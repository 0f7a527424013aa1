"""berth's own CLI for images in depth against the test daemon: commit (-a -m -c -p), diff,
export (-o), save (-o, several images) / load (-i, -q), history (-H, --no-trunc, -q, --format),
cp both ways (paths and ``-`` tar streams), image prune, container prune, system df (-v) and
system prune."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _ok(r) -> str:  # type: ignore[no-untyped-def]
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return r.stdout.decode()


@pytest.fixture
def images(daemon) -> Iterator[list[str]]:
    made: list[str] = []
    try:
        yield made
    finally:
        for ref in reversed(made):
            daemon.berth("rmi", "-f", ref)


def _tag() -> str:
    return f"berth-cli-depth-{uuid.uuid4().hex[:8]}"


def test_commit_diff_history(daemon, names, images) -> None:
    ctr = names.new("commit")
    _ok(daemon.berth("run", "--name", ctr, "busybox", "sh", "-c",
                     "echo hi > /added && rm /etc/group && echo x >> /etc/passwd"))
    diff = _ok(daemon.berth("diff", ctr)).splitlines()
    assert "A /added" in diff and "D /etc/group" in diff and "C /etc/passwd" in diff
    assert "C /etc" in diff
    ref = f"{_tag()}:v1"
    images.append(ref)
    out = _ok(daemon.berth("commit", "-a", "Ann <ann@example.com>", "-m", "my message",
                           "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/added"]', "-p=false", ctr, ref))
    assert out.startswith("sha256:") and len(out.strip()) == 71
    info = json.loads(_ok(daemon.berth("image", "inspect", ref)))[0]
    assert info["Id"] == out.strip()
    assert info["Author"] == "Ann <ann@example.com>" and info["Comment"] == "my message"
    assert "FOO=bar" in info["Config"]["Env"] and info["Config"]["Cmd"] == ["cat", "/added"]
    assert _ok(daemon.berth("run", "--rm", ref)) == "hi\n"
    # history: newest first, the commit's comment, sizes human by default.
    lines = _ok(daemon.berth("history", ref)).splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(out.strip().removeprefix("sha256:")[:12])
    assert lines[1].rstrip().endswith("my message")
    raw = _ok(daemon.berth("history", "-H=false", "--no-trunc", "--format",
                           "{{.ID}}|{{.Size}}|{{.CreatedAt}}|{{.Comment}}", ref)).splitlines()
    first = raw[0].split("|")
    assert first[0] == out.strip() and first[1].isdigit() and int(first[1]) > 0
    assert first[3] == "my message" and first[2].endswith("Z")
    quiet = _ok(daemon.berth("history", "-q", ref)).splitlines()
    assert quiet[0] == out.strip().removeprefix("sha256:")[:12] and len(quiet) == len(lines) - 1
    r = daemon.berth("history", "no-such-image:nope")
    assert r.returncode == 1 and b"No such image" in r.stderr
    r = daemon.berth("commit", "no-such-container-x", "x:y")
    assert r.returncode == 1 and b"No such container" in r.stderr


def test_export_save_load(daemon, names, images, tmp_path: Path) -> None:
    ctr = names.new("export")
    _ok(daemon.berth("create", "--name", ctr, "busybox", "true"))
    out = tmp_path / "rootfs.tar"
    _ok(daemon.berth("export", "-o", str(out), ctr))
    with tarfile.open(out) as tar:
        members = set(tar.getnames())
    assert "bin/busybox" in members and "etc/passwd" in members
    # stdout is a pipe here: export streams to it.
    r = daemon.berth("export", ctr)
    assert r.returncode == 0 and len(r.stdout) == out.stat().st_size
    a, b = f"{_tag()}:a", f"{_tag()}:b"
    images += [a, b]
    _ok(daemon.berth("tag", "busybox", a))
    _ok(daemon.berth("tag", "busybox", b))
    archive = tmp_path / "two.tar"
    _ok(daemon.berth("save", "-o", str(archive), a, b))
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert sorted(t for m in manifest for t in m["RepoTags"]) == sorted([a, b])
    _ok(daemon.berth("rmi", a, b))
    loaded = _ok(daemon.berth("load", "-i", str(archive)))
    assert sorted(loaded.splitlines()) == sorted([f"Loaded image: {a}", f"Loaded image: {b}"])
    _ok(daemon.berth("rmi", a))
    quiet = _ok(daemon.berth("load", "-q", input=archive.read_bytes()))
    assert f"Loaded image: {a}" in quiet
    assert _ok(daemon.berth("run", "--rm", a, "echo", "loaded")) == "loaded\n"
    r = daemon.berth("load", "-i", str(tmp_path / "missing.tar"))
    assert r.returncode == 1 and b"no such file" in r.stderr
    r = daemon.berth("save", "-o", str(tmp_path / "x.tar"), "no-such-image:nope")
    assert r.returncode == 1 and b"No such image" in r.stderr
    assert not (tmp_path / "x.tar").exists()


def test_cp_both_ways(daemon, names, tmp_path: Path) -> None:
    ctr = names.new("cp")
    _ok(daemon.berth("create", "--name", ctr, "busybox", "sleep", "600"))
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    # Into a stopped container: a directory into an existing dir, a file to a new name.
    _ok(daemon.berth("cp", str(src), f"{ctr}:/tmp"))
    _ok(daemon.berth("cp", str(src / "a.txt"), f"{ctr}:/renamed.txt"))
    _ok(daemon.berth("start", ctr))
    r = daemon.docker("exec", ctr, "cat", "/tmp/src/a.txt", "/tmp/src/sub/b.txt", "/renamed.txt")
    assert _ok(r) == "alpha\nbeta\nalpha\n"
    # Out of a running container: into an existing dir, to a new name, contents with /. .
    dest = tmp_path / "dest"
    dest.mkdir()
    _ok(daemon.berth("cp", f"{ctr}:/tmp/src", str(dest)))
    assert (dest / "src" / "sub" / "b.txt").read_text() == "beta\n"
    _ok(daemon.berth("cp", f"{ctr}:/tmp/src", str(tmp_path / "copy")))
    assert (tmp_path / "copy" / "a.txt").read_text() == "alpha\n"
    _ok(daemon.berth("cp", f"{ctr}:/etc/hostname", str(tmp_path / "hn")))
    assert (tmp_path / "hn").read_text().strip()
    (tmp_path / "flat").mkdir()
    _ok(daemon.berth("cp", f"{ctr}:/tmp/src/.", str(tmp_path / "flat")))
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == ["a.txt", "sub"]
    # '-' streams: a tar out on stdout, a tar in on stdin.
    r = daemon.berth("cp", f"{ctr}:/tmp/src/a.txt", "-")
    with tarfile.open(fileobj=io.BytesIO(_ok_bytes(r))) as tar:
        assert tar.getnames() == ["a.txt"]
        assert tar.extractfile("a.txt").read() == b"alpha\n"  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("streamed.txt")
        info.size = 9
        tar.addfile(info, io.BytesIO(b"streamed\n"))
    _ok(daemon.berth("cp", "-", f"{ctr}:/tmp", input=buf.getvalue()))
    assert _ok(daemon.docker("exec", ctr, "cat", "/tmp/streamed.txt")) == "streamed\n"
    # Errors: a missing path in the container, a missing host source.
    r = daemon.berth("cp", f"{ctr}:/nope", str(tmp_path))
    assert r.returncode == 1 and b"Could not find the file /nope" in r.stderr
    r = daemon.berth("cp", str(tmp_path / "nope"), f"{ctr}:/tmp")
    assert r.returncode == 1 and b"no such file or directory" in r.stderr


def _ok_bytes(r) -> bytes:  # type: ignore[no-untyped-def]
    assert r.returncode == 0, r.stderr.decode()
    return bytes(r.stdout)


def test_prunes_and_df(daemon, names, images) -> None:
    # A dangling image (untagged by re-tagging its name onto busybox) and an unused tagged one.
    ctr = names.new("df")
    _ok(daemon.berth("run", "--name", ctr, "busybox", "sh", "-c", "echo 1 > /one"))
    dangling_ref = f"{_tag()}:d"
    kept = f"{_tag()}:kept"
    images += [kept]
    dangling_id = _ok(daemon.berth("commit", ctr, dangling_ref)).strip()
    kept_id = _ok(daemon.berth("commit", "-c", "LABEL keep=yes", ctr, kept)).strip()
    _ok(daemon.berth("tag", "busybox", dangling_ref))
    images.append(dangling_id)
    # system df: four rows; -v lists the images with their columns.
    lines = _ok(daemon.berth("system", "df")).splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [ln.split("  ")[0] for ln in lines[1:]] == ["Images", "Containers", "Local Volumes",
                                                       "Build Cache"]
    verbose = _ok(daemon.berth("system", "df", "-v"))
    assert "Images space usage:" in verbose and "Containers space usage:" in verbose
    assert "Local Volumes space usage:" in verbose and "Build cache usage:" in verbose
    assert kept.split(":")[0] in verbose and ctr in verbose
    fmt = _ok(daemon.berth("system", "df", "--format", "{{.Type}}={{.TotalCount}}"))
    assert "Containers=" in fmt
    # image prune without -f asks; "n" keeps everything.
    r = daemon.berth("image", "prune", input=b"n\n")
    assert r.returncode == 0 and b"Are you sure you want to continue? [y/N]" in r.stdout
    assert daemon.berth("image", "inspect", dangling_id).returncode == 0
    # The dangling image goes; the tagged one stays (a container uses the parent only).
    out = _ok(daemon.berth("image", "prune", "-f"))
    assert f"deleted: {dangling_id}" in out and out.rstrip().splitlines()[-1].startswith(
        "Total reclaimed space: ")
    assert daemon.berth("image", "inspect", dangling_id).returncode == 1
    # -a with a label filter that does not match keeps it; matching removes it.
    out = _ok(daemon.berth("image", "prune", "-a", "-f", "--filter", "label=keep=no"))
    assert kept_id not in out
    out = _ok(daemon.berth("image", "prune", "-a", "-f", "--filter", "label=keep=yes"))
    assert f"untagged: {kept}" in out and f"deleted: {kept_id}" in out
    # container prune removes the stopped container only.
    running = names.new("running")
    _ok(daemon.berth("run", "-d", "--name", running, "busybox", "sleep", "600"))
    out = _ok(daemon.berth("container", "prune", "-f"))
    assert out.startswith("Deleted Containers:\n")
    assert daemon.berth("inspect", ctr).returncode == 1
    assert daemon.berth("inspect", running).returncode == 0
    r = daemon.berth("container", "prune", "-f", "--filter", "bogus=1")
    assert r.returncode == 1 and b"Invalid filter 'bogus'" in r.stderr


def test_system_prune(daemon, names) -> None:
    stopped = names.new("sp")
    _ok(daemon.berth("create", "--name", stopped, "busybox", "true"))
    net = f"berth-sp-{uuid.uuid4().hex[:6]}"
    _ok(daemon.berth("network", "create", net))
    vol = f"berth-sp-{uuid.uuid4().hex[:6]}"
    _ok(daemon.berth("volume", "create", vol))
    try:
        r = daemon.berth("system", "prune", input=b"no\n")
        assert b"WARNING! This will remove:" in r.stdout and b"all stopped containers" in r.stdout
        assert daemon.berth("inspect", stopped).returncode == 0
        # Without -a: -a would take the session's base images (no container uses them).
        out = _ok(daemon.berth("system", "prune", "-f", "--volumes"))
        assert "Deleted Containers:" in out and "Deleted Networks:" in out and net in out
        assert out.rstrip().splitlines()[-1].startswith("Total reclaimed space:")
        assert daemon.berth("inspect", stopped).returncode == 1
        assert daemon.berth("network", "inspect", net).returncode == 1
        # Named volumes stay: since API 1.42 prune takes anonymous volumes only.
        assert daemon.berth("volume", "inspect", vol).returncode == 0
        assert daemon.berth("image", "inspect", "busybox").returncode == 0
    finally:
        daemon.berth("network", "rm", net)
        daemon.berth("volume", "rm", "-f", vol)
