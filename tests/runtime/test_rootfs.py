"""Filesystem: overlay rootfs, spec mounts, /dev, masked and read-only paths, root propagation,
host untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.errors import RuntimeFailure
from berth.oci.specresources import DEFAULT_DEVICE_RULES
from berth.runtime import container, devices

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root


def test_overlay_rootfs_writes_go_to_upper_and_never_show_on_host(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["sh", "-c", "echo data > /newfile; rm /bin/vi; echo ok"])
    host_before = Path("/proc/self/mountinfo").read_text()
    created = container.create(rt.options(bundle, mounts))
    try:
        # While the container exists its rootfs is mounted only in its own namespace.
        assert str(bundle) not in Path("/proc/self/mountinfo").read_text()
        created.start()
        assert wait_exit(created.pid) == 0
    finally:
        container.delete(rt.state_root, created.id)
    assert (bundle / "upper" / "newfile").read_text() == "data\n"
    assert not (rt.lower / "newfile").exists()
    assert (rt.lower / "bin" / "vi").is_symlink()
    assert os.major(os.lstat(bundle / "upper" / "bin" / "vi").st_rdev) == 0  # whiteout
    assert str(bundle) not in Path("/proc/self/mountinfo").read_text()
    ours = [line for line in host_before.splitlines() if "berth-rt" in line]
    assert ours == []


def test_plain_directory_rootfs(rt: Env) -> None:
    r = rt.run(["sh", "-c", "echo x > /f && cat /f"], overlay=False)
    assert (r.status, r.stdout) == (0, "x\n")


def test_standard_mounts(rt: Env) -> None:
    r = rt.run(["sh", "-c", "awk '{print $5, $6}' /proc/self/mountinfo"])
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line)
    for dest in ("/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                 "/sys/fs/cgroup"):
        assert dest in got, r.stdout
    assert got["/sys"].split(",")[0] == "ro"
    assert got["/proc/sys"].split(",")[0] == "ro"
    if Path("/sys/fs/cgroup/memory").is_dir():
        # v1 as runc lays it out: a read-write tmpfs holding read-only hierarchies.
        assert got["/sys/fs/cgroup"].split(",")[0] == "rw"
        assert got["/sys/fs/cgroup/memory"].split(",")[0] == "ro"
    else:
        assert got["/sys/fs/cgroup"].split(",")[0] == "ro"


def test_sys_is_read_only(rt: Env) -> None:
    r = rt.run(["sh", "-c", "touch /sys/kernel/x 2>&1; echo 1 > /proc/sys/kernel/ns_last_pid"])
    assert r.status != 0
    assert "Read-only file system" in r.stdout + r.stderr


def test_dev_nodes_and_symlinks(rt: Env) -> None:
    script = ("for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; "
              "done; for l in fd stdin ptmx; do readlink /dev/$l; done; echo hi > /dev/null; "
              "head -c 4 /dev/zero | wc -c")
    r = rt.run(["sh", "-c", script])
    assert r.status == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
    ]
    assert lines[6:9] == ["/proc/self/fd", "/proc/self/fd/0", "pts/ptmx"]
    assert lines[9].strip() == "4"


def test_extra_device_from_spec(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["linux"]["devices"] = [{"path": "/dev/fuse-ish", "type": "c", "major": 1,
                                     "minor": 3, "fileMode": 0o600, "uid": 0, "gid": 0}]

    r = rt.run(["stat", "-c", "%t:%T %a", "/dev/fuse-ish"], mutate=mutate)
    assert r.stdout == "1:3 600\n"


def test_masked_paths(rt: Env) -> None:
    # /proc/kcore is absent on some kernels; /proc/cpuinfo always exists, so mask it too.
    def mutate(spec: dict) -> None:
        spec["linux"]["maskedPaths"].append("/proc/cpuinfo")

    assert os.listdir("/sys/firmware")
    r = rt.run(["sh", "-c", "wc -c < /proc/cpuinfo; ls /sys/firmware | wc -l; "
                "touch /sys/firmware/x 2>&1"], mutate=mutate)
    assert r.stdout.split()[:2] == ["0", "0"]
    assert "Read-only file system" in r.stdout


def test_readonly_rootfs(rt: Env) -> None:
    def mutate(spec: dict) -> None:
        spec["root"]["readonly"] = True

    r = rt.run(["sh", "-c", "touch /x 2>&1; touch /dev/shm/ok && echo shm-ok"], mutate=mutate)
    assert "Read-only file system" in r.stdout
    assert "shm-ok" in r.stdout


def test_bind_mounts_ro_and_rw(rt: Env, tmp_path: Path) -> None:
    src = tmp_path / "vol"
    src.mkdir()
    (src / "in").write_text("from host\n")
    hostfile = tmp_path / "file"
    hostfile.write_text("file\n")

    def mutate(spec: dict) -> None:
        spec["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(src),
             "options": ["rbind", "rw"]},
            {"destination": "/ro", "type": "bind", "source": str(src),
             "options": ["rbind", "ro", "nosuid"]},
            {"destination": "/etc/single", "type": "bind", "source": str(hostfile),
             "options": ["bind", "ro"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "size=1m"]},
        ]

    r = rt.run(["sh", "-c", "cat /data/in /etc/single; echo out > /data/out; "
                "touch /ro/x 2>&1; echo s > /scratch/s && cat /scratch/s"], mutate=mutate)
    assert r.stdout.splitlines()[:2] == ["from host", "file"]
    assert "Read-only file system" in r.stdout
    assert r.stdout.splitlines()[-1] == "s"
    assert (src / "out").read_text() == "out\n"
    assert not (src / "x").exists()


def test_symlinked_destination_stays_inside_rootfs(rt: Env, tmp_path: Path) -> None:
    src = tmp_path / "vol"
    src.mkdir()
    (src / "marker").write_text("m")
    escape = tmp_path / "escape-target"
    escape.mkdir()

    def mutate(spec: dict) -> None:
        spec["mounts"].append({"destination": "/evil/sub", "type": "bind", "source": str(src),
                               "options": ["rbind"]})

    bundle, mounts, _ = rt.bundle(["cat", "/evil/sub/marker"], mutate=mutate)
    # An image symlink pointing at a host path must resolve inside the rootfs.
    (bundle / "upper" / "evil").symlink_to(str(escape))
    out_r, out_w = os.pipe()
    created = container.create(rt.options(bundle, mounts, stdout=out_w))
    os.close(out_w)
    try:
        created.start()
        assert wait_exit(created.pid) == 0
        with os.fdopen(out_r) as f:
            assert f.read() == "m"
    finally:
        container.delete(rt.state_root, created.id)
    assert list(escape.iterdir()) == []


def test_spec_devices_under_a_deny_all_device_cgroup(rt: Env) -> None:
    # runtime-tools' default spec denies every device; the nodes the runtime makes (defaults
    # and linux.devices) are still allowed after the spec's rules, as runc allows them.
    def mutate(spec: dict) -> None:
        spec["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        spec["linux"]["devices"] = [
            {"path": "/dev/test1", "type": "c", "major": 10, "minor": 666, "fileMode": 0o660},
            {"path": "/dev/test2", "type": "b", "major": 8, "minor": 666, "fileMode": 0o660}]

    r = rt.run(["sh", "-c", "stat -c '%F %t:%T %a' /dev/test1 /dev/test2; "
                "head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok"], mutate=mutate)
    assert r.stdout.splitlines() == ["character special file a:29a 660",
                                     "block special file 8:29a 660", "3", "null-ok"], r.stderr


@pytest.mark.parametrize(("propagation", "expect"), [
    ("shared", "shared:"), ("unbindable", "unbindable"), ("private", None)])
def test_rootfs_propagation_applies_to_the_container_root(rt: Env, propagation: str,
                                                          expect: str | None) -> None:
    def mutate(spec: dict) -> None:
        spec["linux"]["rootfsPropagation"] = propagation

    r = rt.run(["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"], mutate=mutate)
    assert r.status == 0, r.stderr
    optional = r.stdout.split(" - ")[0].split()[6:]
    if expect is None:
        assert optional == [], r.stdout
    else:
        assert any(o.startswith(expect) for o in optional), r.stdout


def test_bad_rootfs_propagation_is_refused(rt: Env) -> None:
    bundle, mounts, _ = rt.bundle(["true"], mutate=lambda s: s["linux"].update(
        rootfsPropagation="sideways"))
    with pytest.raises(RuntimeFailure, match="invalid rootfsPropagation 'sideways'"):
        container.create(rt.options(bundle, mounts))
    assert not (rt.state_root / rt.ids[-1]).exists()


def test_default_device_rules_follow_the_spec_s_and_are_not_repeated() -> None:
    deny_all = [{"allow": False, "access": "rwm"}]
    rules = devices.with_default_rules(deny_all)
    assert rules[0] == deny_all[0] and len(rules) == 11
    assert {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"} in rules
    # berthd's specs already allow every default after their deny-all: nothing is added.
    assert devices.with_default_rules(list(DEFAULT_DEVICE_RULES)) == list(DEFAULT_DEVICE_RULES)
    # An allow before a later deny does not count: the default is appended after the deny.
    spec = [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    assert devices.with_default_rules(spec)[-6] == {"allow": True, "type": "c", "major": 1,
                                                    "minor": 3, "access": "rwm"}


def _walk_join(root: str, path: str) -> str:
    """The plain definition secure_join must agree with: one component at a time, a symlink's
    target spliced in (an absolute one from the root), anything unreadable taken as it is."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        links += 1
        if links > 255:
            raise RuntimeFailure("loop")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)


