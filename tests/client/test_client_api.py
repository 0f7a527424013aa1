"""The API client against a real HTTP server on a unix socket (a tiny stand-in daemon in a
thread): version negotiation, error mapping, chunked streams, hijacked attach, wait headers.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import tempfile
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from berth.client import APIClient, UnixTransport
from berth.client.frames import FrameDecoder, StreamType, encode_frame
from berth.errors import Conflict, NotFound, Unavailable


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api_version: str | None = "1.41"
    seen: ClassVar[list[str]] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status, body=b"", ctype="application/json", extra=None):
        self.send_response(status)
        if self.api_version:
            self.send_header("Api-Version", self.api_version)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.seen.append(f"HEAD {self.path}")
        self._reply(200)

    def do_GET(self):
        self.seen.append(f"GET {self.path}")
        if self.path.endswith("/containers/nope/json"):
            self._reply(404, b'{"message":"No such container: nope"}')
        elif "/logs" in self.path:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for payload in (encode_frame(StreamType.STDOUT, b"a\n"),
                            encode_frame(StreamType.STDERR, b"b\n")):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._reply(200, json.dumps({"ApiVersion": "1.41", "path": self.path}).encode())

    def do_DELETE(self):
        self.seen.append(f"DELETE {self.path}")
        self._reply(409, b'{"message":"You cannot remove a running container"}')

    def do_POST(self):
        self.seen.append(f"POST {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "/attach" in self.path:
            assert self.headers["Upgrade"] == "tcp"
            self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                             b"application/vnd.docker.multiplexed-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                             + encode_frame(StreamType.STDOUT, b"early"))
            self.wfile.flush()
            data = self.connection.recv(100)  # echo one stdin chunk back as stderr
            self.wfile.write(encode_frame(StreamType.STDERR, data))
            self.wfile.flush()
            self.close_connection = True
        elif "/wait" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self.server.wait_release.wait(10)  # type: ignore[attr-defined]
            payload = b'{"StatusCode":7,"Error":null}\n'
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        elif "/containers/create" in self.path:
            assert json.loads(body)["Image"] == "busybox"
            self._reply(201, b'{"Id":"abc","Warnings":["w1"]}')
        else:
            self._reply(204)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def server():
    tmp = Path(tempfile.mkdtemp(prefix="berth-client-test-"))
    sock = tmp / "api.sock"
    _Handler.seen = []
    srv = _Server(str(sock), _Handler)
    srv.wait_release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv, sock
    finally:
        srv.wait_release.set()  # type: ignore[attr-defined]
        srv.shutdown()
        srv.server_close()
        sock.unlink(missing_ok=True)
        tmp.rmdir()


def test_negotiates_once_and_prefixes_paths(server):
    _, sock = server
    client = APIClient(UnixTransport(str(sock)))
    assert client.system_version()["path"] == "/v1.41/version"
    client.info()
    assert _Handler.seen == ["HEAD /_ping", "GET /v1.41/version", "GET /v1.41/info"]


def test_missing_api_version_header_falls_back_to_1_24(server, monkeypatch):
    _, sock = server
    monkeypatch.setattr(_Handler, "api_version", None)
    client = APIClient(UnixTransport(str(sock)))
    assert client.version == "1.24"


def test_errors_map_back_to_classes(server):
    _, sock = server
    client = APIClient(UnixTransport(str(sock)))
    with pytest.raises(NotFound, match="No such container: nope"):
        client.inspect_container("nope")
    with pytest.raises(Conflict):
        client.remove_container("x", force=False)
    assert "DELETE /v1.41/containers/x" in _Handler.seen


def test_create_returns_typed_result(server):
    _, sock = server
    result = APIClient(UnixTransport(str(sock))).create_container({"Image": "busybox"}, "n")
    assert (result.id, result.warnings) == ("abc", ("w1",))
    assert "POST /v1.41/containers/create?name=n" in _Handler.seen


def test_chunked_log_stream_demuxes(server):
    _, sock = server
    resp = APIClient(UnixTransport(str(sock))).logs("c", tail="all")
    dec = FrameDecoder()
    frames = []
    try:
        while chunk := resp.read_some():
            frames += dec.feed(chunk)
    finally:
        resp.close()
    assert [(f.stream, f.data) for f in frames] == [(StreamType.STDOUT, b"a\n"),
                                                     (StreamType.STDERR, b"b\n")]


def test_hijacked_attach_keeps_early_bytes_and_is_bidirectional(server):
    _, sock = server
    stream = APIClient(UnixTransport(str(sock))).attach("c", stdin=True, stdout=True,
                                                        stderr=True)
    try:
        assert stream.content_type == "application/vnd.docker.multiplexed-stream"
        stream.send_all(b"ping")
        data = b""
        while chunk := stream.recv():
            data += chunk
    finally:
        stream.close()
    frames = FrameDecoder().feed(data)
    assert [(f.stream, f.data) for f in frames] == [(StreamType.STDOUT, b"early"),
                                                     (StreamType.STDERR, b"ping")]


def test_wait_returns_after_headers_before_the_body(server):
    srv, sock = server
    handle = APIClient(UnixTransport(str(sock))).wait("c", "next-exit")
    # The headers are here although the server has not released the body yet.
    srv.wait_release.set()
    result = handle.result()
    assert (result.status_code, result.error) == (7, None)
    assert "POST /v1.41/containers/c/wait?condition=next-exit" in _Handler.seen


def test_unreachable_socket_is_unavailable(tmp_path):
    with pytest.raises(Unavailable, match="Cannot connect"):
        APIClient(UnixTransport(str(tmp_path / "none.sock"))).info()
