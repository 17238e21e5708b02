"""Latent scatter: the embedding inspector. Every example of a split at its 2-D map position, drawn in the browser
(ui/components/embedding_inspector): hover for its image and reconstruction, click / box / lasso to select;
the selection panel shows each selected example with its terms and its nearest neighbours in the full latent space.

Leaves st.session_state[SCATTER_SELECTION] ((split, dataset indices of that split); the Interpolation and Directions
pages read its test examples through ui.state.selected_test_examples, and the selection panel sends them there),
SCATTER_PROJECTION and SCATTER_DIMS (the map drawn) and SCATTER_ZOOM (where the inspector's view rests).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from ui import jobs, links
from ui.components.embedding_inspector import (
    Colouring,
    Filter,
    InspectorView,
    embedding_inspector,
    image_part,
)
from ui.conditional import class_labels, decoding_class_ui
from ui.model_view import ModelView
from ui.navigation import page_intro
from ui.projections import request
from ui.session_keys import (
    SCATTER_DIMS,
    SCATTER_MAP_SHOWN,
    SCATTER_OWNER,
    SCATTER_PARAMS,
    SCATTER_PROJECTION,
    SCATTER_SEEN,
    SCATTER_SELECTION,
    SCATTER_SPLIT_KEPT,
    SCATTER_ZOOM,
)
from ui.share import selection_downloads
from ui.state import (
    current_model,
    keep_group_b,
    selected_test_examples,
    send_selection,
    sliders_code,
)
from ui.widgets import image_rows, show_picture
from vae_core.checkpoint import Checkpoint
from vae_core.data import SPLITS, Dataset
from vae_core.embedding_export import export_split
from vae_core.images import tile
from vae_core.latent import latent_grid, nearest_neighbours
from vae_core.projection import METHOD_INFO, Projection, ProjectionParams, project_points

SPLIT_NAMES = {"test": "Test", "train": "Train", "all": "Train + test"}  # the order shown; keys: vae_core.data.SPLITS
COLOUR_BY = ("label", "reconstruction log-likelihood", "KL", "ELBO", "‖μ‖", "mean σ")
MAX_SHOWN = 12  # selected examples drawn in the panel; more would only slow the page down
NEIGHBOURS = 8  # k nearest neighbours shown per selected example (the first MAX_NEIGHBOUR_ROWS of them)
MAX_NEIGHBOUR_ROWS = 3
MAX_ELLIPSES = 200  # sigma ellipses drawn (a box over thousands of points would only draw a blot)
GRID_EXTENT = 3.0  # +-3 prior standard deviations
THUMB_PX = 72


def default_params(checkpoint: Checkpoint) -> ProjectionParams:
    """The map a model opens with: its two dimensions for a latent of at most two, else PCA."""
    latent_dim = checkpoint.config.latent_dim
    return ProjectionParams("direct", (0, min(1, latent_dim - 1))) if latent_dim <= 2 else ProjectionParams("pca")


def params_ui(view: ModelView, split: str, n_points: int, place) -> ProjectionParams | None:
    """The projection the user asks for (the method chosen in `place`); None while a t-SNE / UMAP has not been
    asked for with Compute."""
    checkpoint = view.checkpoint
    latent_dim = checkpoint.config.latent_dim
    default = default_params(checkpoint)
    method = place.radio("Projection", ProjectionParams.METHODS, index=ProjectionParams.METHODS.index(default.method),
                         format_func=lambda m: METHOD_INFO[m].title, horizontal=True, key="scatter_method")
    if method == "pca":
        return ProjectionParams("pca")
    if method == "direct":
        if latent_dim <= 2:
            return default
        order = view.activity.most_active_first
        x_col, y_col = st.columns(2)
        label = "z{} · most active".format
        dims = (x_col.selectbox("Horizontal axis", range(latent_dim), index=order[0], key="scatter_dim_x",
                                format_func=lambda d: label(d) if d == order[0] else f"z{d}"),
                y_col.selectbox("Vertical axis", range(latent_dim), index=order[1], key="scatter_dim_y",
                                format_func=lambda d: label(d) if d == order[1] else f"z{d}"))
        return ProjectionParams("direct", dims)
    return slow_params_form(method, n_points)


def bounds(allowed, kind) -> tuple:
    return kind(allowed.low), kind(allowed.high)


def slow_params_form(method: str, n_points: int) -> ProjectionParams | None:
    """t-SNE / UMAP parameters, set before anything runs; the map is computed when Compute is pressed."""
    defaults = ProjectionParams(method)
    asked_key = SCATTER_PARAMS.format(method=method)
    with st.form(f"scatter_form_{method}", border=True):
        columns = st.columns(3)
        if method == "tsne":
            fields = {"perplexity": columns[0].number_input(
                "Perplexity", *bounds(ProjectionParams.PERPLEXITY, float), defaults.perplexity,
                key="scatter_perplexity", help="About how many neighbours each point keeps close.")}
        else:
            fields = {"n_neighbors": columns[0].number_input(
                "Neighbours", *bounds(ProjectionParams.N_NEIGHBORS, int), defaults.n_neighbors, key="scatter_neighbors",
                help="Size of the local neighbourhood UMAP keeps."),
                "min_dist": columns[1].number_input(
                "Minimum distance", *bounds(ProjectionParams.MIN_DIST, float), defaults.min_dist, step=0.05,
                key="scatter_min_dist", help="How tightly points may pack.")}
        cap = defaults.cap(n_points)
        most = columns[2].number_input(
            "Points (at most)", min(100, n_points), n_points, cap, step=max(1, min(1000, n_points // 10)),
            key=f"scatter_max_points_{method}",
            help="Above this, a stratified subsample (each label keeps its share), said so on the page.")
        seed = columns[0 if method == "umap" else 1].number_input("Seed", 0, 10**6, defaults.seed,
                                                                   key=f"scatter_seed_{method}")
        if st.form_submit_button("Compute", type="primary"):
            st.session_state[asked_key] = ProjectionParams(method, seed=int(seed), **fields,
                                                           max_points=None if most == cap else int(most))
    return st.session_state.get(asked_key)


@st.fragment(run_every=1.0)
def wait_for_projection(view: ModelView, split: str, params: ProjectionParams) -> None:
    """Progress of a background projection; the whole page reruns once it is done."""
    run = request(view, split, params)
    if run.done:
        st.rerun()
    elapsed = f" · {run.seconds or 0:.0f} s" if run.seconds else ""
    st.progress(run.fraction, text=f"{params.info.title}: {run.message}{elapsed}")


def map_on_screen(view: ModelView, split: str) -> tuple[ProjectionParams, Projection] | None:
    """The map to keep drawing while another computes: the last one this page drew of this model and split, else
    the model's opening map (computed on the spot)."""
    shown = st.session_state.get(SCATTER_MAP_SHOWN)
    if shown is not None and shown[:2] == (view.sha256, split):
        return shown[2:]
    params = default_params(view.checkpoint)
    run = request(view, split, params)
    return (params, run.result) if run.result is not None else None


