"""Persistent state: the SQLite metadata database, container records and the content store."""
