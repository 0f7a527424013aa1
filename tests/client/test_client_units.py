"""Pure tests of the client's value-level pieces: hosts, status mapping, frames, progress lines."""

from __future__ import annotations

import pytest

from berth.client.api import encode_filters, negotiate_version
from berth.client.autostart import should_autostart
from berth.client.frames import FrameDecoder, StreamType, encode_frame
from berth.client.hosts import DEFAULT_HOST, parse_host, resolve_host
from berth.client.http import build_path
from berth.client.progress import StreamError, decode_progress
from berth.client.statuses import error_for_status
from berth.errors import (
    Conflict,
    Forbidden,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
    Unavailable,
)


def test_host_precedence():
    env = {"DOCKER_HOST": "unix:///d.sock", "BERTH_HOST": "unix:///b.sock"}
    assert resolve_host("unix:///flag.sock", env).socket_path == "/flag.sock"
    assert resolve_host(None, env).socket_path == "/d.sock"
    assert resolve_host(None, {"BERTH_HOST": "unix:///b.sock"}).socket_path == "/b.sock"
    default = resolve_host(None, {})
    assert default.url == DEFAULT_HOST and default.is_default
    assert not resolve_host(None, env).is_default


def test_bad_hosts_are_rejected():
    with pytest.raises(InvalidArgument):
        parse_host("tcp://1.2.3.4:2375")
    with pytest.raises(InvalidArgument):
        parse_host("unix://relative.sock")


def test_autostart_only_for_root_default_host():
    default = resolve_host(None, {})
    assert should_autostart(default, {}, 0)
    assert not should_autostart(default, {}, 1000)
    assert not should_autostart(default, {"BERTH_NO_AUTOSTART": "1"}, 0)
    assert not should_autostart(parse_host("unix:///run/berth/berth.sock"), {}, 0)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, InvalidArgument), (404, NotFound), (409, Conflict), (304, NotModified),
     (403, Forbidden), (500, Internal), (503, Unavailable), (418, InvalidArgument),
     (502, Internal)],
)
def test_status_mapping(status, cls):
    err = error_for_status(status, b'{"message":"boom"}')
    assert type(err) is cls
    assert err.message == "boom"


def test_status_mapping_keeps_non_json_body():
    assert error_for_status(500, b"plain text\n").message == "plain text"
    assert error_for_status(304, b"").message == "unexpected status 304"


def test_negotiation():
    assert negotiate_version("1.45") == "1.45"
    assert negotiate_version("1.50") == "1.45"
    assert negotiate_version("1.41") == "1.41"
    assert negotiate_version(None) == "1.24"


def test_query_encoding():
    assert build_path("/containers/json", {"all": True, "limit": None, "x": False}) == \
        "/containers/json?all=1&x=0"
    assert build_path("/images/create", {"changes": ["CMD [\"sh\"]", "ENV A=1"]}) == \
        "/images/create?changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1"
    assert encode_filters({"name": ["web"]}) == '{"name": {"web": true}}'
    assert encode_filters({}) is None


def test_frames_roundtrip_and_partial_input():
    raw = encode_frame(StreamType.STDOUT, b"hi\n") + encode_frame(StreamType.STDERR, b"err")
    assert raw[:11] == bytes([1, 0, 0, 0, 0, 0, 0, 3]) + b"hi\n"
    dec = FrameDecoder()
    frames = []
    for i in range(len(raw)):  # one byte at a time: no frame may be emitted early or lost
        frames += dec.feed(raw[i:i + 1])
    assert [(f.stream, f.data) for f in frames] == [(StreamType.STDOUT, b"hi\n"),
                                                     (StreamType.STDERR, b"err")]
    assert dec.pending == 0


def test_frames_reject_garbage():
    with pytest.raises(InvalidArgument):
        FrameDecoder().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01x")


def test_progress_lines_and_inband_errors():
    lines = [b'{"status":"Pulling fs layer","id":"abc"}\r\n', b"\r\n",
             b'{"aux":{"ID":"sha256:1"}}\n',
             b'{"errorDetail":{"message":"bad","code":3},"error":"bad"}\n',
             b'{"status":"never"}\n']
    it = decode_progress(lines)
    first = next(it)
    assert (first.status, first.id) == ("Pulling fs layer", "abc")
    assert next(it).aux == {"ID": "sha256:1"}
    with pytest.raises(StreamError) as info:
        next(it)
    assert (info.value.message, info.value.code) == ("bad", 3)
