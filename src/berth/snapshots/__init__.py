"""Snapshotters: unpacked layers and container root filesystems, described as Mount values."""
