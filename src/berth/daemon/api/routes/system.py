"""System routes: /_ping, /version, /info."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from aiohttp import web

from berth import __version__
from berth.daemon.api.app import API_VERSION, MIN_API_VERSION, Router
from berth.daemon.context import DaemonContext

__all__ = ["register"]


def _kernel() -> str:
    return os.uname().release


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _mem_total() -> int:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def register(router: Router, ctx: DaemonContext) -> None:
    def ping_headers(resp: web.StreamResponse) -> None:
        resp.headers["Cache-Control"] = "no-cache, no-store, must-revalidate"
        resp.headers["Pragma"] = "no-cache"
        resp.headers["Builder-Version"] = "1"
        resp.headers["Swarm"] = "inactive"

    async def ping(request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            resp = web.Response(status=200, headers={"Content-Length": "0"})
        else:
            resp = web.Response(status=200, text="OK", content_type="text/plain")
        ping_headers(resp)
        return resp

    async def version(request: web.Request) -> web.StreamResponse:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                   "Arch": arch, "Os": "linux", "KernelVersion": _kernel(),
                   "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
                   "BuildTime": "", "Experimental": "false"}
        body: dict[str, Any] = {
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
            "Arch": arch, "KernelVersion": _kernel(), "BuildTime": "",
        }
        return web.json_response(body)

    async def info(request: web.Request) -> web.StreamResponse:
        containers = ctx.containers.all()
        running = sum(1 for c in containers if c.state.status == "running")
        paused = sum(1 for c in containers if c.state.status == "paused")
        arch = platform.machine()
        body: dict[str, Any] = {
            "ID": ctx.daemon_id, "Containers": len(containers), "ContainersRunning": running,
            "ContainersPaused": paused, "ContainersStopped": len(containers) - running - paused,
            "Images": ctx.images.totals()[0], "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"],
                        "Authorization": None, "Log": ["json-file", "none"]},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
            "Debug": ctx.debug, "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0, "SystemTime": "", "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs", "CgroupVersion": ctx.cgroup_version,
            "NEventsListener": 0, "KernelVersion": _kernel(), "OperatingSystem": _os_name(),
            "OSVersion": "", "OSType": "linux", "Architecture": arch, "IndexServerAddress":
            "https://index.docker.io/v1/", "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": None,
                "AllowNondistributableArtifactsHostnames": None,
                "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": None},
            "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "GenericResources": None,
            "DockerRootDir": str(ctx.data_root), "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": os.uname().nodename, "Labels": [], "ExperimentalBuild": False,
            "ServerVersion": __version__, "Runtimes": {"berth": {"path": "berth-runtime"}},
            "DefaultRuntime": "berth", "Swarm": {"NodeID": "", "NodeAddr": "",
                                                  "LocalNodeState": "inactive",
                                                  "ControlAvailable": False, "Error": "",
                                                  "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": [], "Warnings": [],
        }
        return web.json_response(body)

    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
