"""berth-runtime's process contract: ``exec --process`` documents as runc reads them
(user, umask, capabilities, rlimits, env, cwd, noNewPrivileges), ``process.user.umask`` for the
init, and ``--preserve-fds``. The conftest's ``rt`` removes every container even on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import apparmor
from tests.runtime.conftest import Env
from tests.runtime.test_cli import RUNTIME, cli, reap

pytestmark = pytest.mark.root

_PROBE = ("id -u; id -g; id -G; umask; ulimit -n; pwd; echo ${FROM_FILE:-unset} ${FROM_SPEC:-unset}; "
          "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status")


def _running(rt: Env, mutate: Any = None, stdout: Any = None) -> str:
    def base(spec: dict[str, Any]) -> None:
        spec["process"]["env"].append("FROM_SPEC=yes")
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]
        if mutate is not None:
            mutate(spec)

    bundle, _, _ = rt.bundle(["sleep", "30"], overlay=False, mutate=base)
    cid = rt.ids[-1]
    cli(rt, "run", "-d", "--bundle", str(bundle), cid, stdout=stdout)
    return cid


def _stop(rt: Env, cid: str) -> None:
    pid = json.loads(cli(rt, "state", cid).stdout)["pid"]
    cli(rt, "delete", "--force", cid)
    reap(pid)


def test_exec_process_document_sets_identity_and_limits(rt: Env, tmp_path: Path) -> None:
    cid = _running(rt)
    try:
        doc = {"args": ["sh", "-c", _PROBE], "cwd": "/tmp",
               "env": ["PATH=/bin:/usr/bin", "FROM_FILE=yes"],
               "user": {"uid": 1000, "gid": 1001, "additionalGids": [20, 30], "umask": 0o027},
               "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
                                "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                                "ambient": ["CAP_KILL"]},
               "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}],
               "noNewPrivileges": True}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        out = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid).stdout.splitlines()
        # env is the document's alone (FROM_SPEC is the container's), as runc has it
        assert out == ["1000", "1001", "1001 20 30", "0027", "321", "/tmp", "yes unset",
                       "CapEff:\t0000000000000020", "NoNewPrivs:\t1"]
        # Absent capabilities and rlimits are the container's; the umask defaults to 0022.
        doc = {"args": ["sh", "-c", _PROBE], "cwd": "/", "env": ["PATH=/bin"]}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        out = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid).stdout.splitlines()
        assert out[:7] == ["0", "0", "0", "0022", "1024", "/", "unset unset"]
        assert out[7] != "CapEff:\t0000000000000000" and out[8] == "NoNewPrivs:\t0"
    finally:
        _stop(rt, cid)


def test_bad_process_document_is_refused_and_starts_nothing(rt: Env, tmp_path: Path) -> None:
    cid = _running(rt)
    try:
        before = json.loads(cli(rt, "ps", "--format", "json", cid).stdout)
        for doc, message in (({"args": []}, "process: args must not be empty"),
                             ({"args": ["true"], "user": {"uid": "x"}},
                              "process: user.uid must be an integer"),
                             ({"args": ["true"], "user": {"umask": 4096}},
                              "process: invalid process.user.umask 4096")):
            (tmp_path / "p.json").write_text(json.dumps(doc))
            res = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid, check=False)
            # runc's exec: every failure to start is "exec failed: ..." and exit status 255
            assert res.returncode == 255 and f"exec failed: {message}" in res.stderr, res.stderr
        # A profile this host cannot apply is refused, never dropped (runc fails too).
        (tmp_path / "p.json").write_text(json.dumps({"args": ["true"], "apparmorProfile": "acme"}))
        res = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid, check=False)
        assert res.returncode == 255 and "apparmor profile" in res.stderr, res.stderr
        res = cli(rt, "exec", cid, "nosuchbin", check=False)
        assert res.returncode == 255 and ('exec failed: unable to start container process: exec: '
                                          '\\"nosuchbin\\": executable file not found in $PATH'
                                          in res.stderr), res.stderr
        res = cli(rt, "exec", "nosuch-container", "true", check=False)
        assert res.returncode == 255 and "exec failed: container nosuch-container does not exist" \
            in res.stderr
        assert json.loads(cli(rt, "ps", "--format", "json", cid).stdout) == before
    finally:
        _stop(rt, cid)


@pytest.mark.parametrize(("umask", "want"), [(None, "0022"), (0o077, "0077")])
def test_init_umask_from_process_user(rt: Env, umask: int | None, want: str) -> None:
    def mutate(spec: dict[str, Any]) -> None:
        if umask is not None:
            spec["process"]["user"]["umask"] = umask

    bundle, _, _ = rt.bundle(["sh", "-c", "umask"], overlay=False, mutate=mutate)
    assert cli(rt, "run", "--bundle", str(bundle), rt.ids[-1]).stdout == want + "\n"


def _with_fd3(rt: Env, *args: str) -> tuple[int, str, str]:
    """Run the command with an extra file open as its fd 3; what the container wrote there."""
    with tempfile.TemporaryFile("w+") as extra, tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        fd = extra.fileno()
        proc = subprocess.run(
            ["bash", "-c", f'exec 3>&{fd} {fd}>&-; exec "$@"', "sh",
             RUNTIME, "--root", str(rt.state_root), *args],
            pass_fds=(extra.fileno(),), stdout=out, stderr=err, timeout=60)
        extra.seek(0)
        err.seek(0)
        return proc.returncode, extra.read(), err.read()


def test_preserve_fds_for_run_and_exec(rt: Env) -> None:
    bundle, _, _ = rt.bundle(["sh", "-c", "echo from-init >&3"],
                             overlay=False)
    code, written, err = _with_fd3(rt, "run", "--preserve-fds", "1", "--bundle", str(bundle),
                                   rt.ids[-1])
    assert (code, written) == (0, "from-init\n"), err
    # Without the flag nothing but stdio reaches the container.
    bundle, _, _ = rt.bundle(["sh", "-c", "echo leaked >&3"], overlay=False)
    code, written, _ = _with_fd3(rt, "run", "--bundle", str(bundle), rt.ids[-1])
    assert code != 0 and written == ""
    cid = _running(rt)
    try:
        code, written, err = _with_fd3(rt, "exec", "--preserve-fds", "1", cid,
                                       "sh", "-c", "echo from-exec >&3")
        assert (code, written) == (0, "from-exec\n"), err
    finally:
        _stop(rt, cid)


def test_apparmor_profile_without_apparmor_is_refused(rt: Env) -> None:
    bundle, _, _ = rt.bundle(["true"], overlay=False,
                             mutate=lambda s: s["process"].update(apparmorProfile="acme"))
    res = cli(rt, "run", "--bundle", str(bundle), rt.ids[-1], check=False)
    if apparmor.enabled():  # a host with AppArmor but no such profile: the kernel refuses it
        assert res.returncode != 0 and "apparmor" in res.stderr, res.stderr
    else:
        assert res.returncode == 1 and "AppArmor is not enabled on this host" in res.stderr, \
            res.stderr
    assert cli(rt, "state", rt.ids[-1], check=False).returncode == 1  # nothing left


def test_personality_and_io_priority(rt: Env, tmp_path: Path) -> None:
    # linux.personality LINUX32 (uname -m answers the 32-bit machine) and process.ioPriority,
    # for the init and for an exec'd process, which does not inherit them from the init.
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["personality"] = {"domain": "LINUX32"}
        spec["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
        spec["process"]["args"] = ["sh", "-c", "uname -m; ionice -p $$; sleep 30"]

    host = os.uname().machine
    out = tmp_path / "out"
    with open(out, "w") as f:
        cid = _running(rt, mutate, stdout=f)
    try:
        deadline = time.monotonic() + 10
        while len(out.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        machine, prio = out.read_text().splitlines()[:2]
        assert machine != host and machine in ("i686", "armv8l", "armv7l"), machine
        assert prio == "idle"
        res = cli(rt, "exec", cid, "sh", "-c", "uname -m; ionice -p $$")
        assert res.stdout.splitlines() == [machine, "idle"]
    finally:
        _stop(rt, cid)
    bad = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}
    bundle, _, _ = rt.bundle(["true"], overlay=False,
                             mutate=lambda s: s["linux"].update(personality=bad))
    res = cli(rt, "run", "--bundle", str(bundle), rt.ids[-1], check=False)
    assert res.returncode == 1 and "linux.personality: unsupported flags" in res.stderr


def test_exec_process_document_scheduler_and_io_priority(rt: Env, tmp_path: Path) -> None:
    # runc: an exec process's scheduler and ioPriority are the document's when it gives them,
    # else the container's (never the runtime's own, which the exec'd process is forked from).
    def mutate(spec: dict[str, Any]) -> None:
        spec["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
        spec["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}

    # /proc/self/stat: field 19 is the nice value, field 41 the policy (3 BATCH, 5 IDLE, 0 OTHER)
    probe = ["sh", "-c", "cut -d' ' -f19,41 /proc/$$/stat; ionice -p $$"]
    cid = _running(rt, mutate)
    try:
        doc = {"args": probe, "cwd": "/", "env": ["PATH=/bin"],
               "scheduler": {"policy": "SCHED_OTHER", "nice": 3},
               "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 5}}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        out = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid).stdout.splitlines()
        assert out == ["3 0", "best-effort: prio 5"]
        doc = {"args": probe, "cwd": "/", "env": ["PATH=/bin"]}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        out = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid).stdout.splitlines()
        assert out == ["7 3", "idle"]
        doc["scheduler"] = {"policy": "SCHED_FAST"}
        (tmp_path / "p.json").write_text(json.dumps(doc))
        res = cli(rt, "exec", "--process", str(tmp_path / "p.json"), cid, check=False)
        assert res.returncode != 0 and "unknown policy 'SCHED_FAST'" in res.stderr, res.stderr
    finally:
        _stop(rt, cid)