def colouring_ui(view: ModelView, split: str) -> Colouring:
    by = st.selectbox("Colour by", COLOUR_BY, key="scatter_colour",
                      help="Per example: log p(x|z) at one z ~ q(z|x), KL(q(z|x) || p(z)), their difference "
                           "(ELBO), the norm of the posterior mean and the mean posterior standard deviation.")
    if by == "label":
        return Colouring("label")
    values = colour_values(view, split, by)
    lo, hi = np.percentile(values, [1, 99])
    return Colouring(by, values, (float(lo), float(hi) if hi > lo else float(lo) + 1.0))


def colour_values(view: ModelView, split: str, by: str) -> np.ndarray:
    if by in ("‖μ‖", "mean σ"):
        mu, logvar = view.encodings(split)
        return np.linalg.norm(mu, axis=1) if by == "‖μ‖" else np.exp(0.5 * logvar).mean(axis=1)
    terms = view.terms(split)
    return terms[{"reconstruction log-likelihood": "recon", "KL": "kl", "ELBO": "elbo"}[by]]


def filter_ui(dataset: Dataset, ids: tuple[str, ...], label_col, search_col, hide_col) -> Filter:
    """Filter by label and by index or example id; the points keep their identity (dimmed or hidden)."""
    names = dataset.class_names
    chosen = label_col.multiselect("Labels shown", range(len(names)), format_func=lambda c: names[c],
                                   placeholder="all labels", key="scatter_labels")
    query = search_col.text_input("Search index or id", key="scatter_search", placeholder="e.g. 17, 42 or test/7",
                                  help="Numbers are indices of the split; anything else matches part of an example "
                                       "id; commas between.")
    hide = hide_col.toggle("Hide others", key="scatter_hide")
    matches = search(query, ids) if query.strip() else None
    if matches is not None:
        caption, select = st.columns([4, 1], vertical_alignment="center")
        caption.caption(f"{len(matches):,} examples match {query.strip()!r}.")
        if matches and select.button("Select them", key="scatter_select_matches"):
            set_selection(st.session_state["scatter_split"], matches)
    return Filter([int(c) for c in chosen] or None, matches, hide)


