"""A container's inspect GraphDriver is overlay2's shape, as dockerd shows it: LowerDir,
UpperDir, WorkDir and MergedDir, and the container's writes are in its UpperDir."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.daemon.helpers import inspect, new_name, ok

pytestmark = pytest.mark.root


def test_graph_driver_data_names_the_writable_layer(daemon: Daemon, names: list[str]) -> None:
    name = new_name(names)
    ok(daemon.docker("run", "--name", name, "busybox", "sh", "-c", "echo x > /written"))
    driver = inspect(daemon, name)["GraphDriver"]
    assert driver["Name"] == "overlay2"
    data = driver["Data"]
    assert set(data) == {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}, data
    assert (Path(data["UpperDir"]) / "written").read_text() == "x\n"
    assert all(Path(d).is_dir() for d in data["LowerDir"].split(":"))
