"""The latent canvas: sliders and a 2-D pad editing one latent code, decoded in the browser as the pointer moves.

The decoder runs in the page (ui/components/runtime.py, shared/model_client.js), so a drag costs no server round
trip; the code comes back to Python on release. This wrapper is the only place that knows what canvas.js reads
(`data`) and sends back (state and triggers):

  data.model    once per model and session, else only {"sha256"} (the model's identity: the checkpoint's sha256):
                the decoder (`runtime.decoder`: its file's URL and the graph's names; a conditional model's graph
                takes the class too, one graph for every class), latent_dim, image_shape (C, H, W), the test codes
                drawn on the pad (subsampled, with labels, and per class a colour and a name) and the PCA plane of
                all test codes (origin, 2 x D basis)
  data.start    {"id", "z"}: the browser moves its code to z whenever id changes
  data.sliders  {"dims": the dimensions shown, in order; "kl": per dimension; "limit": slider range}
  data.decoded_class  the class a conditional model's code is decoded as (None for an unconditional model)
  data.others   [{"name", "decoder"}]: other models of the same latent size and image shape, each decoding the
                same code beside the model's image, run by the same client and painted in the same frame
  data.view     {"plane": "pca" or "axes", "axes": [i, j], "centre": [u, v], "extent"}: the pad's plane and the
                square it shows, applied when the model is first drawn in this mount (a link's), or None
  state status  {"state": "ready"} or {"state": "error", "reason": why in-browser decoding is off}; sent once
                per mount and on change (each report is a rerun)
  state code    {"start": the start id it was edited from, "z": [...]}, on every release
  state view    the pad's plane and view as in data.view, once a wheel, pan or plane choice has rested
  trigger model_missing  a sha256 whose model the browser was not sent (the next run sends it)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from ui.components import runtime, script, style
from vae_core.checkpoint import Checkpoint
from vae_core.standalone import pad_model, rounded

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CanvasState:
    ready: bool  # the browser decodes as the pointer moves
    problem: str | None  # why it does not (None while it is still starting)
    z: np.ndarray  # (D,) the code as of the last release (the start until the user moves it)
    view: dict | None = None  # the pad's plane and view as the user last left them (data.view's format)


@functools.cache
def _component():
    read = lambda name: (HERE / name).read_text()  # noqa: E731
    return st.components.v2.component("latent_canvas", html=read("canvas.html"), css=style("latent_canvas/canvas.css"),
                                      js=script("latent_canvas/canvas.js"))


@st.cache_data(max_entries=4, show_spinner=False)
def _model_payload(sha256: str, _checkpoint: Checkpoint, _codes: np.ndarray, _labels: np.ndarray) -> dict:
    return pad_model(_checkpoint, _codes, _labels)


def _forget_sent_model(sent_key: str) -> None:
    st.session_state.pop(sent_key, None)


def latent_canvas(checkpoint: Checkpoint, codes: np.ndarray, labels: np.ndarray, *, start: np.ndarray,
                  start_id: str, dims: Sequence[int], kl: np.ndarray, limit: float,
                  key: str = "sliders_canvas", decoded_class: int = 0,
                  others: Sequence[tuple[str, Checkpoint]] = (), view: dict | None = None) -> CanvasState:
    """Mount the canvas for `checkpoint`; the pad shows `codes` (N, D) coloured by `labels` (N,).

    The browser's code starts at `start` (D,) and returns there whenever `start_id` changes; `dims` are the
    sliders shown, in order, each labelled with its `kl`; sliders span [-limit, limit]. A conditional model's
    image is decoded as class `decoded_class`. `others` (name, checkpoint): unconditional models of the same
    latent size and image shape, each drawing the same code beside it. `view`: the pad's plane and view to open
    on (data.view), else the PCA plane (a 2-D model: z itself) fitted to the codes.
    """
    start = np.asarray(start, dtype=np.float32)
    problem = runtime.problem()
    if problem:
        return CanvasState(False, problem, start)
    sent_key = f"{key}_sent_model"  # the model this session's browser was sent; it keeps it for the page's life
    sha256 = checkpoint.sha256
    model = {**_model_payload(sha256, checkpoint, codes, labels), "decoder": runtime.decoder(checkpoint)} \
        if st.session_state.get(sent_key) != sha256 else {"sha256": sha256}
    result = _component()(
        key=key,
        data={"model": model, "start": {"id": start_id, "z": start.tolist()},
              "sliders": {"dims": [int(d) for d in dims], "kl": rounded(kl), "limit": limit},
              "decoded_class": int(decoded_class) if checkpoint.config.conditional else None,
              "others": [_other(checkpoint, name, other) for name, other in others], "view": view},
        on_status_change=lambda: None, on_code_change=lambda: None, on_view_change=lambda: None,
        on_model_missing_change=functools.partial(_forget_sent_model, sent_key),
    )
    st.session_state[sent_key] = sha256
    return _state(result, start, start_id)


def _other(checkpoint: Checkpoint, name: str, other: Checkpoint) -> dict:
    fits = (other.config.latent_dim, other.config.image_shape) == (checkpoint.config.latent_dim,
                                                                   checkpoint.config.image_shape)
    if not fits or other.config.conditional:
        raise ValueError(f"{name} cannot decode the same code: another latent size or image shape, or conditional")
    return {"name": name, "decoder": runtime.decoder(other)}


def _state(result, start: np.ndarray, start_id: str) -> CanvasState:
    status = result.get("status") or {}
    code = result.get("code") or {}
    z = np.asarray(code["z"], dtype=np.float32) if code.get("start") == start_id else start
    return CanvasState(status.get("state") == "ready", status.get("reason"), z, result.get("view"))
