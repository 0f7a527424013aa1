"""``berth registry serve`` settings: flags over an optional TOML config file.

The config file holds the same settings as the flags (``listen``, ``root``, ``htpasswd``,
``tls_cert``, ``tls_key``, ``read_only``); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = ["ServerConfig", "parse_serve_args"]

DEFAULT_ROOT = "/var/lib/berth-registry"


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    root: Path
    htpasswd: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    read_only: bool = False


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise InvalidArgument(f"invalid --listen {listen!r}: want HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_serve_args(argv: list[str]) -> ServerConfig:
    p = argparse.ArgumentParser(prog="berth registry serve",
                                description="Serve an OCI distribution registry")
    p.add_argument("config", nargs="?", help="TOML config file")
    p.add_argument("--config", dest="config_flag")
    p.add_argument("--listen")
    p.add_argument("--root")
    p.add_argument("--htpasswd")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--read-only", action="store_true", default=None)
    ns = p.parse_args(argv)
    file: dict[str, object] = {}
    cfg_path = ns.config_flag or ns.config
    if cfg_path:
        try:
            file = tomllib.loads(Path(cfg_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InvalidArgument(f"config {cfg_path}: {e}") from e
        unknown = set(file) - {"listen", "root", "htpasswd", "tls_cert", "tls_key", "read_only"}
        if unknown:
            raise InvalidArgument(f"config {cfg_path}: unknown settings {sorted(unknown)}")

    def pick(flag: object, key: str, default: object = None) -> object:
        return flag if flag is not None else file.get(key, default)

    host, port = _split_listen(str(pick(ns.listen, "listen", "0.0.0.0:5000")))
    cert, key = pick(ns.tls_cert, "tls_cert"), pick(ns.tls_key, "tls_key")
    if bool(cert) != bool(key):
        raise InvalidArgument("--tls-cert and --tls-key go together")
    htp = pick(ns.htpasswd, "htpasswd")
    return ServerConfig(host=host, port=port, root=Path(str(pick(ns.root, "root", DEFAULT_ROOT))),
                        htpasswd=Path(str(htp)) if htp else None,
                        tls_cert=Path(str(cert)) if cert else None,
                        tls_key=Path(str(key)) if key else None,
                        read_only=bool(pick(ns.read_only, "read_only", False)))
