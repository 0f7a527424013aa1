"""``berth registry serve``: the OCI distribution API over a filesystem store (own process)."""
