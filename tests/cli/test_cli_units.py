"""Pure tests of the CLI's formatting and parsing: durations, sizes, truncation, tables,
the Go-template subset, image references and run/create flag parsing."""

from __future__ import annotations

import argparse

import pytest

from berth.cli.context import UsageError
from berth.cli.formatting import CONTAINER_HEADERS, container_row, image_rows, render
from berth.cli.humanize import (
    ellipsis,
    go_quote,
    human_duration,
    human_size,
    parse_go_duration,
    parse_ram_bytes,
)
from berth.cli.reference import parse_reference
from berth.cli.run import start_failure_code
from berth.cli.runflags import parse_detach_keys, parse_run_args
from berth.cli.table import tabulate
from berth.cli.template import parse_template
from berth.errors import InvalidArgument


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
     (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
     (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
     (48 * 3600, "2 days"), (14 * 86400, "2 weeks"), (60 * 86400, "2 months"),
     (2 * 365 * 86400, "2 years")],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (1_980_000, "1.98MB"),
     (4_261_000, "4.26MB"), (999_999, "1e+03kB"), (5 * 10**9, "5GB")],
)
def test_human_size(size, text):
    assert human_size(size) == text


def test_ram_bytes():
    assert parse_ram_bytes("512m") == 512 * 1024 * 1024
    assert parse_ram_bytes("1g") == 1024**3
    assert parse_ram_bytes("1.5k") == 1536
    assert parse_ram_bytes("100") == 100
    with pytest.raises(InvalidArgument):
        parse_ram_bytes("lots")


def test_command_truncation_and_quoting():
    assert ellipsis("sleep 1000", 20) == "sleep 1000"
    assert ellipsis("sh -c 'echo out; echo err'", 20) == "sh -c 'echo out; ec…"
    assert go_quote('echo "hi"') == '"echo \\"hi\\""'
    assert go_quote("ü…") == '"ü…"'


def test_tabulate_matches_docker_tabwriter():
    out = tabulate(["CONTAINER ID\tNAMES", "abc\tx"])
    assert out == "CONTAINER ID   NAMES\nabc            x\n"
    # minimum width 10 including padding
    assert tabulate(["A\tB", "a\tb"]) == "A         B\na         b\n"


def test_template_subset():
    data = {"State": {"Status": "exited", "ExitCode": 3, "Running": False},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "<v>"}, "Cmd": None}}
    assert parse_template("{{.State.Status}}").render(data) == "exited"
    assert parse_template("{{.State.ExitCode}} {{.State.Running}}").render(data) == "3 false"
    assert parse_template("{{json .Config}}").render(data) == \
        '{"Env":["A=1","B=2"],"Labels":{"k":"\\u003cv\\u003e"},"Cmd":null}'
    assert parse_template('{{index .Config.Labels "k"}}').render(data) == "<v>"
    assert parse_template('{{join .Config.Env ","}}').render(data) == "A=1,B=2"
    assert parse_template("{{range .Config.Env}}<{{.}}>{{end}}").render(data) == "<A=1><B=2>"
    assert parse_template("{{if .State.Running}}up{{else}}down{{end}}").render(data) == "down"
    assert parse_template("{{.Config.Cmd}} {{.Missing}}").render(data) == "<nil> <no value>"
    assert parse_template("{{.Config.Labels}}").render(data) == "map[k:<v>]"
    assert parse_template("{{.State.Status | upper}}").render(data) == "EXITED"
    assert parse_template("x {{- .State.Status -}} y").render(data) == "xexitedy"


@pytest.mark.parametrize("bad", ["{{if .A}}x", "{{end}}", "{{nosuchfunc .A}}", "{{}}"])
def test_template_errors(bad):
    with pytest.raises(InvalidArgument):
        parse_template(bad).render({"A": 1})


def test_references():
    r = parse_reference("busybox")
    assert (r.name, r.tag, r.normalized_name, r.familiar) == \
        ("busybox", None, "docker.io/library/busybox", "busybox:latest")
    assert parse_reference("me/app:1.0").normalized_name == "docker.io/me/app"
    r = parse_reference("localhost:5000/app:v2")
    assert (r.name, r.tag, r.normalized_name) == ("localhost:5000/app", "v2",
                                                  "localhost:5000/app")
    for bad in ("UPPER", "a:b:c", "bad name", "x@sha256:zz", ""):
        with pytest.raises(InvalidArgument):
            parse_reference(bad)


