"""Session state: the keys pages share and THE current model (its only home).

The current model lives in the session as checkpoint bytes and a display name, so a shipped file, an upload and a
model fresh from training are the same thing to every page; caches are keyed by the bytes' sha256.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from vae_core.checkpoint import Checkpoint, list_checkpoints
from vae_core.errors import VAEError

from . import cache

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = ROOT / "checkpoints"  # the shipped models, each trained by the project's CLI
USER_CHECKPOINT_DIR = CHECKPOINT_DIR / "user"  # models a user saves from the app (not tracked by git)
DEFAULT_CHECKPOINT = "mnist-2d.safetensors"
AUTOSAVE_ENV = "VAE_AUTOSAVE_DIR"  # another folder for the training runs' autosaves (tests)
AUTOSAVES_KEPT = 5  # the newest runs' autosaves; older ones are deleted when a run starts
UNSAVED = " (unsaved)"  # the suffix of a model fresh from training, until it is saved
MAX_UPLOAD_MB = 20  # also server.maxUploadSize in .streamlit/config.toml

# Keys shared between pages (not widgets, so they survive leaving the page that sets them).
MODEL = "model"  # CurrentModel
SCATTER_SELECTED = "scatter_selected"  # list[int]: test-set indices selected on the scatter page (of any split)
SCATTER_SELECTION = "scatter_selection"  # (split, list[int]): the scatter's selection as indices of its split
SCATTER_PROJECTION = "scatter_projection"  # str: the projection the scatter page last drew
SCATTER_DIMS = "scatter_dims"  # (int, int): the latent dimensions its direct view shows
SLIDERS_CODE = "sliders_code"  # (checkpoint sha256, z (D,), class or None): the Latent sliders page's code, as released
TRAIN_JOB = "train_job"  # WorkerTrainingJob: this session's run; outlives page switches and reruns
FLASH = "app_flash"  # (kind, text): a message for the next run, e.g. after a callback or a rerun


@dataclass(frozen=True)
class CurrentModel:
    name: str
    data: bytes  # the checkpoint file's bytes


def checkpoint_files() -> list[Path]:
    """Shipped checkpoints (the default first), then the user's saved ones."""
    shipped = sorted(list_checkpoints(CHECKPOINT_DIR), key=lambda p: (p.name != DEFAULT_CHECKPOINT, p.name))
    return shipped + sorted(list_checkpoints(USER_CHECKPOINT_DIR))


def autosave_dir() -> Path:
    """Where the app's training runs autosave (checkpoints/user/autosave/, or AUTOSAVE_ENV)."""
    return Path(os.environ.get(AUTOSAVE_ENV) or USER_CHECKPOINT_DIR / "autosave")


def autosaves() -> list[Path]:
    """The runs' autosaves, newest first."""
    return list_checkpoints(autosave_dir())


def new_autosave_path(stem: str) -> Path:
    """A file for a run starting now (`stem` says what it trains), after deleting all but the newest
    AUTOSAVES_KEPT - 1 older autosaves."""
    for old in autosaves()[AUTOSAVES_KEPT - 1:]:
        old.unlink(missing_ok=True)
    return autosave_dir() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"


def checkpoint_name(path: Path) -> str:
    """How the picker names a file: "digits-2d.safetensors" (shipped) or "user/my-model.safetensors"."""
    return path.relative_to(CHECKPOINT_DIR).as_posix() if path.is_relative_to(CHECKPOINT_DIR) else path.name


def set_current_model(name: str, data: bytes) -> Checkpoint:
    """Make `data` the current model only if it loads (raises VAEError, and the current model stays)."""
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise VAEError(f"the file is larger than {MAX_UPLOAD_MB} MB")
    checkpoint = cache.checkpoint(data)
    st.session_state[MODEL] = CurrentModel(name, data)
    return checkpoint


def unsaved_name(name: str) -> str:
    """How a model fresh from training is named until it is saved."""
    return f"{name}{UNSAVED}"


def saved_as(name: str, path: Path) -> None:
    """The unsaved model `name`, if it is the current one, becomes the file it was just saved to."""
    current = st.session_state.get(MODEL)
    if current is not None and current.name == unsaved_name(name):
        set_current_model(checkpoint_name(path), path.read_bytes())


def current_model() -> CurrentModel | None:
    if MODEL not in st.session_state:
        _open_on_first_readable()
    return st.session_state.get(MODEL)


def _open_on_first_readable() -> None:
    """A new session opens on the shipped default, or else the first file that loads."""
    for path in checkpoint_files():
        try:
            set_current_model(checkpoint_name(path), path.read_bytes())
            return
        except (VAEError, OSError):
            continue


def current_checkpoint() -> Checkpoint:
    """The model the user picked (or the shipped default); stops the page with a message if there is none."""
    model = current_model()
    if model is None:
        st.error("No readable checkpoint in checkpoints/. Train one on the Train page or upload one in the sidebar.")
        st.stop()
    return cache.checkpoint(model.data)


def remember_sliders_code(checkpoint: Checkpoint, z, decoded_class: int | None = None) -> None:
    """Keep the sliders' code (D,) and, for a conditional model, the class it is decoded as."""
    st.session_state[SLIDERS_CODE] = (checkpoint.sha256, z, decoded_class)


def sliders_code(checkpoint: Checkpoint):
    """The code (D,) last set on the Latent sliders page for this model, or None."""
    sha256, z, _ = st.session_state.get(SLIDERS_CODE, (None, None, None))
    return z if sha256 == checkpoint.sha256 else None


def sliders_class(checkpoint: Checkpoint) -> int | None:
    """The class the Latent sliders page decodes its code as (a conditional model), or None."""
    sha256, _, decoded_class = st.session_state.get(SLIDERS_CODE, (None, None, None))
    return decoded_class if sha256 == checkpoint.sha256 else None


def flash(kind: str, text: str) -> None:
    """Show `text` (st.success / info / warning / error) at the top of the next run's page."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    if FLASH in st.session_state:
        kind, text = st.session_state.pop(FLASH)
        getattr(st, kind)(text)
