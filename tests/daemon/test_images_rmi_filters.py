"""rmi and image listing through the real docker CLI: untag vs delete, a tag shared by two
names, 409 unless -f while a container uses the image, dangling images; ``images`` filters
dangling/reference/before/since/label, --digests, -q; and the prune routes the docker CLI
calls (``container``/``network``/``volume``/``image``/``system prune``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.daemon.helpers import ok

pytestmark = pytest.mark.root


@pytest.fixture
def scope(daemon) -> Iterator[dict[str, list[str]]]:
    """Containers and images a test made, removed afterwards whatever happened."""
    made: dict[str, list[str]] = {"containers": [], "images": []}
    try:
        yield made
    finally:
        if made["containers"]:
            daemon.docker("rm", "-f", *made["containers"])
        for ref in reversed(made["images"]):
            daemon.docker("rmi", "-f", ref)


def _uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _commit(daemon, scope, ref: str, *changes: str) -> str:  # type: ignore[no-untyped-def]
    ctr = _uniq("berth-rmi")
    scope["containers"].append(ctr)
    ok(daemon.docker("create", "--name", ctr, "busybox", "true"))
    args = [a for c in changes for a in ("-c", c)]
    image_id = ok(daemon.docker("commit", *args, ctr, ref)).strip()
    scope["images"].append(image_id)
    return image_id


def test_rmi_untag_vs_delete_shared_tags_and_conflicts(daemon, scope) -> None:
    repo_a, repo_b = _uniq("berth-rmi-a"), _uniq("berth-rmi-b")
    image_id = _commit(daemon, scope, f"{repo_a}:1")
    ok(daemon.docker("tag", f"{repo_a}:1", f"{repo_b}:1"))
    # The image is referenced by two names: removing it by ID needs -f.
    r = daemon.docker("rmi", image_id)
    assert r.returncode == 1
    assert b"image is referenced in multiple repositories" in r.stderr, r.stderr
    # Removing one name only untags.
    out = ok(daemon.docker("rmi", f"{repo_b}:1"))
    assert out.splitlines() == [f"Untagged: {repo_b}:1"]
    assert ok(daemon.docker("images", "-q", "--no-trunc", f"{repo_a}:1")).strip() == image_id
    # A container (stopped) uses it: 409 without -f, even for its last tag.
    user = _uniq("berth-rmi-user")
    scope["containers"].append(user)
    ok(daemon.docker("create", "--name", user, image_id, "true"))
    r = daemon.docker("rmi", f"{repo_a}:1")
    assert r.returncode == 1 and b"conflict" in r.stderr and b"must force" in r.stderr, r.stderr
    assert daemon.docker("image", "inspect", image_id).returncode == 0
    ok(daemon.docker("rm", user))
    # Last name and no user: untag and delete.
    out = ok(daemon.docker("rmi", f"{repo_a}:1")).splitlines()
    assert out[0] == f"Untagged: {repo_a}:1" and f"Deleted: {image_id}" in out
    assert daemon.docker("image", "inspect", image_id).returncode == 1


def test_rmi_force_with_two_names_and_running_user(daemon, scope) -> None:
    repo_a, repo_b = _uniq("berth-rmif-a"), _uniq("berth-rmif-b")
    image_id = _commit(daemon, scope, f"{repo_a}:1", 'CMD ["sleep", "600"]')
    ok(daemon.docker("tag", image_id, f"{repo_b}:2"))
    out = ok(daemon.docker("rmi", "-f", image_id)).splitlines()
    assert f"Untagged: {repo_a}:1" in out and f"Untagged: {repo_b}:2" in out
    assert f"Deleted: {image_id}" in out
    # A running container blocks even -f on the ID.
    image_id = _commit(daemon, scope, f"{repo_a}:run", 'CMD ["sleep", "600"]')
    runner = _uniq("berth-rmif-run")
    scope["containers"].append(runner)
    ok(daemon.docker("run", "-d", "--name", runner, image_id))
    r = daemon.docker("rmi", "-f", image_id)
    assert r.returncode == 1 and b"conflict" in r.stderr, r.stderr
    assert daemon.docker("image", "inspect", image_id).returncode == 0


def test_dangling_images_and_list_filters(daemon, scope) -> None:
    repo = _uniq("berth-filt")
    old_id = _commit(daemon, scope, f"{repo}:x", "LABEL stage=old")
    time.sleep(1.1)  # Created has one-second resolution in the list
    new_id = _commit(daemon, scope, f"{repo}:x", "LABEL stage=new")
    ok(daemon.docker("tag", new_id, f"{repo}:y"))
    # Re-using the tag left the first image dangling.
    dangling = ok(daemon.docker("images", "-q", "--no-trunc", "-f", "dangling=true")).split()
    assert old_id in dangling and new_id not in dangling
    not_dangling = ok(daemon.docker("images", "-q", "--no-trunc", "-f", "dangling=false")).split()
    assert new_id in not_dangling and old_id not in not_dangling
    listing = ok(daemon.docker("images", "-f", "dangling=true", "--format",
                               "{{.Repository}}:{{.Tag}} {{.ID}}"))
    assert f"<none>:<none> {old_id.removeprefix('sha256:')[:12]}" in listing
    # reference: exact repo, glob, repo:tag.
    rows = ok(daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}", repo)).split()
    assert sorted(rows) == sorted([f"{repo}:x", f"{repo}:y"])
    rows = ok(daemon.docker("images", "--format", "{{.Tag}}", "-f",
                            f"reference={repo[:-3]}*:y")).split()
    assert rows == ["y"]
    # -q prints one line per tag (as docker does), short IDs.
    quiet = ok(daemon.docker("images", "-q", repo)).split()
    assert quiet == [new_id.removeprefix("sha256:")[:12]] * 2
    # label, before, since.
    by_label = ok(daemon.docker("images", "-q", "--no-trunc", "-f", "label=stage=new")).split()
    assert set(by_label) == {new_id}
    assert old_id in ok(daemon.docker("images", "-aq", "--no-trunc", "-f", "label=stage")).split()
    since = ok(daemon.docker("images", "-aq", "--no-trunc", "-f", f"since={old_id}")).split()
    assert new_id in since and old_id not in since
    before = ok(daemon.docker("images", "-aq", "--no-trunc", "-f", f"before={repo}:y")).split()
    assert old_id in before and new_id not in before
    r = daemon.docker("images", "-f", "bogus=1")
    assert r.returncode == 1 and b"Invalid filter 'bogus'" in r.stderr
    # --digests: a column, <none> for images never pushed or pulled by digest.
    lines = ok(daemon.docker("images", "--digests", repo)).splitlines()
    assert lines[0].split()[:4] == ["REPOSITORY", "TAG", "DIGEST", "IMAGE"]
    assert all(line.split()[2] == "<none>" for line in lines[1:])
    # image prune takes the dangling one only.
    out = ok(daemon.docker("image", "prune", "-f"))
    assert f"deleted: {old_id}" in out and new_id not in out
    assert daemon.docker("image", "inspect", new_id).returncode == 0


def test_prune_routes_with_the_docker_cli(daemon, scope) -> None:
    stopped, labelled, running = (_uniq("berth-prune") for _ in range(3))
    scope["containers"] += [stopped, labelled, running]
    ok(daemon.docker("create", "--name", stopped, "busybox", "true"))
    ok(daemon.docker("create", "--name", labelled, "--label", "keep=1", "busybox", "true"))
    ok(daemon.docker("run", "-d", "--name", running, "busybox", "sleep", "600"))
    ids = {n: json.loads(ok(daemon.docker("inspect", n)))[0]["Id"] for n in (stopped, labelled)}
    r = daemon.docker("container", "prune", "-f", "--filter", "until=abc")
    assert r.returncode == 1 and b"until" in r.stderr
    # until in the past: nothing is old enough.
    out = ok(daemon.docker("container", "prune", "-f", "--filter", "until=1h"))
    assert ids[stopped] not in out and "Total reclaimed space: 0B" in out
    out = ok(daemon.docker("container", "prune", "-f", "--filter", "label!=keep"))
    assert out.startswith("Deleted Containers:\n") and ids[stopped] in out
    assert ids[labelled] not in out
    assert daemon.docker("inspect", stopped).returncode == 1
    assert daemon.docker("inspect", labelled).returncode == 0
    assert daemon.docker("inspect", running).returncode == 0
    # network and volume prune through the docker CLI.
    net, vol = _uniq("berth-prune-net"), _uniq("berth-prune-vol")
    ok(daemon.docker("network", "create", net))
    ok(daemon.docker("volume", "create", vol))
    try:
        out = ok(daemon.docker("network", "prune", "-f"))
        assert f"Deleted Networks:\n{net}\n" in out
        out = ok(daemon.docker("volume", "prune", "-f", "-a"))
        assert vol in out
        # system prune: the labelled stopped container goes now; the running one stays.
        out = ok(daemon.docker("system", "prune", "-f"))
        assert "Deleted Containers:" in out and ids[labelled] in out
        assert daemon.docker("inspect", running).returncode == 0
        assert daemon.docker("image", "inspect", "busybox").returncode == 0
        # system df through the docker CLI reads the same report.
        lines = ok(daemon.docker("system", "df")).splitlines()
        assert [ln.split("  ")[0] for ln in lines[1:]] == ["Images", "Containers",
                                                           "Local Volumes", "Build Cache"]
    finally:
        daemon.docker("network", "rm", net)
        daemon.docker("volume", "rm", "-f", vol)


def test_system_df_lists_volumes_and_build_cache(daemon, scope, tmp_path) -> None:
    vol = _uniq("berth-df-vol")
    user = _uniq("berth-df-user")
    scope["containers"].append(user)
    ok(daemon.docker("run", "--name", user, "-v", f"{vol}:/data", "busybox", "sh", "-c",
                     "head -c 5000 /dev/zero > /data/f"))
    tag = _uniq("berth-df-build")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN head -c 3000 /dev/zero > /made\n")
    env_build = dict(daemon.env, DOCKER_BUILDKIT="0")
    import subprocess

    r = subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], env=env_build,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    scope["images"].append(tag)
    try:
        from tests.daemon.apihttp import request

        _, _, body = request(str(daemon.socket), "GET", "/system/df")
        usage = json.loads(body)
        vols = {v["Name"]: v for v in usage["Volumes"]}
        assert vols[vol]["UsageData"] == {"Size": 5000, "RefCount": 1}
        assert vols[vol]["Mountpoint"].endswith(f"/{vol}/_data")
        cache = usage["BuildCache"]
        assert cache and all(c["Type"] == "regular" for c in cache)
        assert any(c["Size"] >= 3000 for c in cache)
        out = ok(daemon.docker("system", "df", "-v"))
        assert vol in out and "Build cache usage:" in out
    finally:
        daemon.docker("rm", "-f", user)
        daemon.docker("volume", "rm", "-f", vol)
