"""berth-runtime, the command: runc's contract driven as containerd/Docker and the OCI suite drive it.

Each test runs the real console script against a real busybox bundle; the conftest's ``rt``
removes every container, cgroup and temp dir even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import Env

pytestmark = pytest.mark.root

RUNTIME = str(Path(sys.executable).parent / "berth-runtime")


def cli(env: Env, *args: str, check: bool = True, stdout: Any = None,
        stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """Run the command. Output goes through files, not pipes: a created container's init
    inherits the command's stdio (as with runc), so a pipe would stay open after it returns."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run([RUNTIME, "--root", str(env.state_root), *args], text=True,
                              stdout=stdout or out, stderr=err, stdin=stdin, timeout=60)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    if check:
        assert result.returncode == 0, result.stderr
    return result


def reap(pid: int) -> None:
    # The init may have been reparented to us (pytest can be a subreaper): collect it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_status(env: Env, cid: str, want: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st: dict[str, Any] = json.loads(cli(env, "state", cid).stdout)
        if st["status"] == want or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def test_create_waits_until_start_then_runs(rt: Env, tmp_path: Path) -> None:
    bundle, _, _ = rt.bundle(["sh", "-c", "echo started; sleep 30"], overlay=False)
    cid = rt.ids[-1]
    out = tmp_path / "out"
    pid_file = tmp_path / "pid"
    with open(out, "w") as f:
        cli(rt, "create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid, stdout=f)
    pid = int(pid_file.read_text())
    st = json.loads(cli(rt, "state", cid).stdout)
    assert st["status"] == "created" and st["pid"] == pid and st["id"] == cid
    assert st["bundle"] == str(bundle) and st["ociVersion"]
    time.sleep(0.2)
    assert out.read_text() == ""  # the init waits for start
    listed = json.loads(cli(rt, "list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid]
    cli(rt, "start", cid)
    assert wait_status(rt, cid, "running")["status"] == "running"
    deadline = time.monotonic() + 10
    while out.read_text() != "started\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text() == "started\n"
    again = cli(rt, "start", cid, check=False)
    assert again.returncode == 1 and "running" in again.stderr
    refused = cli(rt, "delete", cid, check=False)
    assert refused.returncode == 1
    assert f"cannot delete container {cid} that is not stopped: running" in refused.stderr
    assert json.loads(cli(rt, "ps", "--format", "json", cid).stdout) == [pid]
    cli(rt, "kill", cid, "KILL")
    assert wait_status(rt, cid, "stopped")["status"] == "stopped"
    reap(pid)
    cli(rt, "delete", cid)
    gone = cli(rt, "state", cid, check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    assert cli(rt, "list", "--format", "json").stdout.strip() == "null"


def test_run_foreground_exit_code_and_output(rt: Env) -> None:
    bundle, _, _ = rt.bundle(["sh", "-c", "echo out; echo err >&2; exit 7"], overlay=False)
    cid = rt.ids[-1]
    proc = cli(rt, "run", "--bundle", str(bundle), cid, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, "out\n", "err\n")
    assert cli(rt, "state", cid, check=False).returncode == 1  # run deletes it
    bundle, _, _ = rt.bundle(["true"], overlay=False)
    cid = rt.ids[-1]
    cli(rt, "run", "--keep", "--no-subreaper", "--bundle", str(bundle), cid)
    assert json.loads(cli(rt, "state", cid).stdout)["status"] == "stopped"  # --keep: still there
    cli(rt, "delete", cid)


def test_kill_signal_names_and_numbers(rt: Env) -> None:
    bundle, _, _ = rt.bundle(["sleep", "30"], overlay=False)
    cid = rt.ids[-1]
    cli(rt, "run", "--detach", "--bundle", str(bundle), cid)
    bad = cli(rt, "kill", cid, "NOSUCH", check=False)
    assert bad.returncode == 1 and "unknown signal" in bad.stderr
    pid = json.loads(cli(rt, "state", cid).stdout)["pid"]
    cli(rt, "kill", "--all", cid, "9")
    assert wait_status(rt, cid, "stopped")["status"] == "stopped"
    reap(pid)
    cli(rt, "delete", cid)


def test_exec_args_process_file_and_detach(rt: Env, tmp_path: Path) -> None:
    bundle, _, _ = rt.bundle(["sleep", "30"], overlay=False)
    cid = rt.ids[-1]
    cli(rt, "run", "-d", "--bundle", str(bundle), cid)
    proc = cli(rt, "exec", "--env", "FOO=bar", "--cwd", "/tmp", cid,
               "sh", "-c", "echo $FOO; pwd; exit 3", check=False)
    assert (proc.returncode, proc.stdout) == (3, "bar\n/tmp\n")
    spec = {"args": ["id", "-u"], "env": ["PATH=/bin"], "cwd": "/",
            "user": {"uid": 1000, "gid": 1000}}
    (tmp_path / "process.json").write_text(json.dumps(spec))
    proc = cli(rt, "exec", "--process", str(tmp_path / "process.json"), cid)
    assert proc.stdout == "1000\n"
    pid_file = tmp_path / "exec.pid"
    cli(rt, "exec", "--detach", "--pid-file", str(pid_file), cid, "sleep", "30")
    exec_pid = int(pid_file.read_text())
    assert exec_pid in json.loads(cli(rt, "ps", "--format", "json", cid).stdout)
    cli(rt, "delete", "--force", cid)
    reap(exec_pid)


def test_exec_into_a_container_without_mount_namespace_lands_in_its_root(rt: Env) -> None:
    # The init is only chrooted there: joining its (our own) mount namespace is not enough.
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                       if n["type"] != "mount"]

    bundle, _, _ = rt.bundle(["sleep", "30"], overlay=False, mutate=mutate)
    (bundle / "rootfs" / "only-in-rootfs").write_text("inside\n")
    cid = rt.ids[-1]
    cli(rt, "run", "-d", "--bundle", str(bundle), cid)
    assert cli(rt, "exec", cid, "cat", "/only-in-rootfs").stdout == "inside\n"
    pid = json.loads(cli(rt, "state", cid).stdout)["pid"]
    cli(rt, "delete", "--force", cid)
    reap(pid)
    assert str(bundle) not in Path("/proc/self/mountinfo").read_text()


def test_read_only_root_without_mount_namespace_stays_on_the_rootfs(rt: Env) -> None:
    # Chrooted only: "/" must mean the rootfs bind, never the caller's root. Run inside a
    # throw-away mount namespace so a regression could not make the host's root read-only.
    def mutate(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                       if n["type"] != "mount"]
        spec["root"]["readonly"] = True

    bundle, _, _ = rt.bundle(["sh", "-c", "touch /x 2>/dev/null || echo read-only"],
                             overlay=False, mutate=mutate)
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             '"$@"; grep " / / " /proc/self/mountinfo', "sh",
             RUNTIME, "--root", str(rt.state_root), "run", "--bundle", str(bundle), rt.ids[-1]],
            stdout=out, stderr=subprocess.STDOUT, timeout=60)
        out.seek(0)
        lines = out.read().splitlines()
    assert proc.returncode == 0 and lines[0] == "read-only", lines
    assert lines[1].split()[5].split(",")[0] == "rw", lines  # the namespace root is untouched


def test_pause_resume_update_events(rt: Env, tmp_path: Path) -> None:
    bundle, _, _ = rt.bundle(["sleep", "30"], overlay=False)
    cid = rt.ids[-1]
    cli(rt, "run", "-d", "--bundle", str(bundle), cid)
    cli(rt, "pause", cid)
    assert json.loads(cli(rt, "state", cid).stdout)["status"] == "paused"
    assert "paused" in cli(rt, "delete", cid, check=False).stderr
    cli(rt, "resume", cid)
    assert json.loads(cli(rt, "state", cid).stdout)["status"] == "running"
    (tmp_path / "res.json").write_text(json.dumps({"pids": {"limit": 42}}))
    cli(rt, "update", "--resources", str(tmp_path / "res.json"), cid)
    pids_dir = Path(json.loads((rt.state_root / cid / "state.json").read_text())
                    ["cgroup_paths"]["pids"])
    assert (pids_dir / "pids.max").read_text().strip() == "42"
    cli(rt, "update", "--pids-limit", "43", cid)
    assert (pids_dir / "pids.max").read_text().strip() == "43"
    stats = json.loads(cli(rt, "events", "--stats", cid).stdout)
    assert stats["type"] == "stats" and stats["data"]["pids"]["current"] == 1
    cli(rt, "delete", "-f", cid)


def test_console_socket_receives_the_pty_master(rt: Env, tmp_path: Path) -> None:
    def terminal(spec: dict[str, Any]) -> None:
        spec["process"]["terminal"] = True
    bundle, _, _ = rt.bundle(["sh", "-c", "tty; echo hello-tty; sleep 30"], overlay=False,
                             mutate=terminal)
    cid = rt.ids[-1]
    no_socket = cli(rt, "create", "--bundle", str(bundle), cid, check=False)
    assert no_socket.returncode == 1 and "console socket" in no_socket.stderr
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        cli(rt, "create", "--bundle", str(bundle), "--console-socket", path, cid)
        conn, _ = server.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    try:
        cli(rt, "start", cid)
        seen = b""
        deadline = time.monotonic() + 10
        while b"hello-tty" not in seen and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                seen += os.read(master, 4096)
        assert b"/dev/pts/0" in seen and b"hello-tty" in seen
    finally:
        os.close(master)
        cli(rt, "delete", "-f", cid)


def test_hooks_get_the_state_on_stdin(rt: Env) -> None:
    out = rt.base / "hooks"
    out.mkdir()

    def hooks(spec: dict[str, Any]) -> None:
        spec["annotations"] = {"k": "v"}
        spec["hooks"] = {phase: [{"path": "/bin/busybox",
                                  "args": ["sh", "-c", f"cat > {out}/{phase}"]}]
                         for phase in ("createRuntime", "prestart", "createContainer",
                                       "poststart", "poststop")}
    bundle, _, _ = rt.bundle(["true"], overlay=False, mutate=hooks)
    cid = rt.ids[-1]
    cli(rt, "create", "--bundle", str(bundle), cid)
    pid = json.loads(cli(rt, "state", cid).stdout)["pid"]
    for phase in ("createRuntime", "prestart", "createContainer"):
        st = json.loads((out / phase).read_text())
        assert (st["id"], st["pid"], st["bundle"], st["annotations"]) == \
            (cid, pid, str(bundle), {"k": "v"})
    cli(rt, "start", cid)
    assert json.loads((out / "poststart").read_text())["id"] == cid
    wait_status(rt, cid, "stopped")
    reap(pid)
    cli(rt, "delete", cid)
    assert json.loads((out / "poststop").read_text())["pid"] == pid


def test_failing_prestart_hook_fails_create_and_leaves_nothing(rt: Env) -> None:
    def hooks(spec: dict[str, Any]) -> None:
        spec["hooks"] = {"prestart": [{"path": "/bin/busybox", "args": ["false"]}]}
    bundle, _, _ = rt.bundle(["true"], overlay=False, mutate=hooks)
    cid = rt.ids[-1]
    proc = cli(rt, "create", "--bundle", str(bundle), cid, check=False)
    assert proc.returncode == 1 and "prestart hook" in proc.stderr
    assert not (rt.state_root / cid).exists()


def test_bad_input_errors(rt: Env, tmp_path: Path) -> None:
    bad = cli(rt, "state", "../x", check=False)
    assert bad.returncode == 1 and "invalid id format" in bad.stderr
    missing = cli(rt, "kill", "nosuch", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert cli(rt, "delete", "--force", "nosuch").returncode == 0
    cli(rt, "spec", "--bundle", str(tmp_path))
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    again = cli(rt, "spec", "--bundle", str(tmp_path), check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    features = json.loads(cli(rt, "features").stdout)
    assert "prestart" in features["hooks"] and "pid" in features["linux"]["namespaces"]
    assert "SCMP_ACT_NOTIFY" in features["linux"]["seccomp"]["actions"]
    log = tmp_path / "log.json"
    proc = cli(rt, "--log", str(log), "--log-format", "json", "state", "nosuch", check=False)
    assert proc.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_module_forms_run_cleanly_and_the_entry_point_loads_nothing_more() -> None:
    # ``python -m berth.runtime.cli.main`` once printed runpy's RuntimeWarning (the package
    # imported its main module); -W error turns any warning into a failure.
    for module in ("berth.runtime.cli.main", "berth.runtime.cli"):
        for args in (["--version"], ["state", "nosuch"]):
            out = subprocess.run([sys.executable, "-W", "error", "-m", module, "--root",
                                  tempfile.gettempdir(), *args],
                                 capture_output=True, text=True, timeout=60, check=False)
            if args == ["--version"]:
                assert (out.returncode, out.stderr) == (0, ""), out.stderr
                assert out.stdout.startswith("berth-runtime version")
            else:
                assert out.returncode == 1 and out.stderr.count("\n") == 1 \
                    and "nosuch does not exist" in out.stderr, \
                    out.stderr
    # The console script's import gives the entry point and loads what the command module does.
    code = ("import sys; from berth.runtime.cli import main; "
            "print(main.__name__, ' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    name, _, loaded = out.stdout.partition(" ")
    assert name == "console_main"
    assert set(loaded.split()) == _loaded("berth.runtime.cli.main")


def _loaded(*modules: str) -> set[str]:
    # -S as the berth-runtime script runs (site would load its own modules); our sys.path finds berth.
    code = f"import sys, {', '.join(modules)}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return set(out.stdout.split())


def test_command_start_up_stays_lean() -> None:
    # What each command imports is most of its time (bench/README.md, "berth-runtime").
    heavy = {"dataclasses", "inspect", "argparse", "subprocess", "shutil", "socket", "datetime", "typing",
             "pathlib", "fnmatch", "urllib.parse", "ipaddress"}
    run_path = _loaded("berth.runtime.cli.main", "berth.runtime.cli.lifecycle",
                       "berth.runtime.container")
    assert heavy & run_path == set()
    # start, state, kill and delete load nothing of the create path.
    others = _loaded("berth.runtime.cli.main", "berth.runtime.cli.lifecycle")
    assert {"ctypes", "berth.runtime.container", "berth.runtime.rootfs"} & others == set()
    # exec neither: it joins namespaces and needs no mounts or devices.
    exec_path = _loaded("berth.runtime.cli.main", "berth.runtime.cli.processes")
    assert {"berth.runtime.container", "berth.runtime.rootfs", "berth.runtime.devices"} & exec_path == set()
    # typing exists for the type checker only (``TYPE_CHECKING = False`` in each runtime module);
    # paths are str (pathlib brings fnmatch, urllib.parse and ipaddress).
    assert {"typing", "pathlib"} & (exec_path | others) == set()
    # JSON goes through _json directly (berth.runtime._fastjson), contextlib.suppress is
    # berth.runtime._suppress, signal is _signal, collections.abc names are for mypy only, and no
    # regular expression or Enum is built: json, re, enum, functools and collections stay out.
    stdlib_heavy = {"json", "json.decoder", "json.scanner", "json.encoder", "re", "enum", "functools",
                    "collections", "collections.abc", "contextlib", "signal"}
    assert stdlib_heavy & (run_path | exec_path | others) == set()
    # libc is bound through _ctypes (berth._libc); the ctypes package (~2.5 ms) comes only with
    # libseccomp's bindings, which a spec without linux.seccomp never loads.
    assert {"ctypes", "ctypes._endian", "berth.runtime._libseccomp"} & (run_path | exec_path) == set()
    # The create path imports what a spec's seccomp, terminal, id mappings or AppArmor profile
    # need only when the spec has them (in the caller, before the init pivots away from berth).
    assert {"berth.runtime.seccomp", "berth.runtime.bpfcache", "berth.runtime.seccompnotify", "termios",
            "berth.runtime.console", "berth.runtime.userns", "berth.runtime.apparmor"} & run_path == set()
