"""Named and anonymous volumes: records and directories under ``<data-root>/volumes``."""
