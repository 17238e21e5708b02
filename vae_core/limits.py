"""Allowed ranges of config values: declared once by the config dataclasses, read by the CLI help and the UI."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high] of allowed values; `str()` gives "1..128" for help texts and messages."""

    low: float
    high: float

    def contains(self, value) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{_number(self.low)}..{_number(self.high)}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def check(checks: list[tuple[bool, str]]) -> None:
    """Raise ConfigError with the message of the first failed (ok, message) check."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
