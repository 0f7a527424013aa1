"""berth.shim: the per-container shim process, its protocol, its daemon-side client and logs.

Modules: ``main`` (the shim process), ``loop``/``conn``/``server`` (its event loop and socket),
``io`` (container stdio and attach), ``process`` (init state machine, reaping), ``protocol``
(wire format), ``spec`` (shim.json), ``exitfile`` (exit.json), ``jsonlog`` (json-file logs),
``client`` (asyncio client for berthd). Nothing is re-exported here so that starting a shim
imports only what the shim uses.
"""

__all__: list[str] = []