def test_detach_keys():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    with pytest.raises(UsageError):
        parse_detach_keys("ctrl-1")


def test_start_failure_codes():
    assert start_failure_code('exec: "x": executable file not found in $PATH') == 127
    assert start_failure_code("open /x: no such file or directory") == 127
    assert start_failure_code("exec /etc/passwd: permission denied") == 126
    assert start_failure_code("cgroup trouble") == 125


def test_run_flags_build_docker_create_body(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n\nPASS\n")
    opts = parse_run_args(
        "run",
        ["--rm", "-it", "--name", "web", "-e", "A=1", "-eB=2", "-e", "PASS", "-e", "UNSET",
         "--env-file", str(env_file), "-w", "/tmp", "-u", "nobody", "-h", "host1",
         "--entrypoint", "/bin/sh", "-l", "k=v", "--network", "none", "-v", "/h:/c:ro",
         "--tmpfs", "/run:size=1m", "--read-only", "--cap-add", "NET_ADMIN", "--cap-drop",
         "ALL", "-m", "64m", "--cpus", "1.5", "--pids-limit", "10", "--ulimit",
         "nofile=100:200", "--init", "--restart", "on-failure:3", "--stop-signal", "SIGUSR1",
         "--stop-timeout", "4", "--detach-keys", "ctrl-a", "busybox", "sh", "-c", "exit 3",
         "--not-a-flag"],
        {"PASS": "yes"}, (30, 100))
    b, hc = opts.body, opts.body["HostConfig"]
    assert (opts.name, opts.tty, opts.attach_stdin, opts.auto_remove) == ("web", True, True, True)
    assert b["Cmd"] == ["sh", "-c", "exit 3", "--not-a-flag"]
    assert b["Env"] == ["FROM_FILE=1", "PASS=yes", "A=1", "B=2", "PASS=yes"]
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/tmp", "nobody", "host1")
    assert b["Entrypoint"] == ["/bin/sh"] and b["Labels"] == {"k": "v"}
    assert b["OpenStdin"] and b["StdinOnce"] and b["Tty"]
    assert (b["StopSignal"], b["StopTimeout"]) == ("SIGUSR1", 4)
    assert b["NetworkingConfig"] == {"EndpointsConfig": {}}
    assert hc["NetworkMode"] == "none" and hc["AutoRemove"] and hc["ReadonlyRootfs"]
    assert hc["Binds"] == ["/h:/c:ro"] and hc["Tmpfs"] == {"/run": "size=1m"}
    assert (hc["CapAdd"], hc["CapDrop"]) == (["CAP_NET_ADMIN"], ["ALL"])
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (64 << 20, 1_500_000_000, 10)
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
    assert hc["Init"] is True and hc["ConsoleSize"] == [30, 100]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


def test_run_defaults_and_detach():
    opts = parse_run_args("run", ["-d", "busybox"], {}, None)
    b = opts.body
    assert opts.detach and not (b["AttachStdin"] or b["AttachStdout"] or b["AttachStderr"])
    assert b["Cmd"] is None and b["Env"] is None and b["HostConfig"]["NetworkMode"] == "default"
    assert b["HostConfig"]["MemorySwappiness"] == -1 and opts.sig_proxy
    create = parse_run_args("create", ["-i", "busybox"], {}, None)
    assert create.body["OpenStdin"] and create.body["StdinOnce"]
    assert parse_run_args("run", ["--name", "-x", "-e", "-y", "busybox"], {}, None).name == "-x"
    assert not parse_run_args("run", ["--sig-proxy=false", "busybox"], {}, None).sig_proxy


@pytest.mark.parametrize(
    "argv",
    [[], ["--bogus", "busybox"], ["-d", "-a", "stdout", "busybox"], ["-m", "lots", "busybox"],
     ["--restart", "on-failure:x", "busybox"], ["-v", "relative", "busybox"],
     ["--ulimit", "nofile=9:1", "busybox"], ["-e", "=bad", "busybox"]],
)
def test_run_flag_errors(argv):
    with pytest.raises(UsageError):
        parse_run_args("run", argv, {}, None)


def test_ps_rows_and_formats():
    item = {"Id": "a" * 64, "Names": ["/web", "/other/link"], "Image": "busybox",
            "Command": "sh -c 'echo out; echo err'", "Created": 1000, "State": "running",
            "Status": "Up 2 minutes", "Labels": {"b": "2", "a": "1"},
            "Ports": [{"PrivatePort": 80, "Type": "tcp"},
                      {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
            "SizeRw": 0, "SizeRootFs": 1_980_000}
    row = container_row(item, trunc=True, now=1120)
    assert row["ID"] == "a" * 12 and row["Names"] == "web"
    assert row["Command"] == '"sh -c \'echo out; ec…"'
    assert row["RunningFor"] == "2 minutes ago" and row["Labels"] == "a=1,b=2"
    assert row["Ports"] == "80/tcp, 0.0.0.0:8080->80/tcp"
    assert row["Size"] == "0B (virtual 1.98MB)"
    assert container_row(item, trunc=False, now=1120)["ID"] == "a" * 64
    out = render("table {{.ID}}\t{{.Names}}", [row], CONTAINER_HEADERS)
    assert out == "CONTAINER ID   NAMES\n" + "a" * 12 + "   web\n"
    assert render("{{.Names}}", [row], CONTAINER_HEADERS) == "web\n"
    assert render('{{.Label "b"}}|{{.Label "zz"}}', [row], CONTAINER_HEADERS) == "2|\n"
    assert '"Label"' not in render("{{json .}}", [row], CONTAINER_HEADERS)
    assert render("json", [row], CONTAINER_HEADERS).startswith('{"ID":"aaaaaaaaaaaa"')


def test_image_rows():
    item = {"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest", "me/bb:1"],
            "RepoDigests": [], "Created": 0, "Size": 1_980_000}
    rows = image_rows(item, trunc=True, digests=False, now=180)
    assert [(r["Repository"], r["Tag"], r["ID"]) for r in rows] == \
        [("busybox", "latest", "b" * 12), ("me/bb", "1", "b" * 12)]
    assert rows[0]["CreatedSince"] == "3 minutes ago" and rows[0]["Size"] == "1.98MB"
    untagged = image_rows({**item, "RepoTags": []}, trunc=False, digests=False, now=0)
    assert [(r["Repository"], r["Tag"], r["ID"]) for r in untagged] == \
        [("<none>", "<none>", "sha256:" + "b" * 64)]
    assert image_rows({**item, "RepoTags": ["localhost:5000/x:2"]}, trunc=True, digests=False,
                      now=0)[0]["Repository"] == "localhost:5000/x"


@pytest.mark.parametrize("text, ns", [("0", 0), ("1m30s", 90 * 10**9), ("1.5s", 1_500_000_000),
                                      ("250ms", 250 * 10**6), ("-2h", -7200 * 10**9), ("3us", 3000)])
def test_go_durations(text, ns):
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1m 2s", "--1s"])
def test_go_duration_errors(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_run_go_booleans_and_capabilities():
    opts = parse_run_args("create", ["-t=false", "--rm=false", "--init=false",
                                     "--read-only=1", "--cap-add", "net_admin", "--cap-add",
                                     "CAP_NET_ADMIN", "--cap-add", "all", "busybox"], {}, None)
    hc = opts.body["HostConfig"]
    assert not opts.tty and not opts.auto_remove and hc["Init"] is False and hc["ReadonlyRootfs"]
    assert hc["CapAdd"] == ["ALL", "CAP_NET_ADMIN"] and hc["CapDrop"] is None
    assert "Init" not in parse_run_args("create", ["busybox"], {}, None).body["HostConfig"]
    with pytest.raises(UsageError, match="does not support --gpus"):
        parse_run_args("run", ["--gpus", "all", "busybox"], {}, None)
    with pytest.raises(UsageError, match=r'strconv\.ParseBool: parsing "maybe"'):
        parse_run_args("run", ["--privileged=maybe", "busybox"], {}, None)


def test_go_bool_flags_of_any_command():
    from berth.cli.context import GoBool, make_parser

    p = make_parser("exec", "x")
    p.add_argument("-t", "--tty", action=GoBool)
    p.add_argument("-u", "--user")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    ns = p.parse_args(["-t", "-u", "x", "ctr", "prog", "-t=false", "--tty=0"])
    assert ns.tty and ns.container == "ctr" and ns.command == ["prog", "-t=false", "--tty=0"]
    assert not p.parse_args(["--tty=false", "ctr"]).tty
    q = make_parser("commit", "x")
    q.add_argument("-p", "--pause", action=GoBool, default=True)
    q.add_argument("container")
    assert q.parse_args(["-p", "ctr"]).container == "ctr"
    assert not q.parse_args(["ctr", "-p=0"]).pause
