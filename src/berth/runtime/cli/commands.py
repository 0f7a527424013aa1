"""The command table: each subcommand's grammar and the function that runs it.

Data only: a command's module (``lifecycle``, ``processes``, ``resources``, ``info``) is
imported when that command runs, so ``state`` or ``kill`` never load what ``run`` needs.
Every function is ``func(args, root) -> exit code``.
"""

from __future__ import annotations

from berth.runtime.cli._args import APPEND, FLAG, Command, Option

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "Command", "find"]


def _interval(text: str) -> float:
    return float(text[:-1]) if text.endswith("s") else float(text)


GLOBAL_OPTIONS: Final = (
    Option(("--root",), default="/run/berth-runtime", help="state directory"),
    Option(("--log",), default="", help="log file (default stderr)"),
    Option(("--log-format",), default="text", choices=("text", "json"), help="text or json"),
    Option(("--debug",), kind=FLAG, help="accepted; berth logs errors only"),
    # Accepted for runc compatibility; berth drives cgroupfs itself and has no criu.
    Option(("--systemd-cgroup",), kind=FLAG),
    Option(("--rootless",), default="auto"),
    Option(("--criu",), default=""),
    Option(("-v", "--version"), kind=FLAG, help="print the version"),
    Option(("-h", "--help"), kind=FLAG, help="show help"),
)

_ID: Final = (("id", None),)
_PID_FILE: Final = Option(("--pid-file",), default="", help="write the process id to this file")
_CONSOLE_SOCKET: Final = Option(("--console-socket",), default="",
                                help="unix socket that receives the pty master")
_PRESERVE_FDS: Final = Option(("--preserve-fds",), default=0, convert=int)
_CREATE_OPTIONS: Final = (
    Option(("-b", "--bundle"), default="", help="bundle directory (default: current directory)"),
    _PID_FILE, _CONSOLE_SOCKET,
    Option(("--no-pivot",), kind=FLAG),  # berth always pivots; accepted
    Option(("--no-new-keyring",), kind=FLAG),
    _PRESERVE_FDS,
)
_INT_RESOURCES: Final = ("memory", "memory-reservation", "memory-swap", "cpu-shares", "cpu-quota",
                         "cpu-period", "pids-limit")

COMMANDS: Final = (
    Command("create", "create a container", "lifecycle", "cmd_create",
            _CREATE_OPTIONS, (("id", ""),)),
    Command("run", "create and run a container", "lifecycle", "cmd_run",
            (*_CREATE_OPTIONS, Option(("-d", "--detach"), kind=FLAG, help="do not wait for it"),
             Option(("--keep",), kind=FLAG, help="do not delete the container after it exits"),
             Option(("--no-subreaper",), kind=FLAG)),  # accepted; run always reaps its init
            (("id", ""),)),
    Command("start", "start a created container", "lifecycle", "cmd_start", (), _ID),
    Command("state", "output the state of a container", "lifecycle", "cmd_state", (), _ID),
    Command("kill", "send a signal to the container's init process", "lifecycle", "cmd_kill",
            (Option(("-a", "--all"), kind=FLAG, help="signal every process of the container"),),
            (("id", None), ("signal", "SIGTERM"))),
    Command("delete", "delete a container", "lifecycle", "cmd_delete",
            (Option(("-f", "--force"), kind=FLAG, help="kill it first if it runs"),), _ID),
    Command("list", "list containers", "lifecycle", "cmd_list",
            (Option(("-f", "--format"), default="table", choices=("table", "json"),
                    help="table or json"),
             Option(("-q", "--quiet"), kind=FLAG, help="only the ids"))),
    Command("exec", "execute a new process inside the container", "processes", "cmd_exec",
            (Option(("-p", "--process"), default="", help="process.json (- for stdin)"),
             Option(("-d", "--detach"), kind=FLAG, help="do not wait for it"),
             _PID_FILE, _CONSOLE_SOCKET,
             Option(("-t", "--tty"), kind=FLAG, help="allocate a pty"),
             Option(("--cwd",), default="", help="working directory"),
             Option(("-e", "--env"), kind=APPEND, help="environment variable NAME=VALUE"),
             Option(("-u", "--user"), default="", help="UID[:GID]"),
             _PRESERVE_FDS),
            _ID, rest="argv"),
    Command("ps", "processes running inside the container", "processes", "cmd_ps",
            (Option(("-f", "--format"), default="table", choices=("table", "json"),
                    help="table or json"),),
            _ID, rest="ps_args"),
    Command("pause", "suspend all processes of the container", "resources", "cmd_pause", (), _ID),
    Command("resume", "resume all processes of the container", "resources", "cmd_resume", (), _ID),
    Command("update", "update the container's resource limits", "resources", "cmd_update",
            (Option(("-r", "--resources"), default="", help="resources JSON (- for stdin)"),
             *(Option((f"--{name}",), convert=int, help=name.replace("-", " "))
               for name in _INT_RESOURCES),
             Option(("--cpuset-cpus",), help="CPUs allowed"),
             Option(("--cpuset-mems",), help="memory nodes allowed")),
            _ID),
    Command("events", "container statistics", "resources", "cmd_events",
            (Option(("--stats",), kind=FLAG, help="print one statistics record and exit"),
             Option(("--interval",), default=5.0, convert=_interval, help="seconds between records")),
            _ID),
    Command("spec", "create a new specification file", "info", "cmd_spec",
            (Option(("-b", "--bundle"), default="", help="where to write config.json"),
             Option(("--rootless",), kind=FLAG))),
    Command("features", "show the enabled features", "info", "cmd_features"),
)


def find(name: str) -> Command | None:
    for cmd in COMMANDS:
        if cmd.name == name:
            return cmd
    return None
