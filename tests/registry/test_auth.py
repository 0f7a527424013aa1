"""``berth.registry.auth``: the build's ``X-Registry-Config`` header and picking a registry's
entry out of a credentials map, as moby reads them."""

from __future__ import annotations

import base64
import json

from berth.registry.auth import (
    Credentials,
    credentials_for,
    decode_registry_config,
    encode_registry_config,
)


def _header(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def test_decode_forms_docker_clients_send() -> None:
    got = decode_registry_config(_header({
        "127.0.0.1:5000": {"username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
        "tok.example": {"identitytoken": "t0k"},
        "broken.example": {"auth": "%%%"},
        "not-a-map": "x",
    }))
    assert got.pop("broken.example").empty  # an auth that decodes to nothing: anonymous
    assert got == {"127.0.0.1:5000": Credentials("u", "p"),
                   "https://index.docker.io/v1/": Credentials("hub", "pw"),
                   "tok.example": Credentials(identity_token="t0k")}
    # Very old clients wrap the map; padding may be missing (base64url as Go writes it).
    wrapped = _header({"configs": {"r.example": {"username": "a", "password": "b"}}}).rstrip("=")
    assert decode_registry_config(wrapped) == {"r.example": Credentials("a", "b")}


def test_undecodable_header_means_anonymous() -> None:
    for header in (None, "", "e30=", "!!!not base64", _header([1, 2]), "bm90IGpzb24="):
        assert decode_registry_config(header) == {}


def test_round_trip_and_lookup() -> None:
    auths = {"127.0.0.1:5000": Credentials("u", "p"), "https://legacy.example/v1/": Credentials("l", "q"),
             "https://index.docker.io/v1/": Credentials("hub", "pw")}
    assert decode_registry_config(encode_registry_config(auths)) == auths
    assert credentials_for(auths, "127.0.0.1:5000") == Credentials("u", "p")
    assert credentials_for(auths, "legacy.example") == Credentials("l", "q")  # legacy key form
    assert credentials_for(auths, "docker.io") == Credentials("hub", "pw")
    assert credentials_for(auths, "other.example").empty
    assert credentials_for({"docker.io": Credentials("x", "y")}, "docker.io").empty  # moby: exact key