def search(query: str, ids: tuple[str, ...]) -> list[int]:
    """Dataset indices matching any comma-separated term: a number is an index of the split, anything else a part
    of an example id."""
    found: set[int] = set()
    for term in filter(None, (t.strip() for t in query.split(","))):
        if term.isdigit():
            found.update([int(term)] if int(term) < len(ids) else [])
        else:
            found.update(i for i, name in enumerate(ids) if term in name)
    return sorted(found)


def stored_selection(checkpoint: Checkpoint, split: str) -> list[int]:
    """The selection kept for this model and split; a new split (or model) starts with none. A selection keeps
    its points across projections of the same split (they are the same examples)."""
    owner = (checkpoint.sha256, split)
    if st.session_state.get(SCATTER_OWNER) != owner:
        st.session_state.pop(SCATTER_SELECTION, None)
        st.session_state[SCATTER_OWNER] = owner
    return st.session_state.get(SCATTER_SELECTION, (split, []))[1]


def take_selection(state_selection: dict | None, split: str, view_id: str) -> bool:
    """Keep a selection the browser made in this view since the last run; True when there was one."""
    if not state_selection or state_selection.get("seq") == st.session_state.get(SCATTER_SEEN):
        return False
    st.session_state[SCATTER_SEEN] = state_selection.get("seq")
    if state_selection.get("view") != view_id:
        return False
    set_selection(split, [int(i) for i in state_selection["indices"]])
    return True


def set_selection(split: str, indices: list[int]) -> None:
    if indices:
        st.session_state[SCATTER_SELECTION] = (split, indices)
    else:
        st.session_state.pop(SCATTER_SELECTION, None)


def sigma_ellipses(view: ModelView, split: str, params: ProjectionParams, selected: list[int]) -> list:
    """1 and 2 sigma ellipses of the selected posteriors in the direct view (the two shown dimensions)."""
    if params.method != "direct" or not selected:
        return []
    mu, logvar = view.encodings(split)
    rows = np.asarray(selected[:MAX_ELLIPSES])
    dims = list(params.dims) if mu.shape[1] > 1 else [0, 0]
    sigma = np.exp(0.5 * logvar[np.ix_(rows, dims)])
    if mu.shape[1] == 1:
        sigma[:, 1] = 0
    return [{"x": float(mu[i, dims[0]]), "y": float(mu[i, dims[1]] if mu.shape[1] > 1 else 0.0),
             "sigma": [float(s) for s in sig]} for i, sig in zip(rows, sigma)]


def sliders_star(view: ModelView, split: str, params: ProjectionParams):
    """Where the Latent sliders page's code lies on this map (t-SNE and UMAP cannot place a new point)."""
    z = sliders_code(view.checkpoint)
    if z is None or not params.info.places_points:
        return None
    mu, _ = view.encodings(split)
    return project_points(mu, np.asarray(z)[None], params.method, params.dims)[0]


def example_image(dataset: Dataset, split: str, index: int):
    """The image (1, C, H, W) of dataset index `index` of `split` (without copying "all"'s images)."""
    examples = dataset.split(split)
    for part in ("train", "test"):
        [position] = examples.positions_in(dataset.split(part), [index]) or [None]
        if position is not None:
            return dataset.split(part).x[position:position + 1]


