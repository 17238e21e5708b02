"""Arrays derived from a checkpoint, kept on disk so that a restarted server reopens them at once.

`ArrayStore(root)`: one .npz per (checkpoint sha256, split, name) at <root>/<sha256>/<split>/<name>.npz, where
name says what the arrays are (an encoding, per-example terms, a projection's parameters). `get` returns the
arrays or None; `put` writes them to a temporary file renamed into place, so a reader never sees half a file and
two writers of the same key leave one whole file. A file that cannot be read counts as missing.

`CACHE_ROOT` (the user's cache folder, vae_core.paths) is where the app keeps them; all of it can be deleted.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from .files import write_atomically
from .paths import user_cache_dir

CACHE_ROOT = user_cache_dir() / "arrays"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]*")


class ArrayStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str, split: str, name: str) -> Path:
        if not sha256.isalnum() or not split.isalnum() or not _NAME.fullmatch(name):
            raise ValueError(f"not a checkpoint hash, split and name: {sha256!r}, {split!r}, {name!r}")
        return self.root / sha256 / split / f"{name}.npz"

    def get(self, sha256: str, split: str, name: str) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self.path(sha256, split, name), allow_pickle=False) as f:
                return {key: f[key] for key in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None

    def put(self, sha256: str, split: str, name: str, arrays: dict[str, np.ndarray]) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_atomically(self.path(sha256, split, name), buffer.getvalue())
