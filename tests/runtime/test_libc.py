"""berth._libc: the runtime's C types and libc functions, bound without the ctypes package.

Each value is checked against ctypes itself (sizes, struct layout, conversions) and each call
against the kernel (a failing call's errno, a call that succeeds)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from berth import _libc
from berth.runtime import _sys

_TYPES = ("c_char", "c_char_p", "c_void_p", "c_ushort", "c_int", "c_uint", "c_long", "c_ulong",
          "c_int32", "c_uint32", "c_uint64", "c_size_t")


@pytest.mark.parametrize("name", _TYPES)
def test_types_have_ctypes_size_and_code(name: str) -> None:
    ours, theirs = getattr(_libc, name), getattr(ctypes, name)
    assert _libc.sizeof(ours) == ctypes.sizeof(theirs)
    assert ours._type_ == theirs._type_


def test_structures_lay_out_as_ctypes_does() -> None:
    class Ours(_libc.Structure):
        _fields_ = (("a", _libc.c_ushort), ("b", _libc.c_uint64), ("c", _libc.c_int32))

    class Theirs(ctypes.Structure):
        _fields_ = (("a", ctypes.c_ushort), ("b", ctypes.c_uint64), ("c", ctypes.c_int32))

    assert _libc.sizeof(Ours) == ctypes.sizeof(Theirs) == 24
    value = Ours(7, 1 << 40, -3)
    assert bytes(value) == bytes(Theirs(7, 1 << 40, -3))
    pair = (Ours * 2)()
    pair[1].b = 5
    assert (pair[0].b, pair[1].b) == (0, 5)


def test_string_buffer_keeps_every_byte() -> None:
    data = b"\x06\x00\x00\x00\xff\xff\x00\x7f" * 3
    buf = _libc.string_buffer(data)
    assert buf.raw == data and _libc.sizeof(buf) == len(data)
    assert ctypes.string_at(_libc.addressof(buf), len(data)) == data


def test_a_failing_call_leaves_its_errno() -> None:
    rc = _libc.libc.umount2(b"/nonexistent-berth-libc-test", 0)
    assert rc == -1 and _libc.get_errno() == errno.ENOENT
    with pytest.raises(OSError) as info:
        _sys.umount2("/nonexistent-berth-libc-test")
    assert info.value.errno == errno.ENOENT and "umount /nonexistent-berth-libc-test" in str(info.value)


def test_calls_reach_libc_with_their_argument_and_result_types() -> None:
    assert _libc.libc.getpid() == os.getpid()
    caps = _sys.capget()  # a struct passed by reference, an array of two filled in
    assert caps.effective & (1 << 21)  # CAP_SYS_ADMIN: the tests run as root
    _sys.capset(caps)  # the same sets back: allowed, nothing changes
    assert _sys.capget().permitted == caps.permitted

