"""berth's docker-compatible command line: ``main`` dispatches to one module per command group
(``run``, ``containers``, ``images``, ``system``); it talks to the daemon only via ``berth.client``.
"""

__all__: list[str] = []
