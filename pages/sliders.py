"""Latent sliders and the latent pad: one code, dragged and decoded in the browser as the pointer moves.

The latent canvas (ui/components/latent_canvas) runs the decoder in the page; the code comes back here on
release. Where it cannot run (no WebAssembly, its script blocked) or until it has started, server-side sliders
stand in, with a note saying why.

A conditional model's pad and single image decode the class chosen above them ("sliders_class"; the browser's one
decoder graph takes the class as an input, vae_core.export, so choosing another class sends only its number);
below them the same z decodes as every class, drawn by the canvas as the pointer moves (each frame one batch of K
codes through the same session, the chosen class's image among them). Where the canvas is not running, that row
is decoded on the server instead (`class_row`), at each slider change.

Session keys this page owns (ui/session_keys.py says what each holds): SLIDERS_Z, the current code; SLIDERS_START,
SLIDERS_START_Z and SLIDERS_START_ID, where it starts; SLIDERS_IMAGE and SLIDERS_MS, the server sliders' image and
its time; SLIDERS_CLASS_ROW, a conditional model's code decoded as every class.
"""

import time

import numpy as np
import streamlit as st
import torch

from ui import links
from ui.components.latent_canvas import latent_canvas
from ui.conditional import class_labels, decoding_class_ui
from ui.model_view import ModelView
from ui.navigation import page_intro
from ui.session_keys import (
    SLIDERS_CLASS_ROW,
    SLIDERS_IMAGE,
    SLIDERS_MS,
    SLIDERS_PAD_VIEW,
    SLIDERS_START,
    SLIDERS_START_ID,
    SLIDERS_START_Z,
    SLIDERS_Z,
)
from ui.share import web_page_download
from ui.state import remember_sliders_code
from ui.widgets import image_rows, show_images
from vae_core.checkpoint import Checkpoint
from vae_core.images import png_bytes, to_uint8, upscale
from vae_core.latent import prior_samples, traversal_grid
from vae_core.metrics import DimensionActivity
from vae_core.standalone import SLIDER_LIMIT

RANGE = SLIDER_LIMIT  # the pad's and the sliders' reach, as in the standalone page
TRAVERSAL_STEPS = 9


def start_code_ui(view: ModelView) -> tuple[str, np.ndarray]:
    """Widgets choosing where the sliders start; returns (a name for the choice, z (D,))."""
    checkpoint, dataset = view.checkpoint, view.dataset
    latent_dim = checkpoint.config.latent_dim
    source = st.radio("Start from", ["Prior mean (z = 0)", "Random prior sample", "Dataset example"],
                      horizontal=True, key="sliders_source")
    if source == "Random prior sample":
        seed = st.number_input("Seed (step it for a new sample)", 0, 10**6, 0, key="sliders_seed")
        return f"prior-{seed}", prior_samples(1, latent_dim, seed)[0].numpy()
    if source == "Dataset example":
        test = dataset.split("test")
        x, y = test.x, test.y
        index = st.number_input(f"Test example (0-{len(x) - 1})", 0, len(x) - 1, 0, key="sliders_index")
        pair = torch.cat([x[index:index + 1], checkpoint.model.reconstruct(x[index:index + 1], y[index:index + 1])])
        show_images(pair, captions=[f"example {index}: {dataset.class_names[y[index]]}", "its reconstruction"],
                    size=112)
        return f"example-{index}", view.encodings()[0][index]
    return "mean", np.zeros(latent_dim, dtype=np.float32)


def move_sliders_to(z: np.ndarray) -> None:
    """Set the code and every slider to z; sliders are created later in this run, so this is allowed."""
    z = np.clip(z, -RANGE, RANGE).astype(np.float32)
    st.session_state[SLIDERS_Z] = z
    st.session_state[SLIDERS_START_Z] = z.copy()
    st.session_state[SLIDERS_START_ID] = st.session_state.get(SLIDERS_START_ID, 0) + 1
    for dim, value in enumerate(z):
        st.session_state[f"sliders_z{dim}"] = float(value)


