"""Docker's merge of a create request's Config with the image config."""

from __future__ import annotations

from berth.oci.merge import merge_image_config

IMAGE = {
    "Env": ["PATH=/img/bin", "A=image", "B=image"],
    "Cmd": ["img-cmd"],
    "Entrypoint": ["/entry"],
    "WorkingDir": "/app",
    "User": "nobody",
    "ExposedPorts": {"80/tcp": {}},
    "Labels": {"a": "image", "b": "image"},
    "StopSignal": "SIGQUIT",
    "Volumes": {"/data": {}},
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3},
}


def test_defaults_come_from_the_image() -> None:
    out = merge_image_config({}, IMAGE)
    assert out["Cmd"] == ["img-cmd"] and out["Entrypoint"] == ["/entry"]
    assert out["Env"] == ["PATH=/img/bin", "A=image", "B=image"]
    assert (out["WorkingDir"], out["User"], out["StopSignal"]) == ("/app", "nobody", "SIGQUIT")
    assert out["ExposedPorts"] == {"80/tcp": {}} and out["Volumes"] == {"/data": {}}
    assert out["Healthcheck"] == IMAGE["Healthcheck"]


def test_container_values_override_by_key() -> None:
    out = merge_image_config({"Env": ["A=mine", "C=mine"], "Labels": {"a": "mine"},
                              "ExposedPorts": {"443/tcp": {}}, "User": "1000",
                              "WorkingDir": "/w"}, IMAGE)
    assert out["Env"] == ["A=mine", "C=mine", "PATH=/img/bin", "B=image"]
    assert out["Labels"] == {"a": "mine", "b": "image"}
    assert out["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert (out["User"], out["WorkingDir"]) == ("1000", "/w")


def test_cmd_given_keeps_image_entrypoint() -> None:
    out = merge_image_config({"Cmd": ["x"]}, IMAGE)
    assert (out["Entrypoint"], out["Cmd"]) == (["/entry"], ["x"])


def test_entrypoint_given_drops_image_cmd() -> None:
    out = merge_image_config({"Entrypoint": ["/mine"]}, IMAGE)
    assert (out["Entrypoint"], out.get("Cmd")) == (["/mine"], None)
    out = merge_image_config({"Entrypoint": ["/mine"], "Cmd": ["arg"]}, IMAGE)
    assert (out["Entrypoint"], out["Cmd"]) == (["/mine"], ["arg"])


def test_empty_entrypoint_clears_image_entrypoint() -> None:
    out = merge_image_config({"Entrypoint": [""], "Cmd": ["sh"]}, IMAGE)
    assert (out["Entrypoint"], out["Cmd"]) == ([], ["sh"])


def test_no_default_path_in_config_when_image_has_none() -> None:
    # dockerd's Config.Env: only what was given (the process gets PATH from specgen)
    assert merge_image_config({"Env": ["X=1"]}, {})["Env"] == ["X=1"]
    out = merge_image_config({"Env": [], "Volumes": None}, {"Cmd": ["sh"]})
    assert out["Env"] is None and out["Volumes"] is None


def test_healthcheck_fields_merge() -> None:
    out = merge_image_config({"Healthcheck": {"Interval": 9}}, IMAGE)
    assert out["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 9, "Retries": 3}


def test_inputs_are_not_modified() -> None:
    cfg = {"Env": ["A=1"]}
    merge_image_config(cfg, IMAGE)
    assert cfg == {"Env": ["A=1"]} and IMAGE["Env"] == ["PATH=/img/bin", "A=image", "B=image"]
