"""Pure parts of --device / --device-cgroup-rule / --group-add: specgen's output and the host
device reader on nodes made in a temporary directory (root: mknod)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from berth.errors import InvalidArgument, RuntimeFailure
from berth.oci.specgen import HostDevice, SpecInput, check_security, generate
from berth.security import devices

CID = "c" * 64


def _gen(hc: dict[str, object], devs: tuple[HostDevice, ...] = ()) -> dict[str, object]:
    return generate(SpecInput(container_id=CID, config={"Cmd": ["true"]}, host_config=hc,
                              cgroups_path=f"berth/{CID}", devices=devs))


def test_device_nodes_and_allow_rules() -> None:
    dev = HostDevice("/dev/f", "c", 10, 229, 0o600, 0, 6, "rw")
    spec = _gen({"DeviceCgroupRules": ["b 8:* r", "c *:* m"]}, (dev,))
    linux = spec["linux"]
    assert isinstance(linux, dict)
    assert linux["devices"] == [{"path": "/dev/f", "type": "c", "major": 10, "minor": 229,
                                 "fileMode": 0o600, "uid": 0, "gid": 6}]
    rules = linux["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert rules[-3:] == [{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                          {"allow": True, "type": "b", "major": 8, "minor": -1, "access": "r"},
                          {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"}]


def test_group_add() -> None:
    spec = _gen({"GroupAdd": ["10", "audio", "10"]})
    assert spec["process"]["user"]["additionalGids"] == [10]  # type: ignore[index]
    assert spec["annotations"] == {"berth.groups": "audio"}
    for bad in ({"GroupAdd": ["a,b"]}, {"DeviceCgroupRules": ["x 1:1 r"]},
                {"DeviceCgroupRules": ["c 1:1 rwx"]}):
        with pytest.raises(InvalidArgument):
            check_security(bad)


def test_host_device_reader(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "pts").mkdir()
    os.mknod(tmp_path / "null2", stat.S_IFCHR | 0o640, os.makedev(1, 3))
    os.mknod(tmp_path / "sub" / "blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    os.mknod(tmp_path / "pts" / "skipped", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    (tmp_path / "plain").write_text("x")
    found = devices.host_devices(str(tmp_path))
    assert [(d.path, d.type, d.major, d.minor, d.file_mode) for d in found] == [
        (str(tmp_path / "null2"), "c", 1, 3, 0o640), (str(tmp_path / "sub" / "blk"), "b", 7, 0, 0o600)]
    mapped = devices.mapped_devices([{"PathOnHost": str(tmp_path / "sub"), "PathInContainer": "/dev/x",
                                      "CgroupPermissions": "r"}])
    assert [(d.path, d.permissions) for d in mapped] == [("/dev/x/blk", "r")]
    with pytest.raises(RuntimeFailure, match="not a device node"):
        devices.mapped_devices([{"PathOnHost": str(tmp_path / "plain")}])
    with pytest.raises(InvalidArgument):
        devices.check_mappings({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "q"}]})
