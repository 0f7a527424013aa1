"""berth-runtime's hand-written command-line grammar (cli/_args.py) against the command table."""

from __future__ import annotations

import pytest

from berth.runtime.cli import commands
from berth.runtime.cli._args import UsageError, parse_command, parse_global


def _command(name: str) -> commands.Command:
    cmd = commands.find(name)
    assert cmd is not None
    return cmd


def test_global_options_stop_at_the_command() -> None:
    glob, rest = parse_global(commands.GLOBAL_OPTIONS, [
        "--root", "/r", "--log=/l.json", "--log-format", "json", "--systemd-cgroup", "state", "--root", "x"])
    assert (glob.root, glob.log, glob.log_format, glob.systemd_cgroup) == ("/r", "/l.json", "json", True)
    assert rest == ["state", "--root", "x"]
    glob, rest = parse_global(commands.GLOBAL_OPTIONS, ["-root", "/go-style", "list"])
    assert (glob.root, glob.debug, rest) == ("/go-style", False, ["list"])
    with pytest.raises(UsageError, match="flag provided but not defined: --nosuch"):
        parse_global(commands.GLOBAL_OPTIONS, ["--nosuch", "state"])
    with pytest.raises(UsageError, match="choose from text, json"):
        parse_global(commands.GLOBAL_OPTIONS, ["--log-format", "xml", "state"])


def test_create_options_and_operand_interleave() -> None:
    args = parse_command(_command("run"), ["c1", "-b", "/bundle", "--detach", "--pid-file=/p",
                                           "--preserve-fds", "2"])
    assert (args.id, args.bundle, args.detach, args.pid_file, args.preserve_fds) == (
        "c1", "/bundle", True, "/p", 2)
    assert (args.console_socket, args.no_pivot, args.help) == ("", False, False)
    assert parse_command(_command("create"), []).id == ""  # create reports a missing id itself


def test_exec_takes_everything_after_the_id() -> None:
    args = parse_command(_command("exec"), ["-e", "A=1", "--env", "B=2", "--cwd", "/tmp", "c1",
                                            "sh", "-c", "echo --cwd", "--", "-x"])
    assert (args.id, args.env, args.cwd) == ("c1", ["A=1", "B=2"], "/tmp")
    assert args.argv == ["sh", "-c", "echo --cwd", "--", "-x"]
    assert parse_command(_command("exec"), ["--process", "p.json", "-d", "c1"]).argv == []
    assert parse_command(_command("ps"), ["c1", "-ef"]).ps_args == ["-ef"]


def test_kill_signal_default_and_double_dash() -> None:
    assert parse_command(_command("kill"), ["c1"]).signal == "SIGTERM"
    args = parse_command(_command("kill"), ["-a", "c1", "9"])
    assert (args.all, args.id, args.signal) == (True, "c1", "9")
    assert parse_command(_command("delete"), ["--", "-weird"]).id == "-weird"


def test_typed_values_and_bad_lines() -> None:
    args = parse_command(_command("update"), ["--memory", "1048576", "--cpuset-cpus", "0", "c1"])
    assert (args.memory, args.cpuset_cpus, args.pids_limit) == (1048576, "0", None)
    assert parse_command(_command("events"), ["--interval", "2s", "c1"]).interval == 2.0
    assert parse_command(_command("delete"), ["-force=true", "c1"]).force is True
    for argv, message in ((["c1", "c2"], "at most 1"), ([], "requires the argument <id>"),
                          (["--memory", "lots", "c1"], "invalid value 'lots'"),
                          (["c1", "--memory"], "flag needs an argument")):
        with pytest.raises(UsageError, match=message):
            parse_command(_command("update" if "--memory" in argv else "state"), argv)
    assert parse_command(_command("state"), ["--help"]).help is True
