"""berth.runtime._fastjson gives what json gives: values, text and errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from berth.runtime import _fastjson

DOCUMENTS: list[Any] = [
    {},
    [],
    "",
    0,
    -12,
    10**30,
    1.5,
    -0.0,
    1e-300,
    3.141592653589793,
    True,
    False,
    None,
    "plain",
    "quote \" backslash \\ slash / controls \b\f\n\r\t \x00 \x1f",
    "unicode é ü 漢字 \u2028 \U0001f600",
    {"ociVersion": "1.2.0", "process": {"args": ["sh", "-c", "echo hi"], "env": ["A=1"], "terminal": False,
                                         "user": {"uid": 0, "gid": 0, "additionalGids": [1, 2]}},
     "root": {"path": "rootfs", "readonly": True}, "annotations": {"k": "v", "é": "ü"},
     "linux": {"resources": {"memory": {"limit": 1 << 40}, "cpu": {"shares": 1024, "quota": -1}},
               "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                   {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": []}]}}},
    [[[[[]]]], [{}], {"a": [{"b": None}]}],
    {"version": 1, "id": "x", "pid": 1234, "cgroup_paths": {"memory": "/sys/fs/cgroup/memory/x"},
     "started": False, "created": "2026-11-27T19:54:50.802105202Z"},
]


@pytest.mark.parametrize("doc", DOCUMENTS)
@pytest.mark.parametrize("kwargs", [{}, {"indent": 2}, {"indent": 4}, {"sort_keys": True},
                                    {"sort_keys": True, "separators": (",", ":")},
                                    {"indent": 2, "separators": (", ", " : ")}])
def test_dumps_and_loads_match_json(doc: Any, kwargs: dict[str, Any]) -> None:
    text = _fastjson.dumps(doc, **kwargs)
    assert text == json.dumps(doc, **kwargs)
    assert _fastjson.loads(text) == json.loads(text)
    assert _fastjson.loads(text.encode()) == json.loads(text.encode())


@pytest.mark.parametrize("text", [
    ' \t\n\r{"a" : [ 1 , 2 ] }\n ', "[1e5, 1E-2, -0, 0.5e+3]", '"\\u00e9\\ud83d\\ude00\\n"', "123",
    '{"a": 1, "a": 2}', "[NaN, Infinity, -Infinity]", '{"deep": ' * 50 + "1" + "}" * 50,
])
def test_loads_edge_cases(text: str) -> None:
    got = _fastjson.loads(text)
    want = json.loads(text)
    assert repr(got) == repr(want) and type(got) is type(want)


def test_special_floats_and_keys() -> None:
    doc = {1: "int key", 2.5: "float", False: "bool", None: "none", "s": [math.inf, -math.inf]}
    for kwargs in ({}, {"indent": 2}, {"sort_keys": False}):
        assert _fastjson.dumps(doc, **kwargs) == json.dumps(doc, **kwargs)
    assert _fastjson.dumps([math.nan], indent=1) == json.dumps([math.nan], indent=1)
    assert _fastjson.dumps((1, (2, 3))) == json.dumps((1, (2, 3)))
    assert _fastjson.dumps((1, (2, 3)), indent=2) == json.dumps((1, (2, 3)), indent=2)


@pytest.mark.parametrize("text", [
    "", "   ", "{", "[1,", '{"a" 1}', "[1] x", "{} {}", "tru", '"unterminated', '"bad \\x escape"',
    '{"a": 1,}', "[01]", '"\x01 control"', "\ufeff{}", "nan",
])
def test_invalid_json_is_jsons_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        _fastjson.loads(text)
    assert str(got.value) == str(want.value) and got.value.pos == want.value.pos


def test_non_utf8_bytes_follow_json() -> None:
    doc = {"a": "é"}
    utf16 = json.dumps(doc).encode("utf-16")
    assert _fastjson.loads(utf16) == json.loads(utf16) == doc
    with pytest.raises(UnicodeDecodeError):
        _fastjson.loads(b'"\xff"')
    with pytest.raises(UnicodeDecodeError):
        json.loads(b'"\xff"')


def test_unserialisable_values_are_jsons_errors() -> None:
    for kwargs in ({}, {"indent": 2}):
        with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
            _fastjson.dumps({"a": {1}}, **kwargs)
    with pytest.raises(TypeError, match="keys must be str"):
        _fastjson.dumps({(1, 2): 3}, indent=2)
    with pytest.raises(TypeError, match="keys must be str"):
        _fastjson.dumps({(1, 2): 3})
    loop: list[Any] = []
    loop.append(loop)
    for kwargs in ({}, {"indent": 2}):
        with pytest.raises(ValueError, match="Circular reference"):
            _fastjson.dumps(loop, **kwargs)
    # default= turns the unknown into JSON, as json's does (bpfcache keys use default=str).
    assert _fastjson.dumps({"b": {1}, "a": 1}, sort_keys=True, separators=(",", ":"), default=str) == \
        json.dumps({"b": {1}, "a": 1}, sort_keys=True, separators=(",", ":"), default=str)
    assert _fastjson.dumps([{1}], indent=2, default=sorted) == json.dumps([{1}], indent=2, default=sorted)


def _fresh(code: str) -> str:
    """stdout of ``code`` in a new interpreter without site (as berth-runtime runs)."""
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": ":".join(sys.path)}).stdout


def test_imports_no_json() -> None:
    out = _fresh("import sys; from berth.runtime import _fastjson; "
                 "_fastjson.dumps(_fastjson.loads('{\"a\": [1, 2.5, null]}'), indent=2); "
                 "print(' '.join(sys.modules))")
    assert {"json", "json.decoder", "re", "enum"} & set(out.split()) == set()


@pytest.mark.parametrize("text", ['{"a": {', "[1,2", '"abc', '{"a" 1}', "[1] x", ""])
def test_first_error_without_json_loaded(text: str) -> None:
    # The C scanner raises its errors only when json.decoder is already imported.
    code = (f"from berth.runtime import _fastjson\ntry: _fastjson.loads({text!r})\n"
            "except Exception as e: print(type(e).__name__, e)")
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    assert _fresh(code).strip() == f"JSONDecodeError {want.value}"
