"""Files written whole or not at all: the one atomic write (a temp file in the same folder, then a rename), so a
reader never sees half a file and a crash mid-write leaves the old file (checkpoints, caches, static files)."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from pathlib import Path

from .errors import VAEError

STALE_TEMP_SECONDS = 600  # far longer than any write takes, so a write in progress is never touched


def write_atomically(path: str | Path, data: bytes, overwrite: bool = True) -> Path:
    """Write `data` to `path` (its folder made if needed) via a temp file in the same folder and a rename; refuses
    to replace an existing file unless `overwrite` (VAEError). The file gets the ordinary mode (0666 & ~umask)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise VAEError(f"{path} already exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600: private, unlike every other file we write
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _remove_stale_temp_files(path)
    return path


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files of `path` left by a process killed mid-write (the `except` above never ran)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # another process removed it first
