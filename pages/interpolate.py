"""Interpolation: decode the straight (lerp) and great-circle (slerp) paths between two latent codes.

Session keys this page owns (ui/session_keys.py): INTERPOLATE_PATHS, the codes it decodes and draws over the
scatter's map, and INTERPOLATE_DIAGNOSTICS, each path's `PathDiagnostics`.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui import links
from ui.components.latent_path import arc, latent_path, line
from ui.conditional import class_labels, decoding_class_ui
from ui.model_view import ModelView
from ui.navigation import page_intro
from ui.session_keys import (
    INTERPOLATE_DIAGNOSTICS,
    INTERPOLATE_LINKED,
    INTERPOLATE_PATHS,
    SCATTER_DIMS,
    SCATTER_PROJECTION,
)
from ui.state import selected_test_examples, selection_sent_to, sliders_class, sliders_code
from ui.widgets import latent_scatter_figure, show_images, show_picture
from vae_core.checkpoint import Checkpoint
from vae_core.data import Dataset
from vae_core.images import gif_bytes, png_bytes, tile, to_uint8, upscale
from vae_core.latent import PathDiagnostics, interpolate, path_diagnostics, prior_samples
from vae_core.projection import METHOD_INFO, ProjectionParams, project_points

SOURCES = ("Test examples by class", "Test examples by index", "Random prior samples", "Points selected on the scatter",
           "From the Latent sliders' code to a test example", "The codes of a link")
METHODS = {"linear": "Linear (lerp)", "spherical": "Spherical (slerp)"}
SHORT_NAMES = {"linear": "lerp", "spherical": "slerp"}
PATH_COLORS = {"linear": "#000000", "spherical": "#D62728"}  # hex: st.line_chart takes no names
ENDS = ("A", "B")


def example_indices_ui(source: str, dataset: Dataset) -> list[int]:
    """Two test-set indices chosen by index, by class, or among the scatter page's selection."""
    labels, class_names = dataset.split("test").y.numpy(), dataset.class_names
    columns = st.columns(2)
    if source == SOURCES[1]:
        return [col.number_input(f"Example {end} (0-{len(labels) - 1})", 0, len(labels) - 1, i,
                                 key=f"interpolate_index_{end}") for i, (col, end) in enumerate(zip(columns, ENDS))]
    if source == SOURCES[0]:
        indices = []
        for i, (col, end) in enumerate(zip(columns, ENDS)):
            label = col.selectbox(f"Class {end}", range(len(class_names)), index=min(i, len(class_names) - 1),
                                  format_func=lambda c: class_names[c], key=f"interpolate_class_{end}")
            members = np.flatnonzero(labels == label)
            if len(members) == 0:
                raise ValueError(f"class {class_names[label]!r} has no test examples; pick another class")
            nth = col.number_input(f"Which {class_names[label]} (0-{len(members) - 1})", 0, len(members) - 1, 0,
                                   key=f"interpolate_nth_{end}")
            indices.append(int(members[nth]))
        return indices
    selected = selected_test_examples(dataset)
    if len(selected) < 2:
        raise ValueError("select at least two points on the Latent scatter page first (click, box or lasso)")
    return [col.selectbox(f"Point {end}", selected, index=i * (len(selected) - 1), key=f"interpolate_point_{end}",
                          format_func=lambda j: f"#{j} ({class_names[labels[j]]})")
            for i, (col, end) in enumerate(zip(columns, ENDS))]