def test_secure_join_agrees_with_the_plain_walk(tmp_path: Path) -> None:
    import random

    from berth.runtime.rootfs import secure_join

    r = tmp_path / "root"
    (r / "a" / "b" / "c").mkdir(parents=True)
    (r / "etc").mkdir()
    (r / "etc" / "f").write_text("")
    for link, target in (("abs", "/a/b"), ("a/rel", "b/c"), ("a/b/up", "../.."),
                         ("dangling", "/nonexist/x"), ("loop1", "loop2"), ("loop2", "loop1"),
                         ("a/b/c/esc", "../../../../etc")):
        (r / link).symlink_to(target)
    names = ["a", "b", "c", "..", ".", "abs", "rel", "up", "dangling", "etc", "f", "x", "esc",
             "missing", "", "loop1"]
    rnd = random.Random(0)
    for root in (str(r), f"{r}/"):
        for _ in range(3000):
            path = ("/" if rnd.random() < 0.5 else "") + "/".join(
                rnd.choice(names) for _ in range(rnd.randint(0, 6)))
            try:
                expected = _walk_join(root, path)
            except RuntimeFailure:
                with pytest.raises(RuntimeFailure, match="too many levels"):
                    secure_join(root, path)
                continue
            assert secure_join(root, path) == expected, (root, path)
