"""Cgroup managers for the runtime: the protocol (manager.py), v1 and v2 backends, and the
pure mapping from OCI ``linux.resources`` to cgroup file writes (resources.py)."""

from berth.runtime.cgroups.manager import CgroupManager, detect, manager_for_paths

__all__ = ["CgroupManager", "detect", "manager_for_paths"]