def endpoints_ui(view: ModelView) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The two codes (D,) to interpolate between: posterior means of test examples, or prior samples; and how
    the URL names them (`ends`: the examples' ids, else `codes`)."""
    checkpoint, dataset = view.checkpoint, view.dataset
    sha256, linked = st.session_state.get(INTERPOLATE_LINKED, (None, None))
    offered = SOURCES if sha256 == view.sha256 else SOURCES[:-1]
    if st.session_state.get("interpolate_source") not in offered:  # a link's codes, of another model
        st.session_state.pop("interpolate_source", None)
    source = st.radio("Endpoints", offered, horizontal=True, key="interpolate_source")
    if source in (SOURCES[2], SOURCES[4], SOURCES[5]):
        if source == SOURCES[5]:
            z0, z1 = map(torch.tensor, linked)
        elif source == SOURCES[4]:
            z0, z1 = sliders_code_to_example(view)
        else:
            seeds = [col.number_input(f"Seed {end}", 0, 10**6, i, key=f"interpolate_seed_{end}")
                     for i, (col, end) in enumerate(zip(st.columns(2), ENDS))]
            z0, z1 = (prior_samples(1, checkpoint.config.latent_dim, seed)[0] for seed in seeds)
        return z0, z1, {"codes": f"{links.code_param(z0)};{links.code_param(z1)}"}
    test = dataset.split("test")
    x, labels = test.x, test.y
    indices = example_indices_ui(source, dataset)
    captions = [f"{end}: #{i} ({dataset.class_names[labels[i]]})" for end, i in zip(ENDS, indices)]
    show_images(x[indices], captions=captions, size=96)
    mu = torch.tensor(view.encodings()[0])  # a copy: cached arrays are read-only
    return mu[indices[0]], mu[indices[1]], {"ends": ",".join(test.ids[i] for i in indices)}


def apply_link(view: ModelView) -> None:
    """A link's endpoints (two test examples, or two codes) and steps, set as the widgets' values (once)."""
    sha256, latent_dim = view.sha256, view.checkpoint.config.latent_dim
    ends = links.linked_ids(sha256, view.dataset.split("test").ids, "ends")
    if ends and len(ends) == 2:
        st.session_state.update(interpolate_source=SOURCES[1], interpolate_index_A=ends[0], interpolate_index_B=ends[1])
    codes = [links.floats_param(text, latent_dim) for text in (links.linked(sha256, "codes") or "").split(";")]
    if len(codes) == 2 and None not in codes:
        st.session_state[INTERPOLATE_LINKED] = (sha256, codes)
        st.session_state["interpolate_source"] = SOURCES[5]
    if steps := links.floats_param(links.linked(sha256, "steps"), 1, 3, 24):
        st.session_state["interpolate_steps"] = int(steps[0])


def take_sent_selection() -> None:
    """The scatter's selection sent here: its first and last test examples are the ends (any two can be chosen)."""
    if selection_sent_to("interpolate"):
        st.session_state["interpolate_source"] = SOURCES[3]
        for end in ENDS:
            st.session_state.pop(f"interpolate_point_{end}", None)


def sliders_code_to_example(view: ModelView) -> tuple[torch.Tensor, torch.Tensor]:
    checkpoint, dataset = view.checkpoint, view.dataset
    z0 = sliders_code(checkpoint)
    if z0 is None:
        raise ValueError("set a code on the Latent sliders page first (drag a slider or the pad, then let go)")
    test = dataset.split("test")
    x, labels = test.x, test.y
    index = st.number_input(f"Example B (0-{len(x) - 1})", 0, len(x) - 1, 0, key="interpolate_index_to")
    shown_as = class_labels(sliders_class(checkpoint), 1)  # the class the sliders page decodes it as
    show_images(torch.cat([checkpoint.model.decode_image(torch.as_tensor(z0)[None], shown_as), x[index:index + 1]]),
                captions=["A: the sliders' code", f"B: #{index} ({dataset.class_names[labels[index]]})"], size=96)
    return torch.as_tensor(z0), torch.tensor(view.encodings()[0][index])


def strip_with_exports(method: str, images: torch.Tensor) -> None:
    title, png, gif = st.columns([4, 1, 1], vertical_alignment="bottom")
    title.markdown(f"**{METHODS[method]}**")
    frames = np.stack([upscale(frame, 192) for frame in to_uint8(images)])
    strip = tile(images, ncols=len(images), size=64)
    # made on the click: bytes given here would be encoded on every run and fetched by the browser each time
    png.download_button("Strip as PNG", lambda: png_bytes(strip), f"{method}-interpolation.png", "image/png",
                        key=f"interpolate_png_{method}")
    gif.download_button("Animated GIF", lambda: gif_bytes(frames), f"{method}-interpolation.gif", "image/gif",
                        key=f"interpolate_gif_{method}")
    show_picture(strip)


@st.fragment
def live_paths(checkpoint: Checkpoint, z0: torch.Tensor, z1: torch.Tensor, decoding_class: int | None) -> None:
    """Each path as a slider decoded in the browser as the pointer moves (a release reruns only this part)."""
    st.markdown("**Anywhere along either path**, decoded in your browser as you drag (t from A at 0 to B at 1)")
    a, b = z0.numpy(), z1.numpy()
    for column, method in zip(st.columns(2), METHODS):
        with column:
            shape = line(a, b - a) if method == "linear" else arc(a, b)
            path = latent_path(checkpoint, shape, label=f"t along {SHORT_NAMES[method]}", amount_range=(0, 1, 0.01),
                               value=0.5, decoded_class=decoding_class, size=96, key=f"interpolate_path_{method}")
            if path.problem:
                st.caption(f"In-browser decoding is off: {path.problem}; the strips above show the path.")


def diagnostics_charts(diagnostics: dict[str, PathDiagnostics]) -> None:
    """Three small charts under the strips, one line per path (short names: the legends are narrow), step by step."""
    first = next(iter(diagnostics.values()))
    shell, steps = first.shell, len(first.norm)
    st.caption(f"In D dimensions a N(0, I) code has norm close to sqrt(D) = {shell:.1f} (its spread stays about 0.7 "
               "as D grows), so the prior's mass lies in a thin shell; the straight line between two shell points cuts "
               "inside it (for two independent codes the midpoint's norm is about sqrt(D/2)), while slerp turns along "
               "the shell and keeps the norm between the ends' norms.")
    norm, density, reencoding = st.columns(3)
    norm.line_chart({**{SHORT_NAMES[m]: d.norm for m, d in diagnostics.items()},
                     "sqrt(D) shell": np.full(steps, shell)}, x_label="step", y_label="||z||", height=220,
                    color=[PATH_COLORS["linear"], PATH_COLORS["spherical"], "#999999"])
    density.line_chart({SHORT_NAMES[m]: d.prior_log_density for m, d in diagnostics.items()}, x_label="step",
                       y_label="log p(z) (nats)", height=220, color=[PATH_COLORS["linear"], PATH_COLORS["spherical"]])
    reencoding.line_chart({SHORT_NAMES[m]: d.reencoding_error for m, d in diagnostics.items()}, x_label="step",
                          y_label="||mu(decode(z)) - z||", height=220,
                          color=[PATH_COLORS["linear"], PATH_COLORS["spherical"]])
    st.caption("Left: the norm against the shell. Middle: the prior's log-density, closed form "
               "-(||z||^2 + D log 2 pi) / 2 (higher inside the shell, yet almost no prior sample lands there). Right: "
               "re-encoding consistency, how far the encoder puts each decoded image from the code it came from.")


def path_figure(view: ModelView, paths: dict[str, np.ndarray]) -> go.Figure:
    """The paths over the scatter page's 2-D map; PCA where the scatter shows t-SNE (it cannot place new points)."""
    checkpoint, dataset = view.checkpoint, view.dataset
    method = st.session_state.get(SCATTER_PROJECTION, "direct" if checkpoint.config.latent_dim <= 2 else "pca")
    dims = st.session_state.get(SCATTER_DIMS, (0, 1))
    if not METHOD_INFO[method].places_points:
        st.info(f"The scatter page shows {METHOD_INFO[method].title}, which cannot place new points; the path is "
                "drawn over PCA instead.")
        method = "pca"
    background = view.projection(ProjectionParams(method, dims))
    labels = view.labels()[background.indices]
    figure = latent_scatter_figure(background.coords, background.indices, labels, dataset.class_names,
                                   marker_size=3, opacity=0.3)
    mu = view.encodings()[0]
    for name, path in paths.items():
        xy = project_points(mu, path, method, dims)
        figure.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=METHODS[name],
                                    line={"color": PATH_COLORS[name], "width": 2}, marker={"size": 7}))
    figure.update_layout(title=f"Axes: {background.explained}", height=480)
    return figure