def selection_panel(view: ModelView, split: str, selected: list[int], labels: np.ndarray,
                    ids: tuple[str, ...]) -> None:
    if not selected:
        st.info("Hover a point to see its image and reconstruction; click one, or drag a box or a lasso (the tools "
                "above the map), to see the examples here with their nearest neighbours.")
        return
    shown = selected[:MAX_SHOWN]
    head, clear = st.columns([4, 1])
    head.subheader(f"{len(selected):,} selected" + (f" (first {MAX_SHOWN} shown)" if len(selected) > MAX_SHOWN else ""))
    if clear.button("Clear selection", key="scatter_clear"):
        set_selection(split, [])
        st.rerun()
    dataset = view.dataset
    x = torch.cat([example_image(dataset, split, i) for i in shown])
    terms = view.terms(split)
    names = dataset.class_names
    st.caption("Each column: an image above its reconstruction decode(mu(x)); per example log p(x|z) "
               "(reconstruction), KL(q(z|x) || p(z)) and ELBO in nats.")
    image_rows({"x": x, "reconstruction": view.model.reconstruct(x, torch.as_tensor(labels[shown]))},
               captions=[f"#{i}: {names[labels[i]]}<br>{html.escape(ids[i])}<br>recon {terms['recon'][i]:.1f}<br>"
                         f"KL {terms['kl'][i]:.1f}<br>ELBO {terms['elbo'][i]:.1f}" for i in shown], size=THUMB_PX)
    selection_downloads(view, split, selected)
    send_ui(view, split, selected)
    neighbours_panel(view, split, shown[:MAX_NEIGHBOUR_ROWS], labels, ids)


def send_ui(view: ModelView, split: str, selected: list[int]) -> None:
    """The selection's test examples sent on: Interpolation's endpoints, Directions' group A; or kept as group B."""
    test_examples = len(selected_test_examples(view.dataset))
    note = "" if test_examples else " (only test examples can be: select some in the test split)"
    interpolate, directions, keep = st.columns(3)
    if interpolate.button("Interpolate between them", key="scatter_send_interpolate", disabled=test_examples < 2,
                          help="Interpolation opens with the first and last selected test examples as its ends "
                               "(any two of them can be chosen there)" + note):
        send_selection("interpolate")
    if directions.button("Walk toward them", key="scatter_send_directions", disabled=not test_examples,
                         help="Directions opens with them as group A: the walk goes along mean(A) - mean(B), B the "
                              "rest of the test set or a selection kept as group B" + note):
        send_selection("directions")
    if keep.button("Keep as group B", key="scatter_keep_b", disabled=not test_examples,
                   help="Keep this selection as the Directions page's group B; then select group A" + note):
        keep_group_b(split, selected)
        st.toast(f"Kept {test_examples:,} test examples as group B.")


def neighbours_panel(view: ModelView, split: str, queries: list[int], labels: np.ndarray,
                     ids: tuple[str, ...]) -> None:
    dataset = view.dataset
    mu, _ = view.encodings(split)
    found, distances = nearest_neighbours(mu, queries, NEIGHBOURS)
    st.markdown(f"**{NEIGHBOURS} nearest neighbours in the full {mu.shape[1]}-D latent space** "
                "(Euclidean distance between posterior means, not in the 2-D map)")
    names = dataset.class_names
    for query, rows, dist in zip(queries, found, distances):
        images = torch.cat([example_image(dataset, split, i) for i in [query, *rows]])
        captions = [f"<b>#{query}</b>: {names[labels[query]]}"] + [
            f"#{i}: {names[labels[i]]}<br>d = {d:.3f}" for i, d in zip(rows, dist)]
        image_rows({html.escape(ids[query]): images}, captions=captions, size=56)


def exports(view: ModelView, split: str) -> None:
    """The split's embedding as TensorBoard Projector files (zip) and CSV, made in a queued worker when the button
    is pressed (encoding and scoring 70,000 examples and drawing their sprite take tens of seconds)."""
    name = f"{Path(view.checkpoint.dataset.name).name}-{split}"
    what = (current_model().data, view.checkpoint.dataset, view.roots, split)  # read here, in the session
    export = lambda kind: lambda: jobs.run_in_worker("Export", export_split, *what, kind)  # noqa: E731
    zip_col, csv_col = st.columns(2)
    zip_col.download_button("Embedding Projector files (.zip)", export("zip"), f"{name}-projector.zip",
                            "application/zip", key="scatter_export_zip",
                            help="tensors.tsv, metadata.tsv, sprite.png and projector_config.pbtxt "
                                 "(load them at projector.tensorflow.org or in TensorBoard).")
    csv_col.download_button("Embedding as CSV", export("csv"), f"{name}-embedding.csv", "text/csv",
                            key="scatter_export_csv", help="id, label, mu, recon, KL and ELBO per example.")


