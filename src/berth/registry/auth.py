"""Registry credentials: the ``X-Registry-Auth`` header, docker's ``config.json`` and challenges.

Owns the Credentials value, decoding what Docker clients send berthd (``X-Registry-Auth``
for one registry, ``X-Registry-Config`` for every registry a build may pull from), reading and writing
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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from berth.errors import InvalidArgument

__all__ = [
    "DOCKER_HUB_AUTH_KEY",
    "Challenge",
    "Credentials",
    "config_key",
    "credentials_for",
    "decode_registry_auth",
    "decode_registry_config",
    "encode_registry_config",
    "load_all_credentials",
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


def _from_json(data: Mapping[str, object]) -> Credentials:
    """One auth entry as Docker writes it: username/password, or ``auth`` = base64("user:pw")."""
    user, password = str(data.get("username") or ""), str(data.get("password") or "")
    auth = str(data.get("auth") or "")
    if auth and not user:
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise InvalidArgument("invalid auth entry") from e
    return Credentials(user, password, str(data.get("identitytoken") or ""))


def decode_registry_config(header: str | None) -> dict[str, Credentials]:
    """``X-Registry-Config`` (``docker build``, the SDK's ``build``): base64url JSON mapping
    a registry (as the client's config.json names it) to its auth entry; very old clients
    wrap the map in ``{"configs": ...}``. As moby does, an undecodable header or entry means
    no credentials rather than an error: a build pulls anonymously then."""
    if not header:
        return {}
    text = header.strip()
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) or b"{}")
    except (binascii.Error, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("configs"), dict):
        data = data["configs"]
    out: dict[str, Credentials] = {}
    for key, entry in data.items():
        if isinstance(entry, dict):
            try:
                out[str(key)] = _from_json(entry)
            except InvalidArgument:
                continue
    return out


def encode_registry_config(auths: Mapping[str, Credentials]) -> str:
    """The ``X-Registry-Config`` header for ``auths`` (what the docker CLI sends)."""
    data: dict[str, dict[str, str]] = {}
    for key, creds in auths.items():
        entry = {"serveraddress": key}
        if creds.username or creds.password:
            entry |= {"username": creds.username, "password": creds.password}
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        data[key] = entry
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def config_key(registry: str) -> str:
    """The ``auths`` key Docker uses for a registry host."""
    return DOCKER_HUB_AUTH_KEY if registry in ("docker.io", "index.docker.io") else registry


def _hostname(key: str) -> str:
    """A legacy ``auths`` key (``https://host/v1/``) reduced to its host."""
    return re.sub(r"^https?://", "", key).split("/")[0]


def credentials_for(auths: Mapping[str, Credentials], registry: str) -> Credentials:
    """The entry of ``auths`` for ``registry``: its exact key, else (not Docker Hub) the
    first key whose host part is ``registry``; none = anonymous."""
    key = config_key(registry)
    if key in auths:
        return auths[key]
    if key == DOCKER_HUB_AUTH_KEY:
        return Credentials()
    return next((c for k, c in auths.items() if _hostname(k) == registry), Credentials())


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


def _auths(path: Path) -> dict[str, object]:
    auths = _read(path).get("auths")
    return auths if isinstance(auths, dict) else {}


def load_credentials(path: Path, registry: str) -> Credentials:
    """The credentials config.json at ``path`` holds for ``registry`` (none = anonymous)."""
    auths = _auths(path)
    key = config_key(registry)
    entry = auths.get(key)
    if entry is None:
        entry = next((v for k, v in auths.items() if _hostname(k) == registry), None)
    if not isinstance(entry, dict):
        return Credentials()
    try:
        return _from_json(entry)
    except InvalidArgument as e:
        raise InvalidArgument(f"{path}: invalid auth for {registry}") from e


def load_all_credentials(path: Path) -> dict[str, Credentials]:
    """Every usable entry of config.json's ``auths`` (what ``docker build`` sends berthd)."""
    out: dict[str, Credentials] = {}
    for key, entry in _auths(path).items():
        if isinstance(entry, dict):
            try:
                out[key] = _from_json(entry)
            except InvalidArgument:
                continue  # one broken entry must not keep a build from the others
    return out


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
