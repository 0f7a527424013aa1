"""Cgroup managers for the runtime: the protocol (manager.py), v1 and v2 backends, and the
pure mapping from OCI ``linux.resources`` to cgroup file writes (resources.py)."""

from berth.runtime.cgroups.manager import detect, manager_for_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.runtime.cgroups.manager import CgroupManager as CgroupManager

__all__ = ["detect", "manager_for_paths"]
