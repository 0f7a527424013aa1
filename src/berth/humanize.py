"""Human-readable durations and sizes, with the same wording and rounding as Docker's go-units.

Shared by berthd (``ps`` status text) and the CLI (CREATED and SIZE columns).
"""

from __future__ import annotations

__all__ = ["human_duration", "human_size"]


def human_duration(seconds: float) -> str:
    """``Less than a second``, ``3 seconds``, ``About a minute``, ``2 hours``, ``3 weeks`` ..."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{hours // (24 * 365)} years"


def human_size(size: float) -> str:
    """Decimal units with 3 significant digits, as ``docker images`` prints: ``4.26MB``, ``1.2kB``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.4g}{units[i]}"
