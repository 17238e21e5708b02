"""VAE Latent Explorer: `streamlit run app.py`. Routes the pages and owns the sidebar model picker."""

from __future__ import annotations

import streamlit as st

from pages.common import (
    MAX_UPLOAD_MB, checkpoint_files, current_checkpoint, current_model_name, describe, load_checkpoint_cached,
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


def model_picker() -> None:
    """Sidebar: choose a checkpoint from checkpoints/, upload one, download the current one."""
    st.sidebar.header("Model")
    files = checkpoint_files()
    labels = {}
    for path in files:
        try:
            labels[path.name] = describe(load_checkpoint_cached(path.read_bytes()))
        except VAEError as exc:
            labels[path.name] = f"unreadable: {exc}"
    names = list(labels)
    current = current_model_name()
    if names:
        index = names.index(current) if current in names else None
        choice = st.sidebar.selectbox(
            "Checkpoint", names, index=index, key="app_checkpoint", format_func=lambda n: n.removesuffix(".safetensors"),
            placeholder=current or "choose a checkpoint",
        )
        if choice and choice != current:
            set_current_model(choice, (files[names.index(choice)]).read_bytes())
    upload = st.sidebar.file_uploader(
        f"...or upload a .safetensors checkpoint (max {MAX_UPLOAD_MB} MB)", type=["safetensors"], key="app_upload"
    )
    if upload is not None and upload.file_id != st.session_state.get("app_upload_done"):
        data = upload.getvalue()
        try:
            if len(data) > MAX_UPLOAD_MB * 2**20:
                raise VAEError(f"the file is larger than {MAX_UPLOAD_MB} MB")
            load_checkpoint_cached(data)
            set_current_model(upload.name, data)
            st.session_state["app_upload_done"] = upload.file_id
        except VAEError as exc:
            st.sidebar.error(f"Upload refused: {exc}")
    checkpoint = current_checkpoint()
    st.sidebar.caption(f"**{current_model_name()}**  \n{describe(checkpoint)}")
    st.sidebar.download_button(
        "Download this checkpoint", st.session_state["model"]["data"], file_name=current_model_name(),
        mime="application/octet-stream", key="app_download",
    )


def main() -> None:
    st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/blur_on:", layout="wide")
    pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    navigation = st.navigation(pages)
    model_picker()
    navigation.run()


main()
