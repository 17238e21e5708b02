"""Session state: THE current model (its only home), and what pages share through the session.

The current model lives in the session as checkpoint bytes and a display name, so a shipped file, an upload and a
model fresh from training are the same thing to every page; caches are keyed by the bytes' sha256. Whether its
dataset may be read as its file records it, or only looked up by name in the data roots, is decided here
(`dataset_roots`); the visitor's own files are ui/workspace.py's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import streamlit as st

from vae_core.checkpoint import Checkpoint
from vae_core.data import Dataset
from vae_core.errors import VAEError
from vae_core.roots import DataRoots

from . import cache, workspace
from .session_keys import (
    FLASH,
    MODEL,
    SCATTER_OWNER,
    SCATTER_SELECTION,
    SELECTION_GROUP_B,
    SELECTION_SENT,
    SLIDERS_CODE,
)
from .settings import settings

UNSAVED = " (unsaved)"  # the suffix of a model fresh from training, until it is saved
MAX_UPLOAD_MB = 20  # also server.maxUploadSize in .streamlit/config.toml

@dataclass(frozen=True)
class CurrentModel:
    name: str
    data: bytes  # the checkpoint file's bytes
    # Its stored dataset paths may be followed: a file on this disk or a model trained here, in local mode. An
    # upload never is: its dataset is looked up by name in the data roots.
    trusted: bool = False

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def data_roots() -> DataRoots:
    """The folders this visitor's datasets may be read from: the server's data roots and its own uploads."""
    roots, own = settings().data_roots, workspace.current()
    return roots.with_folder(own.data) if own is not None else roots


def dataset_roots(checkpoint: Checkpoint) -> DataRoots | None:
    """How `checkpoint`'s dataset may be found: None (as its file records it) for a trusted current model in local
    mode; otherwise by name inside `data_roots()`."""
    current = st.session_state.get(MODEL)
    trusted = current is not None and current.trusted and current.sha256 == checkpoint.sha256
    return None if trusted and not settings().shared else data_roots()


def set_current_model(name: str, data: bytes, trusted: bool = False) -> Checkpoint:
    """Make `data` the current model only if it loads (raises VAEError, and the current model stays). `trusted`:
    a file of this server's or a model trained here (see CurrentModel)."""
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise VAEError(f"the file is larger than {MAX_UPLOAD_MB} MB")
    checkpoint = cache.checkpoint(data)
    st.session_state[MODEL] = CurrentModel(name, data, trusted)
    return checkpoint


def unsaved_name(name: str) -> str:
    """How a model fresh from training is named until it is saved."""
    return f"{name}{UNSAVED}"


def saved_as(name: str, path: Path) -> None:
    """The unsaved model `name`, if it is the current one, becomes the file it was just saved to."""
    current = st.session_state.get(MODEL)
    if current is not None and current.name == unsaved_name(name):
        set_current_model(workspace.checkpoint_name(path), path.read_bytes(), trusted=True)


def current_model() -> CurrentModel | None:
    if MODEL not in st.session_state:
        _open_on_first_readable()
    return st.session_state.get(MODEL)


def _open_on_first_readable() -> None:
    """A new session opens on the shipped default, or else the first file that loads."""
    for path in workspace.checkpoint_files():
        try:
            set_current_model(workspace.checkpoint_name(path), path.read_bytes(), trusted=True)
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


def selected_test_examples(dataset: Dataset, key: str = SCATTER_SELECTION) -> list[int]:
    """The scatter page's selection (or the group B kept there, `key`) as positions in the test split (train
    examples left out)."""
    split, indices = st.session_state.get(key, ("test", []))
    return dataset.split(split).positions_in(dataset.split("test"), indices)


def select_test_examples(checkpoint: Checkpoint, positions: list[int]) -> None:
    """Make test examples `positions` the scatter's selection (a link's), as if selected there."""
    if positions:
        st.session_state[SCATTER_SELECTION] = ("test", positions)
        st.session_state[SCATTER_OWNER] = (checkpoint.sha256, "test")


def keep_group_b(split: str, indices: list[int]) -> None:
    """Keep examples `indices` of `split` as the second group a Directions walk can start from."""
    if indices:
        st.session_state[SELECTION_GROUP_B] = (split, indices)


def send_selection(page: str) -> None:
    """Open `page` ("interpolate", "directions") on the scatter's selection (`selection_sent_to`)."""
    st.session_state[SELECTION_SENT] = page
    st.switch_page(f"pages/{page}.py")


def selection_sent_to(page: str) -> bool:
    """True once after the scatter's selection was sent to `page`: the page then sets its widgets to use it."""
    if st.session_state.get(SELECTION_SENT) != page:
        return False
    del st.session_state[SELECTION_SENT]
    return True


def flash(kind: str, text: str) -> None:
    """Show `text` (st.success / info / warning / error) at the top of the next run's page."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    if FLASH in st.session_state:
        kind, text = st.session_state.pop(FLASH)
        getattr(st, kind)(text)
