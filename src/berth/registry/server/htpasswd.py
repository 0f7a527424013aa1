"""htpasswd files with bcrypt hashes (``user:$2y$...``), as Distribution's htpasswd auth reads.

Owns parsing and checking. Checks that succeeded are remembered per instance (by a hash of
the password), because bcrypt costs tens of milliseconds and clients authenticate every call.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import bcrypt

from berth.errors import InvalidArgument

__all__ = ["Htpasswd", "hash_password"]


def hash_password(password: str, rounds: int = 10) -> str:
    """A ``$2y$`` bcrypt hash, the form ``htpasswd -B`` writes."""
    raw = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    return "$2y$" + raw[4:]


class Htpasswd:
    def __init__(self, path: Path) -> None:
        self._users: dict[str, bytes] = {}
        self._ok: set[tuple[str, str]] = set()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not hashed.startswith(("$2y$", "$2a$", "$2b$")):
                raise InvalidArgument(f"{path}:{n}: only bcrypt entries (user:$2y$...) are supported")
            self._users[user] = hashed.encode()

    def check(self, user: str, password: str) -> bool:
        key = (user, hashlib.sha256(password.encode()).hexdigest())
        if key in self._ok:
            return True
        hashed = self._users.get(user)
        if hashed is None:
            return False
        # bcrypt accepts $2b$; $2y$ is the same algorithm under PHP's name.
        if hashed.startswith(b"$2y$"):
            hashed = b"$2b$" + hashed[4:]
        if bcrypt.checkpw(password.encode(), hashed):
            self._ok.add(key)
            return True
        return False
