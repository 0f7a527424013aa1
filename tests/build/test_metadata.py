"""Metadata steps: config changes and Docker's CREATED BY texts."""

from __future__ import annotations

import pytest

from berth.build.metadata import apply_metadata, parse_duration_ns
from berth.errors import InvalidArgument


def test_env_replaces_in_place_and_history_text():
    cfg = {"Env": ["PATH=/bin", "A=1", "B=2"]}
    assert apply_metadata("env", ("A", "x y", "C", "3"), cfg) == "/bin/sh -c #(nop)  ENV A=x y C=3"
    assert cfg["Env"] == ["PATH=/bin", "A=x y", "B=2", "C=3"]


def test_cmd_entrypoint_forms_and_reset():
    cfg = {"Cmd": ["sh"]}
    assert apply_metadata("entrypoint", ("echo hi",), cfg) == \
        '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c" "echo hi"]'
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "echo hi"] and cfg["Cmd"] is None
    apply_metadata("cmd", ("a", "b"), cfg, exec_form=True)
    apply_metadata("entrypoint", ("x",), cfg, exec_form=True, cmd_set=True)
    assert cfg["Cmd"] == ["a", "b"]
    apply_metadata("cmd", ("run me",), cfg, shell=["/bin/ash", "-eo"])
    assert cfg["Cmd"] == ["/bin/ash", "-eo", "run me"]


def test_expose_label_volume_user_stopsignal():
    cfg: dict = {}
    assert apply_metadata("expose", ("80", "53/udp", "8000-8001/tcp"), cfg).endswith(
        "EXPOSE 53/udp 80/tcp 8000/tcp 8001/tcp")
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    apply_metadata("label", ("a", "1", "b c", "2"), cfg)
    assert cfg["Labels"] == {"a": "1", "b c": "2"}
    apply_metadata("volume", ("/data", "/logs"), cfg)
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}}
    apply_metadata("user", ("nobody:nogroup",), cfg)
    apply_metadata("stopsignal", ("SIGUSR1",), cfg)
    assert cfg["User"] == "nobody:nogroup" and cfg["StopSignal"] == "SIGUSR1"
    with pytest.raises(InvalidArgument):
        apply_metadata("stopsignal", ("NOPE",), cfg)
    with pytest.raises(InvalidArgument):
        apply_metadata("expose", ("http",), cfg)


def test_healthcheck():
    cfg: dict = {}
    apply_metadata("healthcheck", ("CMD", "curl -f x"), cfg,
                   flags={"interval": "1m30s", "timeout": "500ms", "retries": "4"})
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f x"], "Interval": 90_000_000_000,
                                  "Timeout": 500_000_000, "Retries": 4}
    apply_metadata("healthcheck", ("NONE",), cfg)
    assert cfg["Healthcheck"] == {"Test": ["NONE"]}


@pytest.mark.parametrize(("text", "ns"), [("30s", 30_000_000_000), ("1h", 3_600_000_000_000),
                                          ("1.5s", 1_500_000_000), ("0", 0)])
def test_durations(text, ns):
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "5", "5x", "s"])
def test_bad_durations(text):
    with pytest.raises(InvalidArgument):
        parse_duration_ns(text)
