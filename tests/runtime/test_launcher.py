"""The berth-runtime launcher that ``make venv`` writes (berth.runtime.cli.launcher)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from berth.runtime.cli import launcher

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_written_launcher_runs_the_runtime_on_a_qualifying_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "berth-runtime"
    done = subprocess.run([sys.executable, "-m", "berth.runtime.cli.launcher", str(out), str(SRC)],
                          capture_output=True, text=True, check=True)
    first = out.read_text().splitlines()[0]
    assert first.startswith("#!") and first.endswith(" -S")
    python = first[2:-3]
    assert python in launcher.candidates()
    assert done.stdout.strip() == f"berth-runtime runs on {python}"
    assert os.access(out, os.X_OK)
    tag = subprocess.run([python, "-S", "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert tag == sys.implementation.cache_tag
    features = subprocess.run([str(out), "features"], capture_output=True, text=True, check=True)
    assert json.loads(features.stdout)["ociVersionMax"].startswith("1.")
    # No site step: the runtime runs on the standard library and src/ alone.
    probe = subprocess.run([python, "-S", "-c", "import sys; print('site' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


def test_an_interpreter_that_cannot_run_the_runtime_is_never_chosen(tmp_path: Path) -> None:
    # /bin/true exits 0 but prints no bytecode tag; a missing path cannot start at all.
    chosen = launcher.choose(["/bin/true", str(tmp_path / "missing"), sys.executable], rounds=3)
    assert chosen == sys.executable


def test_no_usable_interpreter_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no usable interpreter"):
        launcher.choose([str(tmp_path / "missing"), "/bin/true"], rounds=1)


def test_usage_error_without_two_arguments() -> None:
    with pytest.raises(SystemExit, match="usage"):
        launcher.main(["only-one"])


def test_pythonpath_comes_before_the_script_s_src(tmp_path: Path) -> None:
    out = tmp_path / "berth-runtime"
    out.write_text(launcher.script(sys.executable, str(SRC)))
    out.chmod(0o755)
    shadow = tmp_path / "shadow" / "berth" / "runtime" / "cli"
    shadow.mkdir(parents=True)
    for pkg in (shadow.parent.parent, shadow.parent):
        (pkg / "__init__.py").write_text("")
    (shadow / "__init__.py").write_text("def main():\n    print('worktree')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    done = subprocess.run([str(out)], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "worktree"
