"""The registry side of berth: a Docker Registry v2 / OCI distribution client (used by berthd)
and ``berth registry serve`` (package ``server``), which share only media types (``media``)."""
