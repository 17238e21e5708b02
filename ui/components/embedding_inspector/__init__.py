"""The embedding inspector: every encoded example of a split as a WebGL point, with hover thumbnails and
click / box / lasso selection, all in the browser (inspector.js).

Big arrays never ride in the component's data: each is written once as a static file named by its content
(static/cache/, git-ignored, served at /app/static/cache/) and the data names its URL, so a rerun sends a few
hundred bytes and a browser fetches each file once (a dataset's images once per dataset, whatever the view).
The data's format has one home, vae_core.inspector (the standalone page builds the same dict); this wrapper
publishes the arrays and sends it. What inspector.js sends back (state):

  state selection  {"view", "indices": dataset indices, "seq"} on every click or box / lasso release
  state zoom       {"view", "cx", "cy", "k"} once a pan or zoom has rested (k: times the fitted zoom)
  state problem    why the points cannot be drawn (no WebGL, a file that did not load)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from ui.components import runtime, script, style
from ui.components.static_files import publish, publish_array
from vae_core.checkpoint import Checkpoint
from vae_core.images import to_uint8
from vae_core.inspector import inspector_data

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ImagePart:
    """One split's images as a static file: dataset indices offset .. offset + count - 1 of the view's split."""

    split: str
    url: str
    count: int


@dataclass(frozen=True)
class Colouring:
    name: str  # "label" or a metric's name
    values: np.ndarray | None = None  # (N,) per example; None: colour by label
    range: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class Filter:
    labels: list[int] | None = None  # labels shown; None: all
    matches: list[int] | None = None  # dataset indices shown; None: all
    hide: bool = False  # hide the others (else dim them)


@dataclass(frozen=True)
class InspectorView:
    """What the inspector draws: a view (M points of a split of N examples) and the split's arrays."""

    id: str  # changes whenever the points move (split, projection): the browser refits and forgets its selection
    coords: np.ndarray  # (M, 2)
    indices: np.ndarray  # (M,) dataset indices of those points
    axes: tuple[str, str]
    labels: np.ndarray  # (N,)
    images: list[ImagePart]
    codes: np.ndarray  # (N, D) posterior means
    class_names: tuple[str, ...]
    colour: Colouring = field(default_factory=lambda: Colouring("label"))
    filter: Filter = field(default_factory=Filter)
    direct_dims: tuple[int, int] | None = None  # the latent dimensions the axes are, in a direct view


@dataclass(frozen=True)
class InspectorState:
    selection: dict | None  # {"view", "indices", "seq"} of the last click / box / lasso, or None
    problem: str | None  # why the browser cannot draw, once it said so
    zoom: dict | None = None  # {"view", "cx", "cy", "k"} where the last pan or zoom rested, or None


@functools.cache
def _component():
    read = lambda name: (HERE / name).read_text()  # noqa: E731
    return st.components.v2.component("embedding_inspector", html=read("inspector.html"),
                                      css=style("embedding_inspector/inspector.css"),
                                      js=script("embedding_inspector/inspector.js"))


@st.cache_resource(max_entries=8, show_spinner="Writing the images for the browser (once per dataset)...")
def image_part(dataset_key: str, split: str, _images) -> ImagePart:
    """A split's images (n, C, H, W) in [0, 1] as one gzip file of uint8 (n, H, W[, 3]), keyed by `dataset_key`
    (which names the dataset and its options) and `split`; the file name is its content's hash."""
    return ImagePart(split, publish(to_uint8(_images).tobytes(), ".u8.gz", compress=True), len(_images))




def embedding_inspector(checkpoint: Checkpoint, view: InspectorView, *, selected: list[int],
                        ellipses: list[dict] | None = None, star=None, zoom: dict | None = None,
                        key: str = "scatter_inspector") -> InspectorState:
    """Mount the inspector on `view`; `selected` dataset indices are drawn ringed, `ellipses` around them; `zoom`
    ({"cx", "cy", "k"}) is where the view opens (else fitted to its points)."""
    problem = runtime.problem()
    if problem:
        return InspectorState(None, problem)
    colour, shown = view.colour, view.filter
    data = inspector_data(
        checkpoint, view_id=view.id, coords=publish_array(view.coords, np.float32),
        indices=publish_array(view.indices, np.int32), count=len(view.indices), axes=view.axes,
        direct_dims=view.direct_dims, zoom=zoom, labels=publish_array(view.labels, np.int32),
        images=[(p.split, p.url, p.count) for p in view.images], codes=publish_array(view.codes, np.float32),
        class_names=view.class_names, decoder=runtime.decoder(checkpoint),
        colour=(colour.name, None if colour.values is None else publish_array(colour.values, np.float32),
                colour.range),
        filter_labels=shown.labels, filter_matches=shown.matches, hide=shown.hide, selected=selected,
        ellipses=ellipses or [], star=star)
    result = _component()(
        key=key, data=data,
        on_selection_change=lambda: None, on_problem_change=lambda: None, on_zoom_change=lambda: None,
    )
    return InspectorState(result.get("selection"), result.get("problem"), result.get("zoom"))
