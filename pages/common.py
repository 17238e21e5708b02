"""What every page shares: the current model, cached loading/encoding, the sidebar picker, image display.

This file is not a page (app.py routes with st.navigation, so nothing in pages/ is picked up by itself).
The current model lives in the session as checkpoint bytes, so a file, an upload and a freshly trained
model are the same thing to every page; caches are keyed by the bytes' sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from vae_core.checkpoint import Checkpoint, list_checkpoints, load_checkpoint_bytes
from vae_core.data import Dataset, load_dataset
from vae_core.errors import VAEError
from vae_core.images import to_uint8, upscale
from vae_core.latent import Projection, project_2d
from vae_core.metrics import encode_means

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_CHECKPOINT = "digits-2d.safetensors"
MAX_UPLOAD_MB = 20  # also server.maxUploadSize in .streamlit/config.toml
# One colour per class, the same on every page (Plotly's qualitative "Plotly" + "D3" palettes).
CLASS_COLORS = [
    "#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF",
]


# Session keys shared between pages (not widgets, so they survive leaving the page that sets them).
SCATTER_SELECTED = "scatter_selected"  # list[int]: test-set indices selected on the scatter page
SCATTER_PROJECTION = "scatter_projection"  # str: the projection the scatter page last drew


def class_color(label: int) -> str:
    return CLASS_COLORS[label % len(CLASS_COLORS)]


@st.cache_resource(max_entries=16, show_spinner=False)
def _checkpoint_from_bytes(sha256: str, _data: bytes) -> Checkpoint:
    # Keyed by content only: the bytes themselves are not hashed again by Streamlit (leading underscore).
    return load_checkpoint_bytes(_data)


def load_checkpoint_cached(data: bytes) -> Checkpoint:
    return _checkpoint_from_bytes(hashlib.sha256(data).hexdigest(), data)


@st.cache_resource(max_entries=4, show_spinner="Loading dataset...")
def _dataset(name: str, options_json: str) -> Dataset:
    return load_dataset(name, **json.loads(options_json))


def dataset_for(checkpoint: Checkpoint) -> Dataset:
    """The dataset the model was trained on (shared, read-only); stops the page with a message if missing."""
    try:
        return _dataset(checkpoint.dataset.name, json.dumps(checkpoint.dataset.loading_options(), sort_keys=True))
    except VAEError as exc:
        st.error(f"The model's dataset could not be loaded: {exc}")
        st.stop()


@st.cache_data(max_entries=8, show_spinner="Encoding the dataset...")
def _encodings(sha256: str, split: str, _checkpoint: Checkpoint, _dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    x, _ = _dataset.split(split)
    mu, logvar = encode_means(_checkpoint.model, x)
    return mu.numpy(), logvar.numpy()


def encodings(checkpoint: Checkpoint, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N, D) of a split, cached per checkpoint content."""
    return _encodings(checkpoint.sha256, split, checkpoint, dataset_for(checkpoint))


def checkpoint_files() -> list[Path]:
    files = list_checkpoints(CHECKPOINT_DIR)
    return sorted(files, key=lambda p: (p.name != DEFAULT_CHECKPOINT, p.name))


def set_current_model(name: str, data: bytes) -> None:
    st.session_state["model"] = {"name": name, "data": data}


def current_checkpoint() -> Checkpoint:
    """The model the user picked (or the shipped default); stops the page with a message if there is none."""
    if "model" not in st.session_state:
        files = checkpoint_files()
        if not files:
            st.error("No checkpoint in checkpoints/. Train one on the Train page or upload one in the sidebar.")
            st.stop()
        set_current_model(files[0].name, files[0].read_bytes())
    try:
        return load_checkpoint_cached(st.session_state["model"]["data"])
    except VAEError as exc:
        st.error(f"The current model could not be loaded: {exc}")
        st.stop()


def page_intro(title: str, caption: str) -> tuple[Checkpoint, Dataset]:
    """Every explorer page opens the same way: title, what the user is looking at, the model and its data."""
    st.title(title)
    st.caption(caption)
    checkpoint = current_checkpoint()
    return checkpoint, dataset_for(checkpoint)


def current_model_name() -> str:
    return st.session_state.get("model", {}).get("name", "")


def describe(checkpoint: Checkpoint) -> str:
    elbo = checkpoint.test_elbo
    elbo_text = f"test ELBO {elbo:.1f}" if elbo is not None else "untrained"
    return (f"{checkpoint.dataset.name} · {checkpoint.config.latent_dim}-D {checkpoint.config.architecture} · "
            f"{checkpoint.epoch} epochs · {elbo_text}")


def show_images(images, captions=None, size: int = 160, **kwargs) -> None:
    """Show model images (N, C, H, W) in [0, 1], upscaled crisply (nearest neighbour)."""
    arrays = [upscale(img, size) for img in to_uint8(images)]
    st.image(arrays, caption=captions, output_format="PNG", **kwargs)  # JPEG would blur the pixel edges


def default_projection(latent_dim: int) -> str:
    """What the scatter shows first: the latent plane itself for 2-D models, else PCA."""
    return "direct" if latent_dim == 2 else "pca"


@st.cache_data(max_entries=8, show_spinner="Projecting the latent means to 2-D...")
def _projection(sha256: str, split: str, method: str, max_points: int, _mu: np.ndarray) -> Projection:
    return project_2d(_mu, method, max_points=max_points)


def projection(checkpoint: Checkpoint, method: str, max_points: int = 5000, split: str = "test") -> Projection:
    """2-D map of a split's latent means, cached per checkpoint content (t-SNE takes seconds to minutes)."""
    mu, _ = encodings(checkpoint, split)
    return _projection(checkpoint.sha256, split, method, max_points, mu)


def latent_scatter_figure(coords: np.ndarray, indices: np.ndarray, labels: np.ndarray,
                          class_names: tuple[str, ...], marker_size: int = 5, opacity: float = 0.8) -> go.Figure:
    """WebGL scatter of 2-D points (M, 2), one trace per class so the legend toggles classes.

    Each point carries its dataset index as customdata, so hover and selections name dataset rows.
    """
    figure = go.Figure()
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        name = class_names[label] if label < len(class_names) else str(label)
        figure.add_trace(go.Scattergl(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=name, customdata=indices[rows],
            marker={"color": class_color(int(label)), "size": marker_size, "opacity": opacity},
            hovertemplate=f"label <b>{name}</b><br>index %{{customdata}}<extra></extra>",
        ))
    figure.update_layout(height=560, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="label",
                         dragmode="select")
    return figure


def selected_indices(selection: dict) -> list[int]:
    """Dataset indices of the points in a plotly selection event (their customdata), in selection order."""
    indices = {}  # a dict keeps the order and drops repeats in O(1): a box can hold all 10,000 MNIST points
    for point in selection.get("points", []):
        data = point.get("customdata")
        if data is not None:
            indices[int(data[0] if isinstance(data, (list, tuple)) else data)] = None
    return list(indices)


def load_dataset_cached(name: str, options: dict) -> Dataset:
    """A dataset by name and options (shared, read-only, cached); raises VAEError if it cannot be loaded."""
    return _dataset(name, json.dumps(options, sort_keys=True))
