"""The local base images, made on this machine so berth works offline.

- ``busybox:latest``: the host's static busybox with every applet linked in /bin, plus
  /etc/passwd and /etc/group (root, nobody); default command ``sh``.
- ``hello-world:latest``: one static program (``hello.c`` beside this file, compiled with
  the host's gcc) that explains what just happened.

``berth/registry:latest`` (``python -m berth.baseimages registry``, see ``registry.py``) is
built only when asked for: berth's registry server with the host's Python.

All are imported through the Engine API (``POST /images/create?fromSrc=-``), exactly as
``docker import`` would, so this module needs only a running daemon.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from importlib import resources
from pathlib import Path

from berth.testing.rootfs import busybox_rootfs_tar
from berth.testing.unixhttp import UnixHTTPConnection

__all__ = ["ensure_base_images", "hello_world_tar", "import_file", "main"]


def _request(host: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(host.removeprefix("unix://"), timeout=120)
    try:
        headers = {"Content-Type": "application/x-tar"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def hello_world_tar() -> bytes:
    """Compile hello.c statically and wrap it as a one-file rootfs tar."""
    source = resources.files("berth.baseimages").joinpath("hello.c").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "hello.c"
        src.write_text(source)
        out = Path(tmp) / "hello"
        subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(out), str(src)], check=True)
        data = out.read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = len(data)
        info.mode = 0o755
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _has_image(host: str, ref: str) -> bool:
    status, _ = _request(host, "GET", f"/images/{urllib.parse.quote(ref, safe=':/')}/json")
    return status == 200


def _import(host: str, repo: str, tag: str, tar: bytes, changes: list[str], message: str) -> str:
    query = [("fromSrc", "-"), ("repo", repo), ("tag", tag), ("message", message)]
    query += [("changes", c) for c in changes]
    status, body = _request(host, "POST", "/images/create?" + urllib.parse.urlencode(query), tar)
    if status != 200:
        raise RuntimeError(f"importing {repo}:{tag} failed ({status}): {body.decode(errors='replace')}")
    last = [line for line in body.decode().splitlines() if line.strip()][-1]
    return str(json.loads(last).get("status", ""))


def import_file(host: str, repo: str, tag: str, tar: Path, changes: list[str], message: str) -> str:
    """``docker import`` of a rootfs tar file (streamed, not read into memory); the image ID."""
    query = [("fromSrc", "-"), ("repo", repo), ("tag", tag), ("message", message)]
    query += [("changes", c) for c in changes]
    conn = UnixHTTPConnection(host.removeprefix("unix://"), timeout=600)
    try:
        with tar.open("rb") as body:
            conn.request("POST", "/images/create?" + urllib.parse.urlencode(query), body=body,
                         headers={"Content-Type": "application/x-tar",
                                  "Content-Length": str(tar.stat().st_size)})
            resp = conn.getresponse()
            status, data = resp.status, resp.read()
    finally:
        conn.close()
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    if status != 200 or not lines or "error" in lines[-1]:
        raise RuntimeError(f"importing {repo}:{tag} failed ({status}): {data.decode(errors='replace')}")
    return str(lines[-1].get("status", ""))


def ensure_base_images(host: str) -> list[str]:
    """Import busybox:latest and hello-world:latest into the daemon at ``host`` if absent."""
    made = []
    if not _has_image(host, "busybox:latest"):
        _import(host, "busybox", "latest", busybox_rootfs_tar(), ['CMD ["sh"]'],
                "busybox from the host's busybox-static")
        made.append("busybox:latest")
    if not _has_image(host, "hello-world:latest"):
        _import(host, "hello-world", "latest", hello_world_tar(), ['CMD ["/hello"]'],
                "hello-world, built locally")
        made.append("hello-world:latest")
    return made


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m berth.baseimages",
                                description="import berth's local base images if absent")
    p.add_argument("-H", "--host", default=os.environ.get("BERTH_HOST")
                   or os.environ.get("DOCKER_HOST") or "unix:///run/berth/berth.sock")
    p.add_argument("image", nargs="?", choices=["registry"],
                   help="also build this image (registry: berth/registry from the host's Python)")
    ns = p.parse_args(argv)
    if ns.image == "registry":
        from berth.baseimages.registry import REGISTRY_IMAGE, build_registry_image
        print(f"built {REGISTRY_IMAGE}: {build_registry_image(ns.host)}", file=sys.stderr)
        return
    for ref in ensure_base_images(ns.host):
        print(f"imported {ref}", file=sys.stderr)


if __name__ == "__main__":
    main()
