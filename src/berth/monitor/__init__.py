"""Resource monitoring: pure parsers of cgroup (v1 and v2) and /proc files, readers that
apply them to one container or the host, and the bounded in-memory history.

Nothing here knows HTTP or the container service: callers pass paths and PIDs in and get
frozen samples out.
"""
