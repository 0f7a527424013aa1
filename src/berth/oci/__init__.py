"""OCI formats: capability names and runtime-spec generation from Docker's container config."""

__all__: list[str] = []
