"""Dockerfile builds end to end: the real docker CLI (classic builder and its default), the
docker SDK's images.build and ``berth build``, against the session's berthd."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import docker

from tests.conftest import Daemon, start_berthd, stop_berthd
from tests.daemon.apihttp import request


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _build(daemon: Daemon, ctx: Path, *args: str, classic: bool = True):
    env = dict(daemon.env)
    if classic:
        env["DOCKER_BUILDKIT"] = "0"
    import subprocess

    return subprocess.run(["docker", "build", *args, str(ctx)], env=env, capture_output=True,
                          timeout=120)


def _inspect(daemon: Daemon, ref: str) -> dict:
    r = daemon.docker("image", "inspect", ref)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _no_build_containers(daemon: Daemon) -> None:
    r = daemon.docker("ps", "-aq", "--filter", "label=berth.build")
    assert r.stdout.strip() == b"", "a build container was left behind"


def test_three_line_layered_build(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    ctx = _write(tmp_path, {"test": "hello\n",
                            "Dockerfile": "FROM busybox\nCOPY test /tmp/test\nRUN mkdir /tmp/testdir\n"})
    cleanup_images.append("layered:1")
    r = _build(daemon, ctx, "-t", "layered:1")
    # COPY mounts its snapshot in a private mount namespace: nothing of it on the host.
    assert str(daemon.data_root) not in Path("/proc/self/mountinfo").read_text()
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    base = _inspect(daemon, "busybox")["Id"].removeprefix("sha256:")[:12]
    lines = [line for line in out.splitlines() if line.strip()]
    start = lines.index("Step 1/3 : FROM busybox")
    assert lines[start:start + 3] == ["Step 1/3 : FROM busybox", f" ---> {base}",
                                      "Step 2/3 : COPY test /tmp/test"]
    assert any(line.startswith(" ---> Running in ") for line in lines)
    run_ix = next(i for i, line in enumerate(lines) if line.startswith(" ---> Running in "))
    cid = lines[run_ix].split()[-1]
    assert lines[run_ix + 1] == f"Removing intermediate container {cid}"
    image = _inspect(daemon, "layered:1")
    assert lines[-2:] == [f"Successfully built {image['Id'][7:19]}", "Successfully tagged layered:1"]
    busybox_layers = _inspect(daemon, "busybox")["RootFS"]["Layers"]
    assert len(image["RootFS"]["Layers"]) == len(busybox_layers) + 2
    hist = json.loads(request(str(daemon.socket), "GET", "/images/layered:1/history")[2])
    created_by = [h["CreatedBy"] for h in hist[:2]]
    assert created_by[0] == "/bin/sh -c mkdir /tmp/testdir"
    assert created_by[1].startswith("/bin/sh -c #(nop) COPY file:")
    assert created_by[1].endswith(" in /tmp/test ")
    r = daemon.docker("run", "--rm", "layered:1", "sh", "-c",
                      "cat /tmp/test; test -d /tmp/testdir && echo dir")
    assert r.stdout == b"hello\ndir\n", r.stderr
    _no_build_containers(daemon)


def test_config_instructions_with_sdk(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    _write(tmp_path, {"Dockerfile": (
        "FROM busybox\n"
        "ARG VERSION=1.0\n"
        "ENV APP_HOME=/srv/app NAME=\"my app\" \\\n    VER=${VERSION}\n"
        "EXPOSE 80/tcp 53/udp\n"
        "LABEL org.example.version=$VER description=\"a test\"\n"
        "WORKDIR $APP_HOME\n"
        "WORKDIR sub\n"
        "USER nobody\n"
        "VOLUME /data\n"
        "STOPSIGNAL SIGQUIT\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]\n"
        "CMD [\"echo $NAME\"]\n"
        "ONBUILD RUN echo triggered\n")})
    client = docker.DockerClient(base_url=daemon.host)
    try:
        _, logs = client.images.build(path=str(tmp_path), tag="cfg:1", labels={"via": "sdk"},
                                          buildargs={"VERSION": "2.5"})
        cleanup_images.append("cfg:1")
        text = "".join(x.get("stream", "") for x in logs)
        assert "Successfully built" in text
        cfg = client.api.inspect_image("cfg:1")["Config"]
    finally:
        client.close()
    assert {"APP_HOME=/srv/app", "NAME=my app", "VER=2.5"} <= set(cfg["Env"])
    assert any(e.startswith("PATH=") for e in cfg["Env"])
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Labels"] == {"org.example.version": "2.5", "description": "a test", "via": "sdk"}
    assert cfg["WorkingDir"] == "/srv/app/sub"
    assert cfg["User"] == "nobody"
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["echo $NAME"]
    assert cfg["OnBuild"] == ["RUN echo triggered"]
    r = daemon.docker("run", "--rm", "cfg:1")
    assert r.stdout == b"my app\n", r.stderr
    # The ONBUILD trigger runs in a child build, and the child does not inherit it.
    child = _write(tmp_path / "child", {"Dockerfile": "FROM cfg:1\nENV X=1\n"})
    cleanup_images.append("cfg:child")
    r = _build(daemon, child, "-t", "cfg:child")
    assert r.returncode == 0, r.stderr
    assert "# Executing 1 build trigger" in r.stdout.decode() and "triggered" in r.stdout.decode()
    assert _inspect(daemon, "cfg:child")["Config"]["OnBuild"] is None


def test_metadata_steps_add_empty_layer_history(daemon: Daemon, tmp_path: Path,
                                               cleanup_images: list[str]) -> None:
    _write(tmp_path, {"Dockerfile": "FROM busybox\nENV A=b\nRUN true\nCMD [\"sh\"]\n"})
    cleanup_images.append("meta:1")
    assert _build(daemon, tmp_path, "-t", "meta:1").returncode == 0
    image = _inspect(daemon, "meta:1")
    assert image["RootFS"]["Layers"] == _inspect(daemon, "busybox")["RootFS"]["Layers"]
    hist = json.loads(request(str(daemon.socket), "GET", "/images/meta:1/history")[2])
    assert [h["CreatedBy"] for h in hist[:3]] == [
        '/bin/sh -c #(nop)  CMD ["sh"]', "/bin/sh -c true", "/bin/sh -c #(nop)  ENV A=b"]


def test_multistage_with_berth_cli(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    _write(tmp_path, {"src/hello.txt": "source\n", "Dockerfile": (
        "ARG BASE=busybox\n"
        "FROM ${BASE} AS builder\n"
        "WORKDIR /build\n"
        "COPY src/ ./\n"
        "RUN tr a-z A-Z < hello.txt > artifact && mkdir -p /build/out && mv artifact /build/out/\n"
        "FROM busybox AS unused\n"
        "RUN exit 9\n"
        "FROM busybox\n"
        "COPY --from=builder /build/out/artifact /app/\n"
        "COPY --from=0 --chown=nobody:nobody /build/hello.txt /app/copy.txt\n"
        "CMD [\"cat\", \"/app/artifact\"]\n")})
    cleanup_images += ["ms:final", "ms:builder"]
    r = daemon.berth("build", "-t", "ms:builder", "--target", "builder", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Step 1/4 : FROM ${BASE} AS builder" in r.stdout.decode()
    # The whole file would fail in the "unused" stage: build the target only, then all of it.
    iid = tmp_path / "iid"
    r = daemon.berth("build", "-t", "ms:final", "--iidfile", str(iid), str(tmp_path))
    assert r.returncode == 9, r.stdout
    r = daemon.berth("build", "-f", "-", "-t", "ms:final", "--iidfile", str(iid), str(tmp_path),
                     input=(tmp_path / "Dockerfile").read_bytes().replace(b"RUN exit 9", b"RUN true"))
    assert r.returncode == 0, r.stderr
    assert iid.read_text() == _inspect(daemon, "ms:final")["Id"]
    r = daemon.docker("run", "--rm", "ms:final", "sh", "-c", "cat /app/artifact; stat -c %U /app/copy.txt; "
                      "test -e /build || echo clean")
    assert r.stdout == b"SOURCE\nnobody\nclean\n", r.stderr


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_add_tar_and_url(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    served = _write(tmp_path / "www", {"remote.txt": "from the web\n"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as tar:
            for name, data in (("a.txt", b"A\n"), ("sub/b.txt", b"B\n")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        port = server.server_address[1]
        _write(ctx, {"Dockerfile": (
            "FROM busybox\n"
            "ADD bundle.tar.gz /unpacked/\n"
            "COPY bundle.tar.gz /copied/\n"
            f"ADD http://127.0.0.1:{port}/remote.txt /dl/\n")})
        cleanup_images.append("add:1")
        r = _build(daemon, ctx, "-t", "add:1", "--network", "host")
        assert r.returncode == 0, r.stderr + r.stdout
    finally:
        server.shutdown()
        server.server_close()
    r = daemon.docker("run", "--rm", "add:1", "sh", "-c",
                      "cat /unpacked/a.txt /unpacked/sub/b.txt /dl/remote.txt; ls /copied; "
                      "stat -c %a /dl/remote.txt")
    assert r.stdout == b"A\nB\nfrom the web\nbundle.tar.gz\n600\n", r.stderr


def _cached_steps(output: bytes) -> list[int]:
    steps, step = [], 0
    for line in output.decode().splitlines():
        if line.startswith("Step "):
            step = int(line.split()[1].split("/")[0])
        elif line == " ---> Using cache":
            steps.append(step)
    return steps


def test_cache_hit_miss_matrix(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    ctx = _write(tmp_path, {"a.txt": "a1\n", "b.txt": "b1\n", "Dockerfile": (
        "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /derived\nCOPY b.txt /b.txt\nRUN cat /b.txt\n")})
    cleanup_images.append("cache:1")
    first = _build(daemon, ctx, "-t", "cache:1")
    assert first.returncode == 0 and _cached_steps(first.stdout) == []
    again = _build(daemon, ctx, "-t", "cache:1")
    assert _cached_steps(again.stdout) == [2, 3, 4, 5]
    assert again.stdout.decode().splitlines()[-2] == first.stdout.decode().splitlines()[-2]
    # Only the mtime changes: every step still hits.
    import os

    os.utime(ctx / "a.txt", (1_000_000, 1_000_000))
    assert _cached_steps(_build(daemon, ctx, "-t", "cache:1").stdout) == [2, 3, 4, 5]
    # b.txt's content changes: its COPY and what follows miss, the steps before it hit.
    (ctx / "b.txt").write_text("b2\n")
    r = _build(daemon, ctx, "-t", "cache:1")
    assert _cached_steps(r.stdout) == [2, 3] and "b2" in r.stdout.decode()
    # a.txt changes: everything from its COPY on misses.
    (ctx / "a.txt").write_text("a2\n")
    assert _cached_steps(_build(daemon, ctx, "-t", "cache:1").stdout) == []
    assert _cached_steps(_build(daemon, ctx, "-t", "cache:1", "--no-cache").stdout) == []
    assert _cached_steps(_build(daemon, ctx, "-t", "cache:1").stdout) == [2, 3, 4, 5]
    r = daemon.berth("builder", "prune", "-f")
    assert r.returncode == 0 and b"Total reclaimed space" in r.stdout
    assert _cached_steps(_build(daemon, ctx, "-t", "cache:1").stdout) == []


def test_failing_run_then_fixed_build_reuses_cache(daemon: Daemon, tmp_path: Path,
                                                   cleanup_images: list[str]) -> None:
    ctx = _write(tmp_path, {
        "Dockerfile": "FROM busybox\nRUN echo prepared > /p\nRUN echo out; echo err >&2; exit 3\n"})
    r = _build(daemon, ctx, "-t", "fail:1")
    assert r.returncode == 3
    assert b"out\n" in r.stdout and b"err" in r.stdout
    assert b"The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3" in r.stderr
    _no_build_containers(daemon)
    assert daemon.docker("image", "inspect", "fail:1").returncode != 0
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo prepared > /p\nRUN cat /p\n")
    cleanup_images.append("fail:1")
    r = _build(daemon, ctx, "-t", "fail:1")
    assert r.returncode == 0 and _cached_steps(r.stdout) == [2]


def test_dockerignore_matrix(daemon: Daemon, tmp_path: Path, cleanup_images: list[str]) -> None:
    ctx = _write(tmp_path, {
        ".dockerignore": "# build junk\n*.log\n**/*.tmp\nsecret\ndocs\n!docs/README.md\nDockerfile\n",
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
        "app.py": "", "debug.log": "", "sub/x.tmp": "", "sub/keep.py": "", "secret/key": "",
        "docs/README.md": "", "docs/other.md": ""})
    cleanup_images += ["ignore:cli", "ignore:berth"]
    for tag, runner in (("ignore:cli", lambda: _build(daemon, ctx, "-t", "ignore:cli")),
                        ("ignore:berth", lambda: daemon.berth("build", "-t", "ignore:berth", str(ctx)))):
        r = runner()
        assert r.returncode == 0, r.stderr
        r = daemon.docker("run", "--rm", tag, "find", "/ctx", "-type", "f")
        assert sorted(r.stdout.decode().split()) == [
            "/ctx/.dockerignore", "/ctx/app.py", "/ctx/docs/README.md", "/ctx/sub/keep.py"], tag


def test_default_docker_build_uses_classic_builder(daemon: Daemon, tmp_path: Path,
                                                   cleanup_images: list[str]) -> None:
    _write(tmp_path, {"Dockerfile": "FROM busybox\nLABEL plain=yes\n"})
    cleanup_images.append("plain:1")
    r = _build(daemon, tmp_path, "-q", "-t", "plain:1", classic=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == _inspect(daemon, "plain:1")["Id"]


def test_bad_input_is_rejected_before_streaming(daemon: Daemon, tmp_path: Path) -> None:
    def context(dockerfile: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            tar.addfile(info, io.BytesIO(dockerfile.encode()))
        return buf.getvalue()

    before = json.loads(request(str(daemon.socket), "GET", "/images/json?all=1")[2])
    cases = [
        (context("FROM busybox\nBOGUS x\n"), "", "dockerfile parse error line 2: unknown instruction: BOGUS"),
        (context("FROM busybox\n"), "&target=nope", "failed to reach build target nope in Dockerfile"),
        (context("FROM busybox\n"), "&dockerfile=Missing", "Cannot locate specified Dockerfile: Missing"),
        (context("FROM busybox\n"), "&t=Bad:Tag:x", "invalid reference format"),
        (b"not a tar at all" * 40, "", "failed to read the build context"),
    ]
    for body, query, message in cases:
        status, _, raw = request(str(daemon.socket), "POST", f"/build?rm=1{query}", body=body)
        assert status == 400, (query, raw)
        assert message in json.loads(raw)["message"]
    assert json.loads(request(str(daemon.socket), "GET", "/images/json?all=1")[2]) == before


def test_cache_survives_restart(tmp_path: Path) -> None:
    ctx = _write(tmp_path / "ctx", {"f": "x\n", "Dockerfile": "FROM busybox\nCOPY f /f\nRUN cat /f\n"})
    base = tmp_path / "engine"
    base.mkdir()
    d = start_berthd(base)
    try:
        from berth.baseimages import ensure_base_images

        ensure_base_images(d.host)
        assert _build(d, ctx, "-t", "restart:1").returncode == 0
        stop_berthd(d)
        d = start_berthd(base)
        r = _build(d, ctx, "-t", "restart:1")
        assert r.returncode == 0 and _cached_steps(r.stdout) == [2, 3]
    finally:
        from tests.conftest import remove_all_containers

        remove_all_containers(d)
        stop_berthd(d)
        from berth.testing.cleanup import cleanup_daemon_leftovers

        assert not cleanup_daemon_leftovers(d.data_root, d.exec_root, d.cgroup_parent)


def test_shell_args_substitution_and_scratch(daemon: Daemon, tmp_path: Path,
                                             cleanup_images: list[str]) -> None:
    ctx = _write(tmp_path, {"file.txt": "payload\n", "Dockerfile": (
        "# escape=`\n"
        "ARG FLAVOR=plain\n"
        "FROM scratch AS files\n"
        "COPY file.txt /f/\n"
        "FROM busybox\n"
        "ARG FLAVOR\n"
        "ARG UNSET\n"
        "ENV DEST=/opt/${FLAVOR} MODE=${UNSET:-fallback} ALT=${FLAVOR:+set}\n"
        "COPY --from=files --chown=1234:5678 /f/file.txt $DEST/`\n"
        "copied.txt\n"
        "SHELL [\"/bin/sh\", \"-ec\"]\n"
        "RUN echo \"$FLAVOR $MODE $ALT\" > /result; test \"$0\" = /bin/sh\n"
        "RUN [\"/bin/sh\", \"-c\", \"echo exec >> /result\"]\n")})
    cleanup_images.append("subst:1")
    r = _build(daemon, ctx, "-t", "subst:1", "--build-arg", "FLAVOR=fancy", "--build-arg", "NOTUSED=1")
    assert r.returncode == 0, r.stderr + r.stdout
    assert b"[Warning] One or more build-args [NOTUSED] were not consumed" in r.stdout
    r = daemon.docker("run", "--rm", "subst:1", "sh", "-c",
                      "cat /result /opt/fancy/copied.txt; stat -c %u:%g /opt/fancy/copied.txt")
    assert r.stdout == b"fancy fallback set\nexec\npayload\n1234:5678\n", r.stderr
    hist = json.loads(request(str(daemon.socket), "GET", "/images/subst:1/history")[2])
    # Build args in scope are part of a RUN's CREATED BY (and of its cache key), as in Docker.
    assert hist[1]["CreatedBy"].startswith("|1 FLAVOR=fancy /bin/sh -ec echo")


def test_rmi_removes_the_build_steps(daemon: Daemon, tmp_path: Path) -> None:
    def all_ids() -> set[str]:
        return {i["Id"] for i in json.loads(request(str(daemon.socket), "GET", "/images/json?all=1")[2])}

    before = all_ids()
    ctx = _write(tmp_path, {"f": "unique-to-rmi-test\n",
                            "Dockerfile": "FROM busybox\nCOPY f /f\nENV X=1\nRUN true\n"})
    assert _build(daemon, ctx, "-t", "steps:1").returncode == 0
    assert len(all_ids() - before) == 3
    r = daemon.docker("rmi", "steps:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().count("Deleted: sha256:") >= 3
    assert all_ids() == before
