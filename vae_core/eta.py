"""Projected run times from the progress so far: what the CLI prints and the app shows."""

from __future__ import annotations


def remaining_seconds(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left if the rest goes at the pace so far; None before the first unit of work is done."""
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed / done * max(0, total - done)


def format_duration(seconds: float) -> str:
    """A duration for people: "40 s", "12 min", "3.8 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
