"""The embedding inspector: every encoded example of a split as a WebGL point, with hover thumbnails and
click / box / lasso selection, all in the browser (inspector.js).

Big arrays never ride in the component's data: each is written once as a static file named by its content
(static/cache/, git-ignored, served at /app/static/cache/) and the data names its URL, so a rerun sends a few
hundred bytes and a browser fetches each file once (a dataset's images once per dataset, whatever the view).
This wrapper is the only place that knows what inspector.js reads (`data`) and sends back (state):

  data.view      {"id", "coords": URL of float32 (M, 2), "indices": URL of int32 (M,) dataset indices of those
                 points or None (all N, in order), "count": M, "axes": [x name, y name], "direct": the two latent
                 dimensions the axes are, in a direct view (the decoded map can be drawn under it), else None}
  data.points    {"labels": URL of int32 (N,), "images": [{"split", "url": uint8 (n, H, W[, 3]) gzip, "count"}] in
                 dataset-index order, "codes": URL of float32 (N, D) posterior means, "latent_dim", "image_shape"
                 (C, H, W), "names": class names, "palette": class colours}
  data.colour    {"values": URL of float32 (N,) or None (colour by label), "name", "range": [lo, hi]}
  data.filter    {"labels": allowed labels or None, "matches": dataset indices or None, "hide": bool}
  data.selected  dataset indices drawn as selected (the first MAX_RINGS); data.ellipses [{"x", "y", "sigma":
                 [sx, sy]}] (1 and 2 sigma); data.star [x, y] or None
  data.decoder   `runtime.decoder`: {"runtime", "url", "input", "class_input" (a conditional model's graph: each
                 point is decoded as its own label; else None), "output"}
  state selection  {"view", "indices": dataset indices, "seq"} on every click or box / lasso release
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
from ui.widgets import CLASS_COLORS
from vae_core.checkpoint import Checkpoint
from vae_core.images import to_uint8

HERE = Path(__file__).resolve().parent
MAX_RINGS = 5000  # selected points drawn ringed (a box over 60,000 points would only send a long list each run)


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
                        ellipses: list[dict] | None = None, star=None,
                        key: str = "scatter_inspector") -> InspectorState:
    """Mount the inspector on `view`; `selected` dataset indices are drawn ringed, `ellipses` around them."""
    problem = runtime.problem()
    if problem:
        return InspectorState(None, problem)
    colour = view.colour
    result = _component()(
        key=key,
        data={
            "view": {"id": view.id, "coords": publish_array(view.coords, np.float32),
                     "indices": publish_array(view.indices, np.int32), "count": len(view.indices),
                     "axes": list(view.axes),
                     "direct": None if view.direct_dims is None else [int(d) for d in view.direct_dims]},
            "points": {"labels": publish_array(view.labels, np.int32),
                       "images": [{"split": p.split, "url": p.url, "count": p.count} for p in view.images],
                       "codes": publish_array(view.codes, np.float32), "latent_dim": int(view.codes.shape[1]),
                       "image_shape": list(checkpoint.config.image_shape), "names": list(view.class_names),
                       "palette": CLASS_COLORS},
            "colour": {"values": None if colour.values is None else publish_array(colour.values, np.float32),
                       "name": colour.name, "range": [float(v) for v in colour.range]},
            "filter": {"labels": view.filter.labels, "matches": view.filter.matches, "hide": view.filter.hide},
            "selected": [int(i) for i in selected[:MAX_RINGS]],
            "ellipses": ellipses or [],
            "star": None if star is None else [float(v) for v in star],
            "decoder": runtime.decoder(checkpoint),
        },
        on_selection_change=lambda: None, on_problem_change=lambda: None,
    )
    return InspectorState(result.get("selection"), result.get("problem"))
