"""Container networking: address management, kernel plumbing (netns, bridges, veths, nftables),
the per-container /etc files and the embedded DNS responder. No HTTP, no container lifecycle:
``berth.services.networks`` composes these."""
