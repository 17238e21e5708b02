"""Latent scatter: the test set's latent means in 2-D, coloured by label; select points to see them.

Leaves st.session_state[SCATTER_SELECTED] (test-set indices of the last selection, kept until cleared) and
st.session_state[SCATTER_PROJECTION] (the projection drawn) for the Interpolation page.
"""

import streamlit as st

from pages.common import (
    SCATTER_PROJECTION,
    SCATTER_SELECTED,
    default_projection,
    latent_scatter_figure,
    page_intro,
    projection,
    selected_indices,
    show_images,
)
from vae_core.checkpoint import Checkpoint
from vae_core.data import Dataset
from vae_core.images import tile
from vae_core.latent import PROJECTIONS, latent_grid

METHOD_NAMES = {"direct": "Latent dims z0, z1", "pca": "PCA", "tsne": "t-SNE"}
MAX_SHOWN = 16  # images drawn for a selection; more would only slow the page down
GRID_EXTENT = 3.0  # +-3 prior standard deviations


def projection_ui(n_points: int, latent_dim: int) -> tuple[str, int]:
    """The projection method and, for t-SNE, the subsample size."""
    method = st.radio("Projection", PROJECTIONS, index=PROJECTIONS.index(default_projection(latent_dim)),
                      format_func=METHOD_NAMES.get, horizontal=True, key="scatter_method")
    if method != "tsne":
        return method, n_points
    size = st.slider("t-SNE subsample (points)", min(100, n_points), n_points, min(2000, n_points),
                     step=min(100, n_points), key="scatter_tsne_points",
                     help="t-SNE costs seconds per thousand points on a CPU; each size is computed once per model.")
    return method, size


def remember_selection(picked: list[int]) -> None:
    """Keep a new selection; an empty one (e.g. after leaving the page) leaves the stored one alone."""
    if picked and picked != st.session_state.get("scatter_last_event"):
        st.session_state[SCATTER_SELECTED] = picked
    st.session_state["scatter_last_event"] = picked


def selection_panel(checkpoint: Checkpoint, dataset: Dataset) -> None:
    selected = st.session_state.get(SCATTER_SELECTED, [])
    if not selected:
        st.info("Click a point, or drag a box or lasso, to see the images and their reconstructions here.")
        return
    x, y = dataset.split("test")
    shown = selected[:MAX_SHOWN]
    head, clear = st.columns([4, 1])
    head.subheader(f"{len(selected)} selected" + (f" (first {MAX_SHOWN} shown)" if len(selected) > MAX_SHOWN else ""))
    if clear.button("Clear selection", key="scatter_clear"):
        st.session_state.pop(SCATTER_SELECTED)
        st.rerun()
    st.caption("Top: test images. Bottom: their reconstructions decode(mu(x)). The Interpolation page can use "
               "these points as endpoints.")
    captions = [f"#{i}: {dataset.class_names[y[i]]}" for i in shown]
    show_images(x[shown], captions=captions, size=72)
    show_images(checkpoint.model.reconstruct(x[shown]), size=72)


def latent_plane(checkpoint: Checkpoint) -> None:
    if not st.toggle("Show decoded images over the latent plane", key="scatter_grid"):
        return
    n = st.slider("Grid size", 5, 25, 15, key="scatter_grid_size")
    st.caption(f"Each tile decodes the code at its place on a {n}x{n} grid over [-{GRID_EXTENT:g}, {GRID_EXTENT:g}]^2: "
               "z0 grows to the right, z1 upwards, as in the scatter.")
    st.image(tile(checkpoint.model.decode_image(latent_grid(n, GRID_EXTENT)), ncols=n, size=40))


checkpoint, dataset = page_intro(
    "Latent scatter",
    "Each point is one test image placed at its posterior mean mu(x), coloured by its label. Similar images "
    "should sit together; click, box- or lasso-select points to see them.",
)
_, labels = dataset.split("test")
method, max_points = projection_ui(len(labels), checkpoint.config.latent_dim)
with st.spinner("Projecting..." if method != "tsne" else f"Running t-SNE on {max_points:,} points..."):
    projected = projection(checkpoint, method, max_points)
st.session_state[SCATTER_PROJECTION] = method
figure = latent_scatter_figure(projected.coords, projected.indices, labels.numpy()[projected.indices],
                               dataset.class_names, marker_size=4 if len(projected.indices) > 3000 else 6)
st.caption(f"{len(projected.indices):,} test points; axes: {projected.explained}.")
event = st.plotly_chart(figure, on_select="rerun", selection_mode=("points", "box", "lasso"), key="scatter_chart")
remember_selection(selected_indices(event.selection))
selection_panel(checkpoint, dataset)
if checkpoint.config.latent_dim == 2:
    latent_plane(checkpoint)
