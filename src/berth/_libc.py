"""libc's functions for berth's system calls, bound through ``_ctypes`` without the ctypes package.

berth-runtime is started once per container operation, and ``import ctypes`` alone cost ~2.5 ms
of every ``create``/``run``/``exec`` (its ``__init__`` builds some 40 C types, a callback and
two library handles; bench/README.md, issue 11). The runtime needs a handful of simple types,
structures, ``byref``/``addressof`` and the C library already loaded into the process, all of
which ``_ctypes`` (the C half of ctypes) provides; this module defines just those, the way
ctypes itself does, and nothing else. Values and calls behave as ctypes': a function returns
``c_int`` unless its ``restype`` says otherwise, arguments convert through ``argtypes``, and
``get_errno`` reads the errno saved right after the call.

mypy checks callers against ctypes' own stubs (the names are the same).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ctypes import (
        CDLL,
        Array,
        Structure,
        addressof,
        byref,
        c_char,
        c_char_p,
        c_int,
        c_int32,
        c_long,
        c_size_t,
        c_uint,
        c_uint32,
        c_uint64,
        c_ulong,
        c_ushort,
        c_void_p,
        get_errno,
        sizeof,
    )

    libc: CDLL
else:
    import _ctypes
    from _ctypes import Structure, addressof, byref, get_errno, sizeof

    # The type codes are struct's; on LP64 Linux long is 64 bits, as ctypes' aliases assume.
    class c_char(_ctypes._SimpleCData):
        _type_ = "c"

    class c_char_p(_ctypes._SimpleCData):
        _type_ = "z"

    class c_void_p(_ctypes._SimpleCData):
        _type_ = "P"

    class c_ushort(_ctypes._SimpleCData):
        _type_ = "H"

    class c_int(_ctypes._SimpleCData):
        _type_ = "i"

    class c_uint(_ctypes._SimpleCData):
        _type_ = "I"

    class c_long(_ctypes._SimpleCData):
        _type_ = "l"

    class c_ulong(_ctypes._SimpleCData):
        _type_ = "L"

    c_int32 = c_int
    c_uint32 = c_uint
    c_uint64 = c_size_t = c_ulong

    class _Function(_ctypes.CFuncPtr):
        # ctypes.CDLL(..., use_errno=True)'s functions: cdecl, errno saved after each call.
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = c_int

    class _Library:
        """A loaded library; ``lib.name`` is its function ``name`` (made once, as CDLL does)."""

        def __init__(self, handle: int) -> None:
            self._handle = handle  # read by CFuncPtr((name, library))

        def __getattr__(self, name: str) -> _Function:
            if name.startswith("__"):
                raise AttributeError(name)
            func = _Function((name, self))
            setattr(self, name, func)
            return func

    # dlopen(NULL): the process itself, so libc is the one already loaded (no search, no ldconfig).
    libc = _Library(_ctypes.dlopen(None, 0))

__all__ = ["Structure", "addressof", "byref", "c_char", "c_char_p", "c_int", "c_int32", "c_long",
           "c_size_t", "c_uint", "c_uint32", "c_uint64", "c_ulong", "c_ushort", "c_void_p", "get_errno",
           "libc", "sizeof", "string_buffer"]


def string_buffer(data: bytes) -> Array[c_char]:
    """A C array holding exactly ``data`` (NULs included), as ``create_string_buffer(data, len(data))``."""
    buf = (c_char * len(data))()
    buf.raw = data
    return buf
