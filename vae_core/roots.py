"""Data roots: the folders a server may read datasets from, and the one check that a path lies inside them.

A path that a stranger may have chosen (an uploaded checkpoint's stored options, a folder named on a shared
server) crosses into the process here: resolved (symlinks and `..` followed to the real file) and accepted only
when the real path lies inside a root. Loaders call `check` on every file they open when given roots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

ROOTS_ENV = "VAE_DATA_ROOTS"  # the roots, separated by os.pathsep (the app's `--data-root` sets it)


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


@dataclass(frozen=True)
class DataRoots:
    """Folders, each held as its real path (a root that is itself a symlink counts where it points)."""

    folders: tuple[Path, ...]

    def __post_init__(self):
        real = tuple(dict.fromkeys(_real(folder) for folder in self.folders))
        object.__setattr__(self, "folders", real)

    @classmethod
    def from_env(cls, default: tuple[Path, ...]) -> DataRoots:
        """ROOTS_ENV's folders when it is set, else `default`."""
        listed = [p for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
        return cls(tuple(Path(p) for p in listed) if listed else default)

    def with_folder(self, folder: str | Path) -> DataRoots:
        """These roots and one more (e.g. a visitor's own workspace)."""
        return DataRoots((*self.folders, Path(folder)))

    def contains(self, path: str | Path) -> bool:
        real = _real(path)
        return any(real.is_relative_to(root) for root in self.folders)

    def check(self, path: str | Path) -> Path:
        """The real path of `path` when it lies inside a root; otherwise a DatasetError (nothing is opened)."""
        if not self.contains(path):
            raise DatasetError(f"{Path(path).name or path!s} is outside the data folders this server may read "
                               f"({self.describe()})")
        return _real(path)

    def describe(self) -> str:
        return ", ".join(str(folder) for folder in self.folders) or "none"

    def key(self) -> str:
        """A stable string naming these roots (a cache key)."""
        return os.pathsep.join(str(folder) for folder in self.folders)