def latent_plane(checkpoint: Checkpoint) -> None:
    if not st.toggle("Show decoded images over the latent plane", key="scatter_grid"):
        return
    n = st.slider("Grid size", 5, 25, 15, key="scatter_grid_size")
    st.caption(f"Each tile decodes the code at its place on a {n}x{n} grid over [-{GRID_EXTENT:g}, {GRID_EXTENT:g}]^2: "
               "z0 grows to the right, z1 upwards, as in the scatter.")
    labels = class_labels(decoding_class_ui(checkpoint, checkpoint.dataset.class_names, "scatter_grid_class"), 1)
    show_picture(tile(checkpoint.model.decode_image(latent_grid(n, GRID_EXTENT), labels), ncols=n, size=40))


def dataset_key(checkpoint: Checkpoint) -> str:
    info = checkpoint.dataset
    return f"{info.name}:{sorted(info.loading_options().items())}"


def axes_names(params: ProjectionParams) -> tuple[str, str]:
    if params.method == "direct":
        return f"z{params.dims[0]}", f"z{params.dims[1]}"
    return ("PC1", "PC2") if params.method == "pca" else (f"{params.info.title} 1",
                                                          f"{params.info.title} 2")


def main() -> None:
    view = page_intro(
        "Latent scatter",
        "Every example of a split at its posterior mean mu(x), drawn in your browser: drag to pan, wheel to zoom, "
        "hover for the image and its reconstruction; click, box or lasso to select and see the nearest "
        "neighbours in the full latent space.",
    )
    checkpoint = view.checkpoint
    apply_link(view)
    split_col, method_col = st.columns([2, 3])
    splits = [s for s in SPLIT_NAMES if s in SPLITS]
    # A link can open a split (/scatter?split=all); else the one last shown (widget state ends with the page).
    asked = st.query_params.get("split", st.session_state.get(SCATTER_SPLIT_KEPT))
    split = split_col.radio("Examples", splits, index=splits.index(asked) if asked in splits else 0,
                            format_func=SPLIT_NAMES.get, horizontal=True, key="scatter_split")
    st.session_state[SCATTER_SPLIT_KEPT] = split
    examples = view.dataset.split(split)
    labels_tensor, ids = examples.y, examples.ids
    labels = labels_tensor.numpy()
    params = params_ui(view, split, len(labels), method_col)
    asked = METHOD_INFO[st.session_state["scatter_method"]].title
    run = request(view, split, params) if params is not None else None
    if run is not None and run.error:
        st.error(f"The map could not be computed: {run.error}.")
        return
    if run is not None and run.done:
        projected = run.result
        st.session_state[SCATTER_MAP_SHOWN] = (checkpoint.sha256, split, params, projected)
    else:  # the map on screen stays, until Compute is pressed and while the asked one computes
        if run is None:
            st.info(f"Set the {asked} parameters and press Compute: it runs in the background on the server, and "
                    "its map is kept on disk, so reopening it is instant.")
        else:
            wait_for_projection(view, split, params)
        shown = map_on_screen(view, split)
        if shown is None:
            return
        params, projected = shown
        st.caption(f"The {params.info.title} map stays here until the {asked} map is ready.")
    draw_map(view, split, params, projected, labels, ids)


def apply_link(view: ModelView) -> None:
    """A link's projection and colouring, set as the widgets' values before they are drawn (once per link)."""
    params = links.linked_projection(view.sha256)
    if params is not None:
        st.session_state["scatter_method"] = params.method
        if params.method == "direct" and max(params.dims) < view.checkpoint.config.latent_dim:
            st.session_state["scatter_dim_x"], st.session_state["scatter_dim_y"] = params.dims
        elif not params.info.places_points:  # t-SNE / UMAP: as if Compute had been pressed
            st.session_state[SCATTER_PARAMS.format(method=params.method)] = params
    colour = links.linked(view.sha256, "colour")
    if colour in COLOUR_BY:
        st.session_state["scatter_colour"] = colour
    if zoom := links.floats_param(links.linked(view.sha256, "zoom"), 3, high=1e6):
        st.session_state[SCATTER_ZOOM] = (None, dict(zip(("cx", "cy", "k"), zoom)))  # for the first view drawn


