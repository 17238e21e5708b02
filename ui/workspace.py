"""A visitor's own files: saved models, training runs' autosaves and uploaded image archives (their only home).

Local mode has one user and one set of folders: checkpoints/user/ (saved), its autosave/ (or AUTOSAVE_ENV) and the
user's data folder. Shared mode gives every visitor a folder of its own under `ServerSettings.workspaces`, named
by a hash of its owner token; the token rides in the URL (`?ws=`) like a run's, so a reload finds the files again
and nobody without the token can list, open or prune them. Each owner's files are capped and pruned on their own.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from vae_core.archive import Extracted, extract_images
from vae_core.checkpoint import checkpoint_path, list_checkpoints
from vae_core.errors import VAEError
from vae_core.paths import install_home, user_data_dir

from .session_keys import OWNER
from .settings import settings

ROOT = install_home()  # app.py, pages/, static/, the shipped checkpoints
CHECKPOINT_DIR = ROOT / "checkpoints"  # the shipped models, each trained by the project's CLI
USER_CHECKPOINT_DIR = CHECKPOINT_DIR / "user"  # local mode: models the user saves from the app (not tracked)
DEFAULT_CHECKPOINT = "mnist-2d.safetensors"
OPEN_ENV = "VAE_EXPLORER_OPEN"  # a checkpoint file new sessions open on (`vae-explorer CHECKPOINT`)
AUTOSAVE_ENV = "VAE_AUTOSAVE_DIR"  # local mode: another folder for the runs' autosaves (tests)
OWNER_PARAM = "ws"  # the URL parameter that carries a visitor's owner token (session key OWNER)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Workspace:
    """Where one visitor's files go."""

    models: Path  # saved models
    autosaves: Path  # training runs' autosaves
    data: Path  # image archives, extracted (one folder each)


def owner_token(create: bool = False) -> str | None:
    """This visitor's token: kept in the session, found again in the URL after a reload, made when `create`."""
    token = st.session_state.get(OWNER)
    if token is None:
        from_url = st.query_params.get(OWNER_PARAM, "")
        token = from_url if _TOKEN.match(from_url) else (secrets.token_urlsafe(16) if create else None)
        if token is not None:
            st.session_state[OWNER] = token
    if token is not None and st.query_params.get(OWNER_PARAM) != token:
        st.query_params[OWNER_PARAM] = token  # a page switch drops the query string: put it back
    return token


def current(create: bool = False) -> Workspace | None:
    """This visitor's folders: local mode's one set, or its owner's (shared mode; None before it has a token)."""
    server = settings()
    if not server.shared:
        autosaves = Path(os.environ.get(AUTOSAVE_ENV) or USER_CHECKPOINT_DIR / "autosave")
        return Workspace(USER_CHECKPOINT_DIR, autosaves, user_data_dir())
    token = owner_token(create)
    if token is None:
        return None
    folder = server.workspaces / hashlib.sha256(token.encode()).hexdigest()[:32]  # the token itself stays secret
    return Workspace(folder / "models", folder / "autosave", folder / "data")


def shipped_checkpoints() -> list[Path]:
    """The models in checkpoints/, the default first."""
    return sorted(list_checkpoints(CHECKPOINT_DIR), key=lambda p: (p.name != DEFAULT_CHECKPOINT, p.name))


def checkpoint_files() -> list[Path]:
    """The checkpoint the server was started on, shipped checkpoints (the default first), this visitor's saved ones."""
    own, opened = current(), os.environ.get(OPEN_ENV)
    return ([Path(opened)] if opened else []) + shipped_checkpoints() + \
        (sorted(list_checkpoints(own.models)) if own is not None else [])


def checkpoint_name(path: Path) -> str:
    """How the picker names a file: "digits-2d.safetensors" (shipped), "user/my-model.safetensors" (local mode) or
    "yours/my-model.safetensors" (shared mode)."""
    if path.is_relative_to(CHECKPOINT_DIR):
        return path.relative_to(CHECKPOINT_DIR).as_posix()
    own = current()
    return f"yours/{path.name}" if own is not None and settings().shared and path.parent == own.models else path.name


def autosaves() -> list[Path]:
    """This visitor's runs' autosaves, newest first."""
    own = current()
    return list_checkpoints(own.autosaves) if own is not None else []


def new_autosave_path(stem: str) -> Path:
    """A file for a run starting now (`stem` says what it trains), after deleting all but the newest
    `autosaves_per_owner` - 1 of this visitor's older autosaves."""
    for old in autosaves()[settings().autosaves_per_owner - 1:]:
        old.unlink(missing_ok=True)
    return current(create=True).autosaves / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"


def save_path(name: str, overwrite: bool) -> Path:
    """Where to save a model called `name` in this visitor's folder; VAEError for a bad name, or (shared mode) when
    the visitor already keeps `saved_models_per_owner` models and this would add one."""
    return save_paths([name], overwrite)[0]


def save_paths(names: list[str], overwrite: bool) -> list[Path]:
    """`save_path` of several models at once: VAEError (shared mode) when together they would pass the limit."""
    own = current(create=True)
    paths = [checkpoint_path(own.models, name) for name in names]
    limit = settings().saved_models_per_owner
    added = sum(not (overwrite and path.exists()) for path in paths)
    kept = len(list_checkpoints(own.models))
    if settings().shared and added and kept + added > limit:
        raise VAEError(f"you keep {kept} saved models and this server allows {limit}, so {added} more do not fit; "
                       "replace some instead")
    return paths


def uploaded_datasets() -> list[Path]:
    """This visitor's extracted archives, newest first."""
    own = current()
    if own is None or not own.data.is_dir():
        return []
    folders = [p for p in own.data.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)


def _folder_name(file_name: str, taken: set[str]) -> str:
    stem = re.sub(r"(\.tar)?\.[A-Za-z0-9]+$", "", Path(file_name).name)
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "images"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def add_uploaded_dataset(file_name: str, data: bytes) -> Extracted:
    """Extract an uploaded archive of images into a new folder of this visitor's workspace (named after the file);
    in shared mode, then delete its oldest uploads beyond `uploaded_datasets_per_owner` (local mode's data folder
    is the user's own: nothing there is deleted). Raises VAEError on a bad archive."""
    own = current(create=True)
    own.data.mkdir(parents=True, exist_ok=True)
    kept = uploaded_datasets()
    extracted = extract_images(data, own.data / _folder_name(file_name, {p.name for p in kept}))
    for old in kept[settings().uploaded_datasets_per_owner - 1:] if settings().shared else []:
        shutil.rmtree(old, ignore_errors=True)
    return extracted
