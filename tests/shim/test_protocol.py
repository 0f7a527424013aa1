import struct

import pytest

from berth import errors
from berth.shim.protocol import (
    AttachRequest,
    ExitStatus,
    FrameStream,
    KillRequest,
    ProcessStatus,
    ResizeRequest,
    ShimState,
    ShutdownRequest,
    StartRequest,
    StateRequest,
    WaitRequest,
    decode_request,
    decode_response,
    encode_error,
    encode_frame,
    encode_ok,
    encode_request,
)


@pytest.mark.parametrize("req", [
    StartRequest(), KillRequest(15, False), KillRequest(9, True), ResizeRequest(24, 80),
    StateRequest(), WaitRequest(), AttachRequest(True, True, False), ShutdownRequest(),
])
def test_request_round_trip(req):
    line = encode_request(req)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == req


def test_wire_shape_matches_internals():
    assert encode_request(KillRequest(15)) == b'{"op": "kill", "signal": 15, "all": false}\n'
    assert decode_request(b'{"op":"resize","height":40,"width":100}') == ResizeRequest(40, 100)


@pytest.mark.parametrize("line", [b"nope", b"[]", b'{"op":"fly"}', b'{"op":"kill"}',
                                  b'{"op":"resize","height":"x","width":1}'])
def test_bad_requests(line):
    with pytest.raises(errors.InvalidArgument):
        decode_request(line)


def test_errors_cross_as_their_class():
    with pytest.raises(errors.Conflict, match="container is running"):
        decode_response(encode_error(errors.Conflict("container is running")))
    with pytest.raises(errors.Internal):
        decode_response(b'{"ok": false, "error": "x", "kind": "KeyError"}')
    assert decode_response(encode_ok({"pid": 5})) == {"ok": True, "pid": 5}


def test_values_round_trip():
    status = ExitStatus(137, 1_700_000_000_123_456_789, True)
    assert status.finished_at == "2023-11-14T22:13:20.123456789Z"
    assert ExitStatus.from_json(status.to_json()) == status
    state = ShimState(42, ProcessStatus.RUNNING)
    assert ShimState.from_json(state.to_json()) == state


def test_frames():
    frame = encode_frame(FrameStream.STDERR, b"hey")
    assert frame == b"\x02\x00\x00\x00" + struct.pack(">I", 3) + b"hey"
