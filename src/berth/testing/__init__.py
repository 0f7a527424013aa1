"""Helpers for tests and for preparing local base images; nothing here is used by berthd itself."""
