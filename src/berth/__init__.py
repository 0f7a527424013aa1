"""berth: a container engine that speaks the Docker Engine API.

Layers (dependencies point down):
    cli -> client
    daemon -> services -> {images, store, snapshots, shim, network}
    shim -> runtime
    runtime -> {oci, mount, errors, ids}
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