@st.fragment
def live_code(checkpoint: Checkpoint, labels: np.ndarray, mu: np.ndarray, kl: np.ndarray, dims: list[int],
              pad_class: int | None) -> None:
    """The live part, a fragment: a release on the canvas or a server slider move reruns only this."""
    sha256, pad_view = st.session_state.get(SLIDERS_PAD_VIEW, (None, None))
    canvas = latent_canvas(checkpoint, mu, labels, start=st.session_state[SLIDERS_START_Z],
                           start_id=str(st.session_state[SLIDERS_START_ID]), dims=dims, kl=kl, limit=RANGE,
                           decoded_class=pad_class or 0, view=pad_view if sha256 == checkpoint.sha256 else None)
    if canvas.view:
        st.session_state[SLIDERS_PAD_VIEW] = (checkpoint.sha256, pad_view := canvas.view)
    y = class_labels(pad_class, 1)
    if canvas.ready:
        st.session_state[SLIDERS_Z] = canvas.z
        remember_sliders_code(checkpoint, canvas.z, pad_class)
        save_image(checkpoint, canvas.z, y)
    else:
        st.info((f"In-browser decoding is off: {canvas.problem}." if canvas.problem else
                 "Starting in-browser decoding (it needs JavaScript and WebAssembly).") +
                " Meanwhile these sliders decode on the server: the image changes when you let go of a slider.")
        server_sliders(checkpoint, kl, dims, y)
        class_row(checkpoint, st.session_state[SLIDERS_Z])  # the canvas draws its own, live
    link = links.show("sliders", z=links.code_param(st.session_state[SLIDERS_Z]),
                      pad=pad_view and pad_param(pad_view))
    links.copy_link(link, key="sliders_link", note=" The code is the one of your last release.")


def pad_param(view: dict) -> str:
    """The pad's plane and view for the URL: "pca" or "i:j" (two dimensions), the centre and the half-width."""
    plane = "pca" if view["plane"] == "pca" else "{}:{}".format(*view["axes"])
    return ",".join([plane, *(f"{v:.4g}" for v in (*view["centre"], view["extent"]))])


def apply_pad_link(checkpoint: Checkpoint) -> None:
    """A link's pad plane and view, kept for the canvas to open on (once)."""
    plane, _, rest = (links.linked(checkpoint.sha256, "pad") or "").partition(",")
    numbers, dims = links.floats_param(rest, 3), plane.split(":")
    axes = [int(d) for d in dims if d.isdigit() and int(d) < checkpoint.config.latent_dim]
    if numbers and numbers[2] > 0 and (plane == "pca" or len(axes) == 2):
        view = {"plane": "pca" if plane == "pca" else "axes", "axes": axes or [0, 1], "centre": numbers[:2],
                "extent": numbers[2]}
        st.session_state[SLIDERS_PAD_VIEW] = (checkpoint.sha256, view)


def class_row(checkpoint: Checkpoint, z: np.ndarray) -> None:
    """For a conditional model: the code decoded as every class, side by side (style kept, content swapped); the
    server's version of the canvas's live row."""
    if not checkpoint.config.conditional:
        return
    names = checkpoint.dataset.class_names
    row = checkpoint.model.decode_every_class(torch.from_numpy(z))  # (K, C, H, W)
    st.session_state[SLIDERS_CLASS_ROW] = row.numpy()
    st.markdown("**The same z, every class** (a conditional model: the class is the decoder's other input)")
    st.caption("Here z stays and only the class changes: what persists across "
               "the row (slant, stroke width, size) is what z encodes, the style; the class supplies the content. "
               "Decoded on the server each time a slider moves.")
    image_rows({"decode(z, y)": row}, captions=list(names), size=56)


def save_image(checkpoint: Checkpoint, z: np.ndarray, y: torch.Tensor | None) -> None:
    st.caption("Code as of your last release: " + ", ".join(f"z{d} = {v:+.2f}" for d, v in enumerate(z)) +
               ". The Interpolation page can start from it and the Latent scatter page marks it.")
    image = checkpoint.model.decode_image(torch.from_numpy(z)[None], y)  # (1, C, H, W)
    st.download_button("Save this image (PNG)", lambda: png_bytes(upscale(to_uint8(image)[0], 320)),
                       file_name="decoded.png", mime="image/png", key="sliders_save")


