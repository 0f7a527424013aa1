"""berth's OCI runtime, used in-process by the shim: see ``berth.runtime.container``."""

__all__: list[str] = []
