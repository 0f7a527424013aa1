"""Random container names in Docker's ``adjective_surname`` style, from berth's own word lists."""

from __future__ import annotations

import secrets

__all__ = ["random_name"]

_LEFT = (
    "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring",
    "deft", "eager", "earnest", "fair", "fervent", "gentle", "glad", "happy", "hardy", "humble",
    "jolly", "keen", "kind", "lively", "lucid", "mellow", "merry", "modest", "nimble", "noble",
    "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid", "serene", "sharp", "snug",
    "spry", "steady", "stoic", "sunny", "swift", "tender", "tidy", "upbeat", "vivid", "witty",
)
_RIGHT = (
    "babbage", "bardeen", "bohr", "boole", "cerf", "curie", "darwin", "dijkstra", "einstein",
    "euler", "faraday", "fermat", "feynman", "galois", "gauss", "goodall", "hamilton", "hertz",
    "hopper", "hypatia", "kepler", "knuth", "lamarr", "lamport", "liskov", "lovelace", "maxwell",
    "meitner", "mendel", "neumann", "newton", "noether", "pascal", "planck", "ramanujan",
    "ritchie", "sammet", "shannon", "snyder", "tesla", "thompson", "torvalds", "turing",
    "volta", "wilson", "wozniak", "yalow", "zuse",
)


def random_name() -> str:
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