view = page_intro(
    "Interpolation",
    "Walk from code A to code B in latent space and decode each step. Linear interpolation cuts straight "
    "through the middle of the prior, where codes have unusually small norm; spherical interpolation keeps "
    "the norm typical of N(0, I) samples.",
)
checkpoint, dataset = view.checkpoint, view.dataset
apply_link(view)
take_sent_selection()
try:
    z0, z1, ends_link = endpoints_ui(view)
except ValueError as exc:
    st.error(f"No endpoints: {exc}.")
    st.stop()
steps = st.slider("Steps (including both ends)", 3, 24, 10, key="interpolate_steps")
links.copy_link(links.show("interpolate", **ends_link, steps=str(steps)), key="interpolate_link")
decoding_class = decoding_class_ui(checkpoint, dataset.class_names, "interpolate_class")
path_labels = class_labels(decoding_class, steps)
paths = {method: interpolate(z0, z1, steps, method) for method in METHODS}
images = {method: checkpoint.model.decode_image(path, path_labels).cpu() for method, path in paths.items()}
st.session_state[INTERPOLATE_PATHS] = {method: path.numpy() for method, path in paths.items()}
st.caption("The two strips one above the other, step by step; the ends are the same codes.")
for method in METHODS:
    strip_with_exports(method, images[method])
live_paths(checkpoint, z0, z1, decoding_class)
diagnostics = {method: path_diagnostics(checkpoint.model, path, path_labels) for method, path in paths.items()}
st.session_state[INTERPOLATE_DIAGNOSTICS] = diagnostics
diagnostics_charts(diagnostics)
st.plotly_chart(path_figure(view, st.session_state[INTERPOLATE_PATHS]), key="interpolate_chart")
