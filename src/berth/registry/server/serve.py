"""Running the registry: ``berth registry serve`` and ``berth registry garbage-collect``.

Owns process life (listen, TLS context, signals). ``python -m berth.registry.server.serve``
runs the same code without the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from berth.errors import BerthError
from berth.registry.server.app import make_app
from berth.registry.server.config import DEFAULT_ROOT, ServerConfig, parse_serve_args
from berth.registry.server.gc import collect
from berth.registry.server.htpasswd import Htpasswd
from berth.registry.server.storage import Storage

__all__ = ["garbage_collect_main", "main", "serve", "serve_main"]


async def serve(cfg: ServerConfig) -> None:
    storage = Storage(cfg.root)
    htpasswd = Htpasswd(cfg.htpasswd) if cfg.htpasswd else None
    app = make_app(storage, htpasswd, cfg.read_only)
    tls = None
    if cfg.tls_cert and cfg.tls_key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=tls)
    await site.start()
    scheme = "https" if tls else "http"
    print(f"berth registry listening on {scheme}://{cfg.host}:{cfg.port} (root {cfg.root})",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_main(argv: list[str]) -> int:
    try:
        cfg = parse_serve_args(argv)
        asyncio.run(serve(cfg))
    except (BerthError, OSError, ssl.SSLError) as e:
        print(f"berth registry serve: {e}", file=sys.stderr)
        return 1
    return 0


def garbage_collect_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="berth registry garbage-collect",
                                description="Delete blobs no manifest references")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("-m", "--dry-run", action="store_true")
    ns = p.parse_args(argv)
    removed = collect(Storage(Path(ns.root)), dry_run=ns.dry_run)
    for digest in removed:
        print(f"blob eligible for deletion: {digest}" if ns.dry_run else f"deleted {digest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "garbage-collect":
        return garbage_collect_main(args[1:])
    if args and args[0] == "serve":
        args = args[1:]
    return serve_main(args)


if __name__ == "__main__":
    sys.exit(main())
