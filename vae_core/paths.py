"""Every folder the library and the app use by default, in one place: what an installation ships (read-only) and
where it writes (the user's folders, never the source tree or site-packages).

A source checkout and an installed wheel differ only in `install_home()`: the checkout itself, or the wheel's
`<prefix>/share/vae-explorer` (app.py, pages/, static/, the shipped checkpoints and the bundled MNIST).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "vae-explorer"


def _checkout() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "app.py").is_file() else None


def install_home() -> Path:
    """The folder holding app.py, pages/, static/, checkpoints/ and data/ (read-only to the app)."""
    return _checkout() or Path(sys.prefix) / "share" / APP


def bundled_data_dir() -> Path:
    """torchvision's root of the bundled MNIST (data/MNIST/raw/*.gz)."""
    return install_home() / "data"


def _xdg(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / default) / APP


def user_data_dir() -> Path:
    """The user's own datasets: $XDG_DATA_HOME/vae-explorer/data (default ~/.local/share/vae-explorer/data)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "data"


def user_state_dir() -> Path:
    """Files the app keeps for its visitors: $XDG_STATE_HOME/vae-explorer (default ~/.local/state/vae-explorer)."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def user_cache_dir() -> Path:
    """Derived files that can be deleted: $XDG_CACHE_HOME/vae-explorer (default ~/.cache/vae-explorer)."""
    return _xdg("XDG_CACHE_HOME", ".cache")
