"""Write the ``berth-runtime`` launcher script: which interpreter runs it, and how it finds berth.

berth-runtime is started once per container operation (runc's command contract), so CPython's
own start-up is a large part of every command (bench/README.md, issue 11). The script therefore:

- runs ``python -S``: no site step (site-packages, ``.pth`` files), since the runtime needs only
  the standard library and berth's own ``src/``, which the script puts on ``sys.path`` itself
  (after ``PYTHONPATH``, so a worktree's tree still wins);
- runs on the quickest-starting CPython of the venv's version that is installed. Distribution
  builds (Debian's ``/usr/bin/python3.11``) are compiled with profile-guided and link-time
  optimisation and link libpython statically, and start ~3 ms sooner than an unoptimised
  ``--enable-shared`` build such as pyenv's default; the choice is measured, not assumed.
  Only interpreters with the venv's bytecode tag qualify, so the ``.pyc`` files that
  ``make venv`` compiles serve both.

Run by ``make venv``: ``python -m berth.runtime.cli.launcher OUT SRC``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["candidates", "choose", "main", "script"]

# What every runtime command imports from the standard library beyond the interpreter's own.
_PROBE = "import ctypes, _json, termios, resource"
_ROUNDS = 9


def candidates(executable: str = sys.executable) -> list[str]:
    """The venv's interpreter first, then the system's CPython of the same minor version."""
    found = [executable]
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if os.path.realpath(system) != os.path.realpath(executable) and os.access(system, os.X_OK):
        found.append(system)
    return found


def _qualifies(python: str) -> bool:
    """Same bytecode tag as this interpreter, and the runtime's standard modules import."""
    try:
        code = f"{_PROBE}; import sys; print(sys.implementation.cache_tag)"
        out = subprocess.run([python, "-S", "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == sys.implementation.cache_tag


def _start_ms(python: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-S", "-c", _PROBE], check=True)
    return (time.perf_counter() - start) * 1000


def choose(pythons: Sequence[str], rounds: int = _ROUNDS) -> str:
    """The qualifying interpreter with the lowest median start-up, measured in alternation.

    The first one wins unless another is at least 10% quicker, so noise on a busy machine does
    not flip the choice between two equal builds.
    """
    usable = [p for p in pythons if _qualifies(p)]
    if not usable:
        raise SystemExit(f"no usable interpreter among {', '.join(pythons)}")
    times: dict[str, list[float]] = {p: [] for p in usable}
    for _ in range(rounds):
        for p in usable:
            times[p].append(_start_ms(p))
    best = usable[0]
    for p in usable[1:]:
        if statistics.median(times[p]) < 0.9 * statistics.median(times[best]):
            best = p
    return best


def script(python: str, src: str) -> str:
    return (f"#!{python} -S\n"
            "import sys\n"
            f"sys.path.append({src!r})\n"
            "from berth.runtime.cli import main\n"
            "main()\n")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        raise SystemExit("usage: python -m berth.runtime.cli.launcher OUT SRC")
    out, src = args
    python = choose(candidates())
    tmp = f"{out}.tmp"
    with open(tmp, "w") as f:
        f.write(script(python, os.path.abspath(src)))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    print(f"berth-runtime runs on {python}")


if __name__ == "__main__":
    main()
