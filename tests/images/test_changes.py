from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.images.changes import apply_changes


def test_all_supported_changes():
    cfg = apply_changes({}, [
        'CMD ["/bin/sh", "-c", "echo hi"]',
        "ENTRYPOINT /entry.sh --flag",
        "ENV A=1 B=\"two words\"",
        "ENV C three words",
        "ENV A=override",
        "EXPOSE 80 53/udp",
        'LABEL a=b "c d"=e',
        "USER nobody",
        "WORKDIR /srv",
        'VOLUME ["/data"]',
        "VOLUME /logs /cache",
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN echo",
    ])
    assert cfg == {
        "Cmd": ["/bin/sh", "-c", "echo hi"],
        "Entrypoint": ["/bin/sh", "-c", "/entry.sh --flag"],
        "Env": ["B=two words", "C=three words", "A=override"],
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Labels": {"a": "b", "c d": "e"},
        "User": "nobody",
        "WorkingDir": "/srv",
        "Volumes": {"/data": {}, "/logs": {}, "/cache": {}},
        "StopSignal": "SIGINT",
        "OnBuild": ["RUN echo"],
    }


def test_input_not_modified():
    base = {"Env": ["A=1"]}
    apply_changes(base, ["ENV B=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize(("line", "message"), [
    ("RUN echo hi", "RUN is not a valid change command"),
    ("from busybox", "FROM is not a valid change command"),
    ("EXPOSE abc", "invalid port"),
    ("ENV =x", "KEY=value"),
])
def test_rejected(line, message):
    with pytest.raises(InvalidArgument, match=message):
        apply_changes({}, [line])
