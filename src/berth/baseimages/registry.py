"""``berth/registry``: berth's registry server as an image, built from this machine's Python.

berth's registry server is Python, so the image carries an interpreter: the host
interpreter berth runs under (binary, libpython), the shared libraries ``ldd`` lists for it
and for every extension module taken along, the standard library (without its tests, GUI,
build config and installer wheels), the third-party packages the server imports, and
berth's own package. Everything goes under ``/usr/local`` (``PYTHONHOME=/usr/local``), C
libraries at their host paths, so the image needs nothing from a registry. The rootfs tar
is imported through the Engine API (``POST /images/create?fromSrc=-``), as ``docker
import`` would, with the command ``berth registry serve --listen 0.0.0.0:5000 --root
/var/lib/registry``, ``EXPOSE 5000`` and ``VOLUME /var/lib/registry``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["REGISTRY_IMAGE", "SERVER_MODULE", "build_registry_image", "registry_changes",
           "registry_rootfs_tar"]

REGISTRY_IMAGE = "berth/registry:latest"
SERVER_MODULE = "berth.registry.server.serve"
PREFIX = "usr/local"

# Parts of the standard library a registry server never imports (they are most of its size).
_STDLIB_SKIP = frozenset({"test", "site-packages", "idlelib", "tkinter", "turtledemo", "ensurepip",
                          "lib2to3", "pydoc_data", "distutils", "unittest", "__phello__"})
_PASSWD = "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"


def registry_changes() -> list[str]:
    """The image config, as ``docker import --change`` lines."""
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [
        f"ENV PYTHONHOME=/{PREFIX} LD_LIBRARY_PATH=/{PREFIX}/lib PYTHONDONTWRITEBYTECODE=1",
        f'ENTRYPOINT ["/{PREFIX}/bin/{ver}", "-m", "{SERVER_MODULE}", "serve"]',
        'CMD ["--listen", "0.0.0.0:5000", "--root", "/var/lib/registry"]',
        "EXPOSE 5000/tcp",
        "VOLUME /var/lib/registry",
    ]


def _server_packages(python: str) -> list[Path]:
    """Top-level third-party packages (dirs or single files) the server imports, found by
    importing it in a fresh interpreter and mapping its modules back to site-packages."""
    probe = ("import json, sys, site, " + SERVER_MODULE + "\n"
             "print(json.dumps({'files': [getattr(m, '__file__', None) or '' for m in "
             "list(sys.modules.values())], 'site': site.getsitepackages()}))")
    out = json.loads(subprocess.run([python, "-c", probe], check=True, capture_output=True,
                                    text=True).stdout)
    roots = [Path(s) for s in out["site"]]
    found: set[Path] = set()
    for name in out["files"]:
        path = Path(name)
        for root in roots:
            if path.is_relative_to(root):
                top = path.relative_to(root).parts[0]
                if not top.startswith("_distutils_hack"):
                    found.add(root / top)
    return sorted(found)


def _ldd(paths: Iterable[Path]) -> set[Path]:
    """Shared libraries (resolved host paths) the given ELF files need."""
    libs: set[Path] = set()
    for path in paths:
        res = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            parts = line.split()
            # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
            cand = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
            if cand.startswith("/"):
                libs.add(Path(cand))
    return libs


def _walk(top: Path) -> Iterator[Path]:
    if top.is_file():
        yield top
        return
    for path in sorted(top.rglob("*")):
        if "__pycache__" in path.parts and not path.name.endswith(
                f".{sys.implementation.cache_tag}.pyc"):
            continue
        # _tkinter would drag X11 and Tcl/Tk in through ldd.
        if path.name.endswith((".opt-1.pyc", ".opt-2.pyc")) or path.name.startswith("_tkinter"):
            continue
        yield path


class _Tar:
    """A rootfs tar being written: parent directories are added once, before their entries."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self._dirs: set[str] = set()
        self._mtime = int(time.time())

    def dir(self, name: str, mode: int = 0o755) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub and sub not in self._dirs:
                self._dirs.add(sub)
                info = tarfile.TarInfo(sub)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, self._mtime
                self._tar.addfile(info)

    def data(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.dir(name.rpartition("/")[0])
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, self._mtime
        self._tar.addfile(info, io.BytesIO(data))

    def file(self, name: str, src: Path) -> None:
        """Add ``src`` under ``name``, following symlinks (libraries are often links)."""
        self.dir(name.rpartition("/")[0])
        real = src.resolve()
        if real.is_dir():
            self.dir(name)
            return
        info = self._tar.gettarinfo(str(real), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with real.open("rb") as f:
            self._tar.addfile(info, f)

    def symlink(self, name: str, target: str) -> None:
        self.dir(name.rpartition("/")[0])
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, self._mtime
        self._tar.addfile(info)

    def tree(self, dest: str, src: Path) -> list[Path]:
        """Copy a file or directory tree; returns the ELF shared objects it held."""
        elves: list[Path] = []
        for path in _walk(src):
            rel = path.relative_to(src) if path != src else Path()
            name = f"{dest}/{rel}" if rel.parts else dest
            if path.is_symlink() and not path.exists():
                continue
            if path.is_dir():
                self.dir(name)
                continue
            self.file(name, path)
            if path.suffix == ".so" or ".so." in path.name:
                elves.append(path)
        return elves


def registry_rootfs_tar(out: Path, python: str | None = None) -> Path:
    """Write the ``berth/registry`` rootfs tar to ``out``; ``python`` is the interpreter
    whose standard library and packages go in (default: the one running this)."""
    python = python or sys.executable
    exe = Path(python).resolve()
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    import berth  # the package itself (src/ in an editable install)
    berth_dir = Path(berth.__file__).parent
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as raw:
        tar = _Tar(raw)
        for d in ("dev", "proc", "sys", "etc", "root", "var/lib/registry"):
            tar.dir(d)
        tar.dir("tmp", 0o1777)
        tar.data("etc/passwd", _PASSWD.encode())
        tar.data("etc/group", _GROUP.encode())
        tar.file(f"{PREFIX}/bin/{ver}", exe)
        tar.symlink(f"{PREFIX}/bin/python3", ver)
        elves = [exe]
        for entry in sorted(stdlib.iterdir()):
            if entry.name in _STDLIB_SKIP or entry.name.startswith("config-"):
                continue
            elves += tar.tree(f"{PREFIX}/lib/{ver}/{entry.name}", entry)
        site = f"{PREFIX}/lib/{ver}/site-packages"
        for pkg in _server_packages(python):
            elves += tar.tree(f"{site}/{pkg.name}", pkg)
        tar.tree(f"{site}/berth", berth_dir)
        for lib in sorted(_ldd(elves)):
            # libpython and friends from the interpreter's own prefix go to /usr/local/lib
            # (LD_LIBRARY_PATH); system libraries keep their host paths.
            if lib.is_relative_to(exe.parent.parent):
                tar.file(f"{PREFIX}/lib/{lib.name}", lib)
            else:
                tar.file(str(lib).lstrip("/"), lib)
    return out


def build_registry_image(host: str, python: str | None = None) -> str:
    """Build the rootfs and import it as ``berth/registry:latest`` into the daemon at
    ``host``; returns the image ID."""
    from berth.baseimages import import_file
    with tempfile.TemporaryDirectory(prefix="berth-registry-image-") as tmp:
        tar = registry_rootfs_tar(Path(tmp) / "rootfs.tar", python)
        repo, _, tag = REGISTRY_IMAGE.partition(":")
        return import_file(host, repo, tag, tar, registry_changes(),
                           "berth registry server, built from the host's Python")
