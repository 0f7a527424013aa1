"""The ``berth/registry`` image, run the way the seed runs Docker's registry:
``run -d -p 127.0.0.1:PORT:5000 -v data:/var/lib/registry berth/registry``; an image pushed
through berthd survives the container (it lives in the named volume) and is pulled back
through a new container on the same volume."""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request

from berth.baseimages.registry import REGISTRY_IMAGE, build_registry_image
from tests.registry.helpers import free_port


def _wait_ready(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as resp:
                assert resp.status == 200
                return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_registry_image_keeps_pushed_images_in_its_volume(daemon, made) -> None:
    t0 = time.monotonic()
    image_id = build_registry_image(daemon.host)
    built_in = time.monotonic() - t0
    info = json.loads(daemon.docker("image", "inspect", REGISTRY_IMAGE, check=True).stdout)[0]
    assert info["Id"] == image_id
    assert info["Config"]["ExposedPorts"] == {"5000/tcp": {}}
    assert info["Config"]["Volumes"] == {"/var/lib/registry": {}}
    # Not a speed assertion: a build that takes minutes would make the suite too slow.
    print(f"berth/registry built in {built_in:.1f}s, {info['Size'] / 1e6:.0f} MB")

    suffix = secrets.token_hex(4)
    volume, port = f"regdata-{suffix}", free_port()
    made["volumes"].append(volume)
    first, second = f"reg1-{suffix}", f"reg2-{suffix}"
    made["containers"] += [first, second]
    ref = f"127.0.0.1:{port}/seed/busybox:{suffix}"
    made["images"].append(ref)

    run = daemon.docker("run", "-d", "--name", first, "-p", f"127.0.0.1:{port}:5000",
                        "-v", f"{volume}:/var/lib/registry", "berth/registry")
    assert run.returncode == 0, run.stderr.decode()
    _wait_ready(port)
    assert daemon.docker("tag", "busybox", ref).returncode == 0
    push = daemon.docker("push", ref, timeout=120)
    assert push.returncode == 0, push.stdout.decode() + push.stderr.decode()
    assert f"{suffix}: digest: sha256:" in push.stdout.decode()
    pushed_digest = push.stdout.decode().split("digest: ")[1].split()[0]

    # The registry's files are in the named volume, not in the container.
    assert daemon.docker("rm", "-f", first).returncode == 0
    assert daemon.docker("rmi", ref).returncode == 0
    mounted = json.loads(daemon.docker("volume", "inspect", volume, check=True).stdout)[0]
    assert mounted["Name"] == volume

    run = daemon.docker("run", "-d", "--name", second, "-p", f"127.0.0.1:{port}:5000",
                        "-v", f"{volume}:/var/lib/registry", "berth/registry")
    assert run.returncode == 0, run.stderr.decode()
    _wait_ready(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/_catalog", timeout=5) as resp:
        assert json.load(resp)["repositories"] == ["seed/busybox"]
    pull = daemon.docker("pull", ref, timeout=120)
    assert pull.returncode == 0, pull.stdout.decode() + pull.stderr.decode()
    assert f"Digest: {pushed_digest}" in pull.stdout.decode()
    out = daemon.docker("run", "--rm", ref, "echo", "pulled back")
    assert out.stdout.decode().strip() == "pulled back"
    logs = daemon.docker("logs", second).stdout.decode() + daemon.docker("logs", second).stderr.decode()
    assert "berth registry listening on http://0.0.0.0:5000 (root /var/lib/registry)" in logs
