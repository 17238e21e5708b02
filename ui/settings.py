"""How this server was started: local (the default: one trusted user on 127.0.0.1) or shared with others.

`python -m ui.serve` (`make run`, `vae-explorer`) writes the choice into the environment before Streamlit starts,
so every session's script reads the same settings; a bare `streamlit run app.py` is local.

Local mode trusts its one user: the Train page takes typed paths and downloads, and checkpoints on this disk
(shipped, saved, autosaved) reload their datasets as recorded. Shared mode trusts nothing a visitor sends:
datasets come only from the data roots (by name) or the visitor's own uploaded archives, and every file a visitor
makes lives in that visitor's workspace. In both modes an uploaded checkpoint's stored paths are never followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vae_core.data import default_data_roots
from vae_core.paths import user_state_dir
from vae_core.roots import DataRoots

from .abandon import AbandonPolicy

MODE_ENV = "VAE_EXPLORER_MODE"  # "local" or "shared"
WORKSPACES_ENV = "VAE_WORKSPACES_DIR"  # where shared mode keeps each visitor's files


def _default_workspaces() -> Path:
    return Path(os.environ.get(WORKSPACES_ENV) or user_state_dir() / "workspaces")


@dataclass(frozen=True)
class ServerSettings:
    shared: bool = False
    data_roots: DataRoots = field(default_factory=default_data_roots)
    workspaces: Path = field(default_factory=_default_workspaces)
    saved_models_per_owner: int = 10  # shared mode: a visitor's saved models (saving more is refused)
    autosaves_per_owner: int = 5  # the newest runs' autosaves, per visitor (local mode: for the one folder)
    uploaded_datasets_per_owner: int = 3  # shared mode: archives kept, the oldest deleted first
    abandon: AbandonPolicy = field(default_factory=AbandonPolicy)  # when a run nobody watches ends (ui.abandon)

    @classmethod
    def from_env(cls) -> ServerSettings:
        return cls(shared=os.environ.get(MODE_ENV, "local") == "shared")


def settings() -> ServerSettings:
    return ServerSettings.from_env()
