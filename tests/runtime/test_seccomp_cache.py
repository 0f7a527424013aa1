"""The compiled-seccomp cache: a hit is the program libseccomp builds, bad files are rebuilt,
and containers and execs started from a cached program are still filtered."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from berth.oci.capabilities import DOCKER_DEFAULT_CAPABILITIES
from berth.runtime import bpfcache, container
from berth.runtime import seccomp as rt_seccomp
from berth.runtime.exec import ExecOptions, exec_process
from berth.security import seccomp

from .conftest import Env, wait_exit

pytestmark = pytest.mark.root

_NO_MKDIR: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
}


def _default_oci() -> dict[str, Any]:
    oci = seccomp.to_oci(seccomp.SeccompChoice(), DOCKER_DEFAULT_CAPABILITIES, os.uname().machine,
                         (6, 1))
    assert oci is not None
    return oci


def _only_file(cache: Path) -> Path:
    files = list(cache.iterdir())
    assert len(files) == 1, files
    return files[0]


def test_hit_is_the_fresh_program_and_files_are_private(tmp_path: Path) -> None:
    oci = _default_oci()
    cache = tmp_path / "cache"
    fresh = rt_seccomp.build_program(rt_seccomp.compile_rules(oci))
    first = rt_seccomp.program_for({"seccomp": oci}, cache)
    assert first == fresh
    path = _only_file(cache)
    assert path.name.endswith(".bpf") and len(path.stem) == 64
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == fresh + hashlib.sha256(fresh).digest()
    assert rt_seccomp.program_for({"seccomp": oci}, cache) == fresh
    # A different profile is a different key.
    rt_seccomp.program_for({"seccomp": _NO_MKDIR}, cache)
    assert len(list(cache.iterdir())) == 2


def test_hit_reads_the_file_without_compiling(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    rt_seccomp.program_for({"seccomp": _NO_MKDIR}, cache)
    path = _only_file(cache)
    # A well-formed entry for the same key is taken as it is: the cache is really read.
    other = rt_seccomp.build_program(rt_seccomp.compile_rules(_default_oci()))
    path.write_bytes(other + hashlib.sha256(other).digest())
    assert rt_seccomp.program_for({"seccomp": _NO_MKDIR}, cache) == other


def test_cache_keys_found_once_name_the_same_programs(tmp_path: Path) -> None:
    oci = _default_oci()
    keys = rt_seccomp.cache_keys()
    assert keys.library.count(".") == 2 and keys.machine == os.uname().machine
    plain = bpfcache.key_for(oci, os.uname().machine, keys.library)
    assert keys.key(oci) == plain
    known = keys.knowing(oci)
    assert known.known == ((oci, plain),)
    # An equal object (a fresh parse of the same profile) is known; a different one is keyed.
    assert known.key(_default_oci()) == plain
    assert known.key(_NO_MKDIR) == keys.key(_NO_MKDIR) != plain
    cache = tmp_path / "cache"
    assert rt_seccomp.program_for({"seccomp": oci}, cache, known) == \
        rt_seccomp.build_program(rt_seccomp.compile_rules(oci))
    assert _only_file(cache).stem == plain
    # The most recent few are remembered, once each.
    profiles = [{"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": n}]}
                for n in range(1, 7)]
    for p in [oci, *profiles, profiles[-1]]:
        keys = keys.knowing(p)
    assert [obj for obj, _ in keys.known] == [profiles[5], profiles[4], profiles[3], profiles[2]]
    assert all(key == bpfcache.key_for(obj, keys.machine, keys.library) for obj, key in keys.known)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "odd", "mode", "symlink"])
def test_bad_cache_file_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    fresh = rt_seccomp.program_for({"seccomp": _NO_MKDIR}, cache)
    assert fresh is not None
    path = _only_file(cache)
    good = path.read_bytes()
    if damage == "flip":
        data = bytearray(good)
        data[10] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(good[:-5])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "odd":
        body = fresh[:-3]
        path.write_bytes(body + hashlib.sha256(body).digest())
    elif damage == "mode":
        path.chmod(0o666)
    else:
        target = tmp_path / "elsewhere.bpf"
        target.write_bytes(good)
        target.chmod(0o600)
        path.unlink()
        path.symlink_to(target)
    assert bpfcache.load(cache, path.stem) is None
    assert rt_seccomp.program_for({"seccomp": _NO_MKDIR}, cache) == fresh
    assert not path.is_symlink()
    assert path.read_bytes() == good
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp file left


def _with_profile(spec: dict[str, Any]) -> None:
    spec["linux"]["seccomp"] = _NO_MKDIR


def test_containers_and_execs_from_a_cached_program_are_filtered(rt: Env) -> None:
    for _ in range(2):  # miss, then hit
        res = rt.run(["sh", "-c", "mkdir /x; echo rc=$?; touch /y && echo touched"],
                     mutate=_with_profile)
        assert res.status == 0, res.stderr
        assert "rc=1" in res.stdout and "touched" in res.stdout
        assert "Permission denied" in res.stderr  # errnoRet 13 = EACCES
    cache = Path(rt_seccomp.cache_dir(rt.state_root))
    _only_file(cache)
    bundle, mounts, _ = rt.bundle(["sleep", "30"], mutate=_with_profile)
    created = container.create(rt.options(bundle, mounts))
    try:
        created.start()
        err_r, err_w = os.pipe()
        try:
            started = exec_process(rt.state_root, created.id,
                                   ExecOptions(args=("mkdir", "/z"), stderr=err_w))
        finally:
            os.close(err_w)
        assert wait_exit(started.pid) == 1
        with os.fdopen(err_r, "rb") as err:
            assert b"Permission denied" in err.read()
        _only_file(cache)
    finally:
        container.delete(rt.state_root, created.id)
