"""Latent scatter: the test set's latent means in 2-D, coloured by label; click or select points to see them.

Leaves st.session_state[SCATTER_SELECTED] (test-set indices of the last selection, kept until cleared or until
the projection changes) and st.session_state[SCATTER_PROJECTION] (the projection drawn) for the Interpolation page.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.cache import encodings, projection
from ui.conditional import class_labels, decoding_class_ui
from ui.navigation import page_intro
from ui.state import SCATTER_DIMS, SCATTER_PROJECTION, SCATTER_SELECTED, sliders_code
from ui.widgets import image_rows, latent_scatter_figure, selected_indices, show_picture
from vae_core.checkpoint import Checkpoint
from vae_core.data import Dataset
from vae_core.images import tile
from vae_core.latent import PROJECTIONS, latent_grid, project_points
from vae_core.metrics import kl_per_dimension

METHOD_NAMES = {"direct": "Two latent dimensions", "pca": "PCA", "tsne": "t-SNE"}
MAX_SHOWN = 12  # images drawn for a selection; more would only slow the page down
GRID_EXTENT = 3.0  # +-3 prior standard deviations


def most_active_first(checkpoint: Checkpoint) -> list[int]:
    """Latent dimensions ordered by their average KL to the prior, most used first."""
    mu, logvar = encodings(checkpoint)
    kl = kl_per_dimension(torch.tensor(mu), torch.tensor(logvar)).numpy()
    return [int(d) for d in np.argsort(-kl, kind="stable")]


def projection_ui(n_points: int, checkpoint: Checkpoint) -> tuple[str, int, tuple[int, int]]:
    """The projection method, the t-SNE subsample size and, for the direct view, the two dimensions shown."""
    latent_dim = checkpoint.config.latent_dim
    default = "direct" if latent_dim <= 2 else "pca"
    method = st.radio("Projection", PROJECTIONS, index=PROJECTIONS.index(default), format_func=METHOD_NAMES.get,
                      horizontal=True, key="scatter_method")
    dims, size = (0, 1), n_points
    if method == "direct" and latent_dim > 2:
        order = most_active_first(checkpoint)
        x_col, y_col = st.columns(2)
        label = "z{} · most active".format
        dims = (x_col.selectbox("Horizontal axis", range(latent_dim), index=order[0], key="scatter_dim_x",
                                format_func=lambda d: label(d) if d == order[0] else f"z{d}"),
                y_col.selectbox("Vertical axis", range(latent_dim), index=order[1], key="scatter_dim_y",
                                format_func=lambda d: label(d) if d == order[1] else f"z{d}"))
    if method == "tsne":
        size = st.slider("t-SNE subsample (points)", min(100, n_points), n_points, min(2000, n_points),
                         step=min(100, n_points), key="scatter_tsne_points",
                         help="t-SNE costs seconds per thousand points on a CPU; each size is computed once per model.")
    return method, size, dims


def mark_sliders_code(figure, checkpoint: Checkpoint, method: str, dims: tuple[int, int]) -> None:
    """A star where the Latent sliders page's code lies (t-SNE cannot place a new point)."""
    z = sliders_code(checkpoint)
    if z is None or method == "tsne":
        return
    xy = project_points(encodings(checkpoint)[0], np.asarray(z)[None], method, dims)[0]
    figure.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers", name="sliders' code", hoverinfo="name",
                                marker={"symbol": "star", "size": 16, "color": "black"}))


def remember_selection(picked: list[int], view: tuple) -> None:
    """Keep a new selection; an empty event (e.g. after leaving the page) leaves the stored one alone; a new
    projection starts with no selection (its points are elsewhere, some maybe not drawn)."""
    if st.session_state.get("scatter_view") != view:
        st.session_state.pop(SCATTER_SELECTED, None)
        st.session_state["scatter_view"] = view
    if picked and picked != st.session_state.get("scatter_last_event"):
        st.session_state[SCATTER_SELECTED] = picked
    st.session_state["scatter_last_event"] = picked


def selection_panel(checkpoint: Checkpoint, dataset: Dataset) -> None:
    selected = st.session_state.get(SCATTER_SELECTED, [])
    if not selected:
        st.info("Click a point (or pick box or lasso select in the chart's toolbar and drag) to see the images and "
                "their reconstructions here.")
        return
    x, y = dataset.split("test")
    shown = selected[:MAX_SHOWN]
    head, clear = st.columns([4, 1])
    head.subheader(f"{len(selected)} selected" + (f" (first {MAX_SHOWN} shown)" if len(selected) > MAX_SHOWN else ""))
    if clear.button("Clear selection", key="scatter_clear"):
        st.session_state.pop(SCATTER_SELECTED)
        st.rerun()
    st.caption("Each column: a test image above its reconstruction decode(mu(x)). The Interpolation page can use "
               "these points as endpoints.")
    image_rows({"x": x[shown], "reconstruction": checkpoint.model.reconstruct(x[shown], y[shown])},
               captions=[f"#{i}: {dataset.class_names[y[i]]}" for i in shown], size=72)


def latent_plane(checkpoint: Checkpoint) -> None:
    if not st.toggle("Show decoded images over the latent plane", key="scatter_grid"):
        return
    n = st.slider("Grid size", 5, 25, 15, key="scatter_grid_size")
    st.caption(f"Each tile decodes the code at its place on a {n}x{n} grid over [-{GRID_EXTENT:g}, {GRID_EXTENT:g}]^2: "
               "z0 grows to the right, z1 upwards, as in the scatter.")
    labels = class_labels(decoding_class_ui(checkpoint, checkpoint.dataset.class_names, "scatter_grid_class"), 1)
    show_picture(tile(checkpoint.model.decode_image(latent_grid(n, GRID_EXTENT), labels), ncols=n, size=40))


checkpoint, dataset = page_intro(
    "Latent scatter",
    "Each point is one test image placed at its posterior mean mu(x), coloured by its label. Similar images "
    "should sit together; click a point, or box- or lasso-select from the chart's toolbar, to see the images. "
    "Dragging zooms; double-click zooms back out.",
)
_, labels = dataset.split("test")
method, max_points, dims = projection_ui(len(labels), checkpoint)
with st.spinner("Projecting..." if method != "tsne" else f"Running t-SNE on {max_points:,} points..."):
    projected = projection(checkpoint, method, max_points, dims=dims)
st.session_state[SCATTER_PROJECTION] = method
st.session_state[SCATTER_DIMS] = dims
figure = latent_scatter_figure(projected.coords, projected.indices, labels.numpy()[projected.indices],
                               dataset.class_names, marker_size=4 if len(projected.indices) > 3000 else 6)
st.caption(f"{len(projected.indices):,} test points; axes: {projected.explained}.")
mark_sliders_code(figure, checkpoint, method, dims)
event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"), key="scatter_chart")
remember_selection(selected_indices(event.selection), (checkpoint.sha256, method, max_points, dims))
selection_panel(checkpoint, dataset)
if checkpoint.config.latent_dim == 2 and method == "direct":
    latent_plane(checkpoint)