def link_ui(split: str, params: ProjectionParams, colouring: Colouring, selected: list[int],
            ids: tuple[str, ...], zoom: dict | None) -> None:
    """The view into the URL, and its "Copy link"."""
    sel = links.ids_param([ids[i] for i in selected])
    link = links.show("scatter", split=split, projection=links.projection_param(params), colour=colouring.name,
                      sel=sel or None, zoom=zoom and ",".join(f"{zoom[k]:.6g}" for k in ("cx", "cy", "k")))
    too_many = f" The selection ({len(selected):,} examples) is too large for a link: download it instead." \
        if selected and sel is None else ""
    links.copy_link(link, key="scatter_link", note=too_many)


def kept_zoom(view_id: str) -> dict | None:
    """Where the inspector's view of `view_id` last rested (a link's zoom belongs to the first view drawn)."""
    kept_id, zoom = st.session_state.get(SCATTER_ZOOM, ("", None))
    if kept_id is None:
        st.session_state[SCATTER_ZOOM] = kept_id, zoom = view_id, zoom
    return zoom if kept_id == view_id else None


def draw_map(view: ModelView, split: str, params: ProjectionParams, projected: Projection, labels: np.ndarray,
             ids: tuple[str, ...]) -> None:
    """The inspector on `projected` (the map of `params`), its controls, the selection panel and the exports."""
    checkpoint, dataset = view.checkpoint, view.dataset
    st.session_state[SCATTER_PROJECTION] = params.method
    st.session_state[SCATTER_DIMS] = params.dims
    colour_col, label_col, search_col, hide_col = st.columns([3, 3, 3, 2], vertical_alignment="bottom")
    with colour_col:
        colouring = colouring_ui(view, split)
    point_filter = filter_ui(dataset, ids, label_col, search_col, hide_col)
    note = f" **{projected.note}.**" if projected.note else ""
    st.caption(f"{len(projected.indices):,} of {len(labels):,} {SPLIT_NAMES[split].lower()} examples; "
               f"axes: {projected.explained}.{note}")
    mu, _ = view.encodings(split)
    x_parts = [("train", dataset.x_train), ("test", dataset.x_test)] if split == "all" else [
        (split, dataset.split(split).x)]
    view_id = f"{checkpoint.sha256}|{split}|{params.key()}"
    inspector = InspectorView(view_id, projected.coords, projected.indices, axes_names(params), labels,
                              [image_part(dataset_key(checkpoint), name, x) for name, x in x_parts], mu,
                              dataset.class_names, colouring, point_filter,
                              params.dims if params.method == "direct" else None)
    selected = stored_selection(checkpoint, split)
    if (linked := links.linked_ids(checkpoint.sha256, ids)) is not None:
        set_selection(split, linked)
        selected = linked
    zoom = kept_zoom(view_id)
    state = embedding_inspector(checkpoint, inspector, selected=selected,
                                ellipses=sigma_ellipses(view, split, params, selected),
                                star=sliders_star(view, split, params), zoom=zoom)
    if state.zoom and state.zoom.get("view") == view_id:
        zoom = {k: float(state.zoom[k]) for k in ("cx", "cy", "k")}
        st.session_state[SCATTER_ZOOM] = (view_id, zoom)
    if state.problem:
        st.error(f"The scatter cannot be drawn in this browser: {state.problem}.")
    if take_selection(state.selection, split, view_id):
        st.rerun()  # draws the new selection's ellipses and panel with the component in step
    if params.method == "direct" and selected:
        st.caption("Red ellipses: 1 sigma (solid) and 2 sigma (dashed) of each selected posterior q(z|x) in the two "
                   "dimensions shown.")
    link_ui(split, params, colouring, selected, ids, zoom)
    selection_panel(view, split, selected, labels, ids)
    with st.expander("Export this split's embedding"):
        exports(view, split)
    if checkpoint.config.latent_dim == 2 and params.method == "direct":
        latent_plane(checkpoint)


main()
