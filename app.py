"""VAE Latent Explorer: `streamlit run app.py`. Routes the pages and owns the sidebar model picker."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.common import (
    MAX_UPLOAD_MB,
    checkpoint_files,
    current_checkpoint,
    current_model_name,
    describe,
    load_checkpoint_cached,
    set_current_model,
)
from vae_core.errors import VAEError

PAGES = [
    ("pages/home.py", "Overview", ":material/home:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/scatter.py", "Latent scatter", ":material/scatter_plot:"),
    ("pages/interpolate.py", "Interpolation", ":material/linear_scale:"),
    ("pages/theory.py", "Theory: KL & ELBO", ":material/functions:"),
]
PICKER_KEY = "app_checkpoint"
UPLOAD_KEY = "app_upload"
REFUSED_KEY = "app_refused"  # a message from the picker's callback, shown on the next draw


def use_checkpoint(name: str, data: bytes) -> None:
    """Make `data` the current model only if it loads; otherwise the current model stays (VAEError)."""
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise VAEError(f"the file is larger than {MAX_UPLOAD_MB} MB")
    load_checkpoint_cached(data)
    set_current_model(name, data)


def describe_files(files: list[Path]) -> dict[str, str]:
    labels = {}
    for path in files:
        try:
            labels[path.name] = describe(load_checkpoint_cached(path.read_bytes()))
        except (VAEError, OSError):
            labels[path.name] = "unreadable (pick it to see why)"
    return labels


def open_on_first_readable(files: list[Path]) -> None:
    """A new session opens on the shipped default (sorted first), or the first file that loads."""
    for path in files:
        try:
            use_checkpoint(path.name, path.read_bytes())
            return
        except (VAEError, OSError):
            continue


def on_pick(files: dict[str, Path]) -> None:
    name = st.session_state[PICKER_KEY]
    try:
        use_checkpoint(name, files[name].read_bytes())
    except (VAEError, OSError) as exc:
        st.session_state[REFUSED_KEY] = f"{name} was not loaded, the current model stays. {exc}"


def on_upload() -> None:
    upload = st.session_state[UPLOAD_KEY]
    if upload is None:
        return
    try:
        # Only the base name is kept, for display; uploads are never written to disk.
        use_checkpoint(Path(upload.name).name, upload.getvalue())
    except (VAEError, ValueError) as exc:
        st.session_state[REFUSED_KEY] = (
            f"Upload refused, the current model stays: {exc}. Upload a checkpoint saved by this app or by "
            "`python -m vae_core train`."
        )


def checkpoint_picker() -> None:
    """Runs after the callbacks above, so the widget shows the model they (or the Train page) chose."""
    files = {path.name: path for path in checkpoint_files()}
    if "model" not in st.session_state:
        open_on_first_readable(list(files.values()))
    labels = describe_files(list(files.values()))
    current = current_model_name()
    st.session_state[PICKER_KEY] = current if current in files else None
    st.sidebar.selectbox(
        "Checkpoint", list(files), key=PICKER_KEY, on_change=on_pick, args=(files,),
        format_func=lambda n: n.removesuffix(".safetensors") + (" · unreadable" if "unreadable" in labels[n] else ""),
        placeholder=current or "choose a checkpoint",
    )
    st.sidebar.file_uploader(
        f"...or upload a .safetensors checkpoint (max {MAX_UPLOAD_MB} MB)", type=["safetensors"], key=UPLOAD_KEY,
        on_change=on_upload,
    )
    if REFUSED_KEY in st.session_state:
        st.sidebar.error(st.session_state.pop(REFUSED_KEY))
    with st.sidebar.expander(f"All checkpoints ({len(files)})"):
        st.markdown("\n".join(f"- **{name.removesuffix('.safetensors')}**: {label}" for name, label in labels.items()))


def model_picker() -> None:
    """Sidebar: choose a checkpoint from checkpoints/, upload one, download the current one."""
    st.sidebar.header("Model")
    checkpoint_picker()
    checkpoint = current_checkpoint()
    st.sidebar.caption(f"**{current_model_name()}**  \n{describe(checkpoint)}")
    st.sidebar.download_button(
        "Download this checkpoint", st.session_state["model"]["data"],
        file_name=Path(current_model_name()).stem.removesuffix(" (unsaved)") + ".safetensors",
        mime="application/octet-stream", key="app_download",
    )


def main() -> None:
    st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/blur_on:", layout="wide")
    pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    navigation = st.navigation(pages)
    model_picker()
    navigation.run()


main()
