"""The sidebar model picker: shipped and saved checkpoints, an upload, a download of the current model."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from vae_core.background import JobConfig
from vae_core.errors import VAEError

from . import cache, state, workspace
from .session_keys import PICKER_REFUSED
from .settings import settings
from .widgets import describe

PICKER_KEY = "app_checkpoint"
AUTOSAVE_KEY = "app_autosave"
UPLOAD_KEY = "app_upload"


def _describe_files(files: list[Path]) -> dict[str, str]:
    labels = {}
    for path in files:
        try:
            labels[workspace.checkpoint_name(path)] = describe(cache.checkpoint(path.read_bytes()))
        except (VAEError, OSError):
            labels[workspace.checkpoint_name(path)] = "unreadable (pick it to see why)"
    return labels


def _on_pick(files: dict[str, Path], key: str = PICKER_KEY) -> None:
    name = st.session_state[key]
    if name is None:
        return
    try:
        state.set_current_model(name, files[name].read_bytes(), trusted=True)
    except (VAEError, OSError) as exc:
        st.session_state[PICKER_REFUSED] = f"{name} was not loaded, the current model stays. {exc}"


def _on_upload() -> None:
    upload = st.session_state[UPLOAD_KEY]
    if upload is None:
        return
    try:
        # Only the base name is kept, for display; uploads are never written to disk, and never trusted: their
        # dataset is looked up by name in the data roots (state.dataset_roots).
        state.set_current_model(Path(upload.name).name, upload.getvalue())
    except (VAEError, ValueError) as exc:
        st.session_state[PICKER_REFUSED] = (f"Upload refused, the current model stays: {exc}. Upload a checkpoint "
                                         "saved by this app or by `python -m vae_core train`.")


def _label(name: str, labels: dict[str, str]) -> str:
    return name.removesuffix(".safetensors") + (" · unreadable" if "unreadable" in labels[name] else "")


def _autosaved_runs() -> None:
    """The Train page's runs as last autosaved (newest first): what a stopped or crashed server leaves."""
    files = {workspace.checkpoint_name(path): path for path in workspace.autosaves()}
    if not files:
        return
    with st.sidebar.expander(f"Your autosaved training runs ({len(files)})"):
        st.selectbox("Open one", list(files), index=None, key=AUTOSAVE_KEY, on_change=_on_pick,
                     args=(files, AUTOSAVE_KEY), format_func=lambda name: Path(name).stem,
                     placeholder="the newest first")
        st.caption(f"Every run started on the Train page is saved here as it trains (after an epoch, at most every "
                   f"{JobConfig().autosave_every_s:g} s); the newest {settings().autosaves_per_owner} are kept, older "
                   "ones go as new runs start.")


def model_picker() -> None:
    """Runs after the callbacks above, so the widgets show the model they (or the Train page) chose."""
    st.sidebar.header("Model")
    files = {workspace.checkpoint_name(path): path for path in workspace.checkpoint_files()}
    current = state.current_model()
    labels = _describe_files(list(files.values()))
    st.session_state[PICKER_KEY] = current.name if current and current.name in files else None
    st.sidebar.selectbox("Checkpoint", list(files), key=PICKER_KEY, on_change=_on_pick, args=(files,),
                         format_func=lambda name: _label(name, labels),
                         placeholder=current.name if current else "choose a checkpoint")
    st.sidebar.file_uploader(f"...or upload a .safetensors checkpoint (max {state.MAX_UPLOAD_MB} MB)",
                             type=["safetensors"], key=UPLOAD_KEY, on_change=_on_upload)
    if PICKER_REFUSED in st.session_state:
        st.sidebar.error(st.session_state.pop(PICKER_REFUSED))
    with st.sidebar.expander(f"All checkpoints ({len(files)})"):
        st.markdown("\n".join(f"- **{name.removesuffix('.safetensors')}**: {label}" for name, label in labels.items()))
    _autosaved_runs()
    if current is None:
        return
    st.sidebar.caption(f"**{current.name}**  \n{describe(cache.checkpoint(current.data))}")
    # deferred: bytes given here would be fetched by the browser on every page view (3.5 MB for mnist-2d)
    data = current.data
    st.sidebar.download_button("Download this checkpoint", lambda: data, mime="application/octet-stream",
                               file_name=Path(current.name.removesuffix(state.UNSAVED)).stem + ".safetensors",
                               key="app_download")
