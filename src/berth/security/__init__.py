"""Container confinement policy: seccomp profiles (Docker's format) and the engine's own doors."""
