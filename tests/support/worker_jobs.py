"""Functions the job-queue tests run in worker processes (importable by name there, and light to import)."""

from __future__ import annotations

import time
from pathlib import Path


def timed_sleep(log: Path, name: str, seconds: float, progress=None) -> str:
    """Sleep in the worker, reporting progress; append "name start end" (wall-clock seconds, as the worker saw them)
    to `log`."""
    started = time.time()
    steps = 10
    for i in range(steps):
        time.sleep(seconds / steps)
        progress((i + 1) / steps, f"{name}: {i + 1} of {steps}")
    with open(log, "a") as f:
        f.write(f"{name} {started} {time.time()}\n")
    return name


def intervals(log: Path) -> dict[str, tuple[float, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return {name: (float(start), float(end)) for name, start, end in rows}


def most_at_once(spans) -> int:
    """The largest number of the (start, end) spans that overlap at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most
