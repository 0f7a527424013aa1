"""Cgroups made ahead by the shim factory's intermediate child (berth.shim.cgroupsahead): the
container created through the factory uses and owns them (gone with the container), and a
create that fails before the runtime's own cgroup step leaves none of them behind."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import RuntimeFailure
from berth.runtime.cgroups import detect
from berth.runtime.container import make_cgroups_ahead
from berth.shim import cgroupsahead
from berth.shim.client import spawn
from berth.shim.factoryctl import start_factory, stop_factory
from tests.shim.conftest import ShimEnv, run, wait_gone
from tests.shim.test_main import assert_cleaned_up, shim_pid

pytestmark = pytest.mark.root


def _cgroups_path(spec) -> str:
    return json.loads((spec.bundle / "config.json").read_text())["linux"]["cgroupsPath"]


def _existing(spec) -> list[str]:
    """The container's cgroup directories that exist, where the runtime puts them (a relative
    cgroupsPath is under the caller's own cgroups, as with runc)."""
    return sorted(p for p in detect(_cgroups_path(spec), spec.id).paths.values() if Path(p).is_dir())


@pytest.fixture
def factory(shim_env: ShimEnv) -> Iterator[Path]:
    exec_root = shim_env.base / "exec"
    exec_root.mkdir(parents=True, exist_ok=True)
    path = run(start_factory(exec_root))
    assert path is not None
    try:
        yield path
    finally:
        run(stop_factory(exec_root))


# told: berthd's request names the cgroupsPath (the factory's child reads no file); else the
# child reads it from config.json.
@pytest.mark.parametrize("told", [True, False], ids=["path-told", "path-read"])
def test_container_from_the_factory_owns_its_cgroups(shim_env: ShimEnv, factory: Path, told: bool) -> None:
    state_dir, spec = shim_env.container(["sleep", "100"])

    async def scenario():
        client = await spawn(state_dir, spec, factory=factory,
                             cgroups_path=_cgroups_path(spec) if told else None)
        shim = shim_pid(state_dir)
        dirs = _existing(spec)
        procs = {(Path(d) / "cgroup.procs").read_text().split() == [str(client.pid)] for d in dirs}
        await client.start()
        await client.kill(signal.SIGKILL)
        status = await client.wait()
        return dirs, procs, status, shim

    dirs, procs, status, shim = run(scenario())
    assert len(dirs) >= 2  # every hierarchy (v1) or the unified dir (v2): made before the create
    assert procs == {True}  # the init, and only it, is in each
    assert status.exit_code == 137
    assert_cleaned_up(shim_env, spec, state_dir, shim)
    assert _existing(spec) == []


@pytest.mark.parametrize("told", [True, False], ids=["path-told", "path-read"])
def test_failed_create_leaves_no_cgroup_made_ahead(shim_env: ShimEnv, factory: Path, told: bool) -> None:
    state_dir, spec = shim_env.container(["true"])
    cgroups_path = _cgroups_path(spec) if told else None
    config_path = spec.bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["root"]["path"] = str(shim_env.base / "no-such-rootfs")  # fails before its cgroup step
    config_path.write_text(json.dumps(config))

    with pytest.raises(RuntimeFailure, match="is not a directory"):
        run(spawn(state_dir, spec, factory=factory, cgroups_path=cgroups_path))
    assert _existing(spec) == []
    shim_file = state_dir / "shim.pid"
    if shim_file.exists():
        assert wait_gone(int(shim_file.read_text().split()[0]))


def test_make_cgroups_ahead_reports_only_what_it_made(shim_env: ShimEnv) -> None:
    _, spec = shim_env.container(["true"])
    made = make_cgroups_ahead(spec.bundle, spec.id)
    assert sorted(made) == _existing(spec)
    assert made
    assert make_cgroups_ahead(spec.bundle, spec.id) == ()  # all there already
    (spec.bundle / "config.json").write_text("{not json")
    assert make_cgroups_ahead(spec.bundle, "other") == ()  # an error makes nothing


def test_make_at_reports_only_what_it_made(shim_env: ShimEnv) -> None:
    _, spec = shim_env.container(["true"])

    def make_at(path: str) -> tuple[str, ...]:
        r, w = os.pipe()
        cgroupsahead.make_at(path, spec.id, w)
        return cgroupsahead.collect(r)

    try:
        made = make_at(_cgroups_path(spec))
        assert sorted(made) == _existing(spec)  # the runtime's own choice for that path
        assert made
        assert make_at(_cgroups_path(spec)) == ()  # all there already
    finally:
        cgroupsahead.release(sorted(_existing(spec), reverse=True))
    assert _existing(spec) == []
