"""The client's HTTP/1.1 framing (berth.client.http) against a real unix-socket peer that
answers with canned bytes: Content-Length, chunked and EOF-delimited bodies, HEAD, 1xx,
errors, streamed uploads, and the request bytes it sends."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.client.http import Request, send
from berth.client.transport import UnixTransport
from berth.errors import NotFound, Unavailable


class _Peer:
    """Accepts one connection, records the request bytes, writes ``reply`` and closes."""

    def __init__(self, path: Path, reply: bytes, request_end: bytes = b"\r\n\r\n") -> None:
        self.received = b""
        self._reply = reply
        self._end = request_end
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._srv.bind(str(path))
        self._srv.listen(1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._srv.accept()
        with conn:
            while not self.received.endswith(self._end):
                data = conn.recv(65536)
                if not data:
                    break
                self.received += data
            conn.sendall(self._reply)

    def close(self) -> None:
        self._thread.join(5)
        self._srv.close()


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "peer.sock"


def _exchange(path: Path, reply: bytes, req: Request, end: bytes = b"\r\n\r\n") -> tuple[_Peer, bytes]:
    peer = _Peer(path, reply, end)
    try:
        body = send(UnixTransport(str(path)), "/v1.45", req).read()
    finally:
        peer.close()
    return peer, body


def test_content_length_body_and_request_line(sock_path: Path) -> None:
    peer, body = _exchange(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello-extra",
                           Request("GET", "/containers/json", {"all": True, "filters": None}))
    assert body == b"hello"
    head = peer.received.decode()
    assert head.startswith("GET /v1.45/containers/json?all=1 HTTP/1.1\r\n")
    assert "\r\nHost: localhost\r\n" in head


def test_json_body_is_sent_with_its_length(sock_path: Path) -> None:
    peer = _Peer(sock_path, b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 11\r\n\r\n{\"Id\": \"x\"}", request_end=b"}")
    try:
        resp = send(UnixTransport(str(sock_path)), "", Request("POST", "/containers/create", body={"a": 1}))
        assert resp.status == 201 and resp.headers.get("content-type") == "application/json"
        assert resp.json() == {"Id": "x"}
    finally:
        peer.close()
    assert b"Content-Length: 8\r\n" in peer.received and peer.received.endswith(b'\r\n\r\n{"a": 1}')


def test_chunked_lines_across_chunk_boundaries(sock_path: Path) -> None:
    reply = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"4\r\n{\"a\"\r\n6\r\n:1}\n{\"\r\n5;ext=1\r\nb\":2}\r\n1\r\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n")
    peer = _Peer(sock_path, reply)
    try:
        resp = send(UnixTransport(str(sock_path)), "", Request("GET", "/events"))
        assert list(resp.iter_lines()) == [b'{"a":1}\n', b'{"b":2}\n']
    finally:
        peer.close()


def test_chunked_read_and_read_some(sock_path: Path) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    peer = _Peer(sock_path, reply)
    try:
        resp = send(UnixTransport(str(sock_path)), "", Request("GET", "/x"))
        got = b""
        while chunk := resp.read_some(2):
            got += chunk
        assert got == b"abcde"
        resp.close()
    finally:
        peer.close()


def test_body_up_to_eof_and_informational_responses(sock_path: Path) -> None:
    _, body = _exchange(sock_path, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nline1\nline2",
                        Request("GET", "/x"))
    assert body == b"line1\nline2"


def test_head_has_no_body_whatever_its_length(sock_path: Path) -> None:
    peer = _Peer(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n"
                            b"X-Docker-Container-Path-Stat: e30=\r\n\r\n")
    try:
        resp = send(UnixTransport(str(sock_path)), "", Request("HEAD", "/containers/c/archive"))
        assert resp.headers["x-docker-container-path-stat"] == "e30="
        assert resp.read() == b""
    finally:
        peer.close()


def test_error_status_becomes_the_error_class(sock_path: Path) -> None:
    body = b'{"message":"No such container: nope"}'
    reply = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with pytest.raises(NotFound, match="No such container: nope"):
        _exchange(sock_path, reply, Request("GET", "/containers/nope/json"))


def test_stream_upload_is_chunked(sock_path: Path) -> None:
    peer = _Peer(sock_path, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", request_end=b"0\r\n\r\n")
    try:
        resp = send(UnixTransport(str(sock_path)), "", Request("POST", "/images/load",
                                                               body=io.BytesIO(b"x" * 70000)))
        assert resp.read() == b"ok"
    finally:
        peer.close()
    head, _, rest = peer.received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"Content-Type: application/x-tar" in head
    assert rest == b"10000\r\n" + b"x" * 65536 + b"\r\n1170\r\n" + b"x" * 4464 + b"\r\n0\r\n\r\n"


@pytest.mark.parametrize("reply", [
    b"",                                                   # closed without a response
    b"garbage\r\n\r\n",                                    # not HTTP
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # body cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
])
def test_broken_responses_are_unavailable(sock_path: Path, reply: bytes) -> None:
    with pytest.raises(Unavailable):
        _exchange(sock_path, reply, Request("GET", "/x"))