def server_sliders(checkpoint: Checkpoint, kl: np.ndarray, dims: list[int], y: torch.Tensor | None) -> None:
    """The fallback: one st.slider per dimension, decoded on the server at each change."""
    started = time.perf_counter()
    z = st.session_state[SLIDERS_Z].copy()
    left, right = st.columns([3, 2])
    with left:
        for dim in dims:
            key = f"sliders_z{dim}"
            if key not in st.session_state:  # first shown, or shown again after the canvas or a filter hid it
                # the pad spans the test codes, which can lie beyond the sliders' range
                st.session_state[key] = float(np.clip(z[dim], -RANGE, RANGE))
            z[dim] = st.slider(f"z{dim} · KL {kl[dim]:.2f} nats", -RANGE, RANGE, step=0.05, key=key)
    st.session_state[SLIDERS_Z] = z
    remember_sliders_code(checkpoint, z, None if y is None else int(y[0]))
    image = checkpoint.model.decode_image(torch.from_numpy(z)[None], y)  # (1, C, H, W)
    with right:
        show_images(image, size=320)
        st.session_state[SLIDERS_IMAGE] = image[0].numpy()
        st.session_state[SLIDERS_MS] = (time.perf_counter() - started) * 1000
        moved = not np.array_equal(z, st.session_state[SLIDERS_START_Z])
        st.caption(f"decode(z), ready {st.session_state[SLIDERS_MS]:.1f} ms after the slider moved (server side)"
                   if moved else "decode(z) at the starting code; move a slider")


def shown_dimensions(activity: DimensionActivity) -> list[int]:
    sort, active = st.columns(2)
    dims = activity.most_active_first if sort.toggle("Most active first", key="sliders_sort") \
        else list(range(len(activity.kl)))
    if active.toggle(f"Hide inactive dimensions (KL < {activity.ACTIVE_KL} nats)", key="sliders_active_only"):
        dims = [d for d in dims if activity.is_active(d)]
    return dims


def traversal(checkpoint: Checkpoint, z: np.ndarray, dims: list[int], y: torch.Tensor | None) -> None:
    with st.expander("Traversal grid: one row per dimension", expanded=False):
        st.caption(f"Each row sweeps one dimension from -{RANGE:g} to +{RANGE:g} (the value under each column), "
                   "all others held at the starting code.")
        values = torch.linspace(-RANGE, RANGE, TRAVERSAL_STEPS)
        images = traversal_grid(checkpoint.model, torch.from_numpy(z), dims, values, y)  # (R, V, C, H, W)
        image_rows({f"z{d}": row for d, row in zip(dims, images)}, captions=[f"{v:+.2f}" for v in values], size=48)


view = page_intro(
    "Latent sliders",
    "Drag a slider, or press on the pad and drag (or tab to it and use the arrow keys): the image, the decoder's "
    "mean image for the code z, follows. Each slider sets one coordinate of z; the pad moves z within a plane "
    "(z itself for a 2-D model, else two chosen dimensions or the PCA plane of the test codes, the rest of z "
    "kept), over the test set's codes coloured by label. KL is the average KL(q(z_d|x) || N(0,1)) over the test "
    "set: dimensions near 0 nats are ignored by the model, so moving them changes little.",
)
checkpoint, dataset = view.checkpoint, view.dataset
mu, _ = view.encodings()
activity = view.activity
choice, start = start_code_ui(view)
start_key = (checkpoint.sha256, choice)
reset = st.button("Reset sliders to the start", key="sliders_reset")
if reset or st.session_state.get(SLIDERS_START) != start_key:
    move_sliders_to(start)
    st.session_state[SLIDERS_START] = start_key
if (linked_z := links.linked_code(checkpoint.sha256, checkpoint.config.latent_dim)) is not None:
    move_sliders_to(linked_z)  # a link's code: the code it was copied at
apply_pad_link(checkpoint)
dims = shown_dimensions(activity)
pad_class = decoding_class_ui(checkpoint, dataset.class_names, "sliders_class")
if not dims:
    st.info("Every dimension is inactive for this model; turn off the filter to see the sliders.")
else:
    live_code(checkpoint, dataset.split("test").y.numpy(), mu, activity.kl, dims, pad_class)
    traversal(checkpoint, np.clip(start, -RANGE, RANGE), dims, class_labels(pad_class, 1))
web_page_download(view, key="sliders_web_page")
