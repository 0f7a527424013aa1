"""The build context as a client sends it: ``.dockerignore`` rules, the walk, and the tar.

Shared by ``berth build`` (which packs the context) and berthd (which applies the same rules
to a received context, ``berth.build.context``): one implementation of Docker's ignore rules
(moby's patternmatcher): one pattern per line, ``#`` comments, surrounding whitespace
trimmed, paths cleaned and a leading ``/`` dropped; ``*`` and ``?`` stay within one path
element, ``**`` spans any number of them, ``!`` re-includes; the last matching pattern wins,
and a pattern matching a parent directory matches what is inside. The Dockerfile and
``.dockerignore`` are always sent (the daemon decides whether COPY sees them). Pure but for
reading the context directory: it must not import daemon, service or build code.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from berth.errors import InvalidArgument

__all__ = ["IgnorePatterns", "parse_dockerignore", "read_dockerignore", "walk_context",
           "write_context_tar"]


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    depth: int


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**": the slash belongs to it
                out.append(".*" if i >= n else "(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class IgnorePatterns:
    """Parsed ``.dockerignore`` patterns, in file order."""

    patterns: tuple[_Pattern, ...] = ()

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """True when ``path`` (relative to the context, ``/``-separated) is excluded."""
        path = posixpath.normpath(path.lstrip("/"))
        parent = posixpath.dirname(path)
        parent_dirs = parent.split("/") if parent else []
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # this pattern cannot change the outcome
            hit = bool(p.regex.match(path))
            if not hit and parent_dirs and p.depth <= len(parent_dirs):
                hit = bool(p.regex.match("/".join(parent_dirs[:p.depth])))
            if hit:
                matched = not p.exclusion
        return matched


def parse_dockerignore(text: str) -> IgnorePatterns:
    out: list[_Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            continue
        line = posixpath.normpath(line)
        if len(line) > 1 and line.startswith("/"):
            line = line.lstrip("/") or "/"
        out.append(_Pattern(line, exclusion, _compile(line), len(line.split("/"))))
    return IgnorePatterns(tuple(out))


def read_dockerignore(root: Path) -> IgnorePatterns:
    try:
        return parse_dockerignore((root / ".dockerignore").read_text(errors="replace"))
    except FileNotFoundError:
        return IgnorePatterns()


def walk_context(root: Path, ignore: IgnorePatterns,
                 always: frozenset[str] = frozenset()) -> Iterator[str]:
    """Relative paths (``/``-separated, parents before children, sorted) not excluded.

    A directory excluded without any ``!`` pattern is skipped whole; with exceptions it is
    walked so re-included files inside still come out (their directory entry does not).
    """
    def walk(rel_dir: str) -> Iterator[str]:
        here = root / rel_dir if rel_dir else root
        for entry in sorted(os.scandir(here), key=lambda e: e.name):
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            excluded = ignore.matches(rel) and rel not in always
            is_dir = entry.is_dir(follow_symlinks=False)
            if not excluded:
                yield rel
            if is_dir and (not excluded or ignore.has_exceptions):
                yield from walk(rel)
    yield from walk("")


def write_context_tar(root: Path, out: BinaryIO, ignore: IgnorePatterns,
                      always: frozenset[str] = frozenset(),
                      extra: tuple[tuple[str, bytes], ...] = ()) -> None:
    """The context as the docker CLI sends it: filtered, uid/gid 0, plus ``extra`` files."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in walk_context(root, ignore, always):
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with (root / rel).open("rb") as f:
                    tar.addfile(info, f)
            elif info.isdir() or info.issym() or info.islnk():
                tar.addfile(info)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
