"""Registry credentials: the ``X-Registry-Auth`` header, docker's ``config.json`` and challenges.

Owns the Credentials value, decoding what Docker clients send berthd, reading and writing
the ``auths`` section of a docker-compatible ``config.json`` (``{"auths": {"host":
{"auth": base64("user:password")}}}``, Docker Hub under ``https://index.docker.io/v1/``),
and parsing ``WWW-Authenticate`` challenges. It performs no network I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = [
    "DOCKER_HUB_AUTH_KEY",
    "Challenge",
    "Credentials",
    "config_key",
    "decode_registry_auth",
    "load_credentials",
    "parse_challenges",
    "remove_credentials",
    "store_credentials",
]

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str:
        return dict(self.params).get(key, "")


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """``Bearer realm="https://a/token",service="reg",scope="..."`` -> Challenges."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z]+)\s*", rest)
        if not m:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end():]
        params: list[tuple[str, str]] = []
        while True:
            pm = _PARAM.match(rest)
            if not pm:
                break
            params.append((pm.group(1).lower(), pm.group(2) if pm.group(2) is not None
                           else pm.group(3)))
            rest = rest[pm.end():]
        out.append(Challenge(scheme, tuple(params)))
        rest = rest.lstrip(", ")
    return out


def decode_registry_auth(header: str | None) -> Credentials:
    """The ``X-Registry-Auth`` header: base64url JSON ``{username,password,identitytoken}``."""
    if not header:
        return Credentials()
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw or b"{}")
    except (binascii.Error, ValueError) as e:
        raise InvalidArgument("invalid X-Registry-Auth header") from e
    if not isinstance(data, dict):
        raise InvalidArgument("invalid X-Registry-Auth header")
    return Credentials(str(data.get("username") or ""), str(data.get("password") or ""),
                       str(data.get("identitytoken") or ""))


def config_key(registry: str) -> str:
    """The ``auths`` key Docker uses for a registry host."""
    return DOCKER_HUB_AUTH_KEY if registry in ("docker.io", "index.docker.io") else registry


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InvalidArgument(f"{path}: {e}") from e
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as the docker CLI: 0700
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_credentials(path: Path, registry: str) -> Credentials:
    auths = _read(path).get("auths")
    if not isinstance(auths, dict):
        return Credentials()
    entry = auths.get(config_key(registry))
    if entry is None:
        for key, value in auths.items():
            host = re.sub(r"^https?://", "", key).split("/")[0]
            if host == registry:
                entry = value
                break
    if not isinstance(entry, dict):
        return Credentials()
    token = str(entry.get("identitytoken") or "")
    auth = str(entry.get("auth") or "")
    if auth:
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise InvalidArgument(f"{path}: invalid auth for {registry}") from e
        return Credentials(user, password, token)
    return Credentials(str(entry.get("username") or ""), str(entry.get("password") or ""), token)


def store_credentials(path: Path, registry: str, creds: Credentials) -> None:
    data = _read(path)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    entry: dict[str, str] = {
        "auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
    if creds.identity_token:
        entry = {"identitytoken": creds.identity_token}
    auths[config_key(registry)] = entry
    data["auths"] = auths
    _write(path, data)


def remove_credentials(path: Path, registry: str) -> bool:
    """True when there was an entry to remove."""
    data = _read(path)
    auths = data.get("auths")
    if not isinstance(auths, dict) or config_key(registry) not in auths:
        return False
    del auths[config_key(registry)]
    _write(path, data)
    return True
