"""The draw pad: the user draws (or drops an image, or starts from a dataset example) and, at every stroke move,
the browser encodes the drawing and shows its posterior q(z|x) on the latent pad, a sample and the mean decoded,
its ELBO terms and its nearest test examples (draw.js; the encoder and decoder run in the page,
ui/components/runtime.py). This wrapper is the only place that knows what draw.js reads (`data`) and sends back:

  data.model   {"sha256", "latent_dim", "image_shape" (C, H, W), "likelihood" and "gaussian_std" (as
               vae_core.loss computes log p(x|z)), "kl": per dimension (the pad's two most active are its default
               axes), "names" and "colors" per class, "encoder" and "decoder" (`runtime.encoder` / `.decoder`),
               "points": {"count": N, "codes": URL of float32 (N, D) posterior means, "labels": URL of int32
               (N,), "images": URL of uint8 (N, H, W[, 3]), gunzipped if it ends in .gz}: here a subsample of the
               test split}, built by vae_core.standalone.draw_pad_model (the standalone page's draw pad too)
  state status {"state": "ready"} or {"state": "error", "reason": why the browser cannot encode}
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from ui.components import runtime, script, style
from ui.components.static_files import publish, publish_array
from vae_core.checkpoint import Checkpoint
from vae_core.images import to_uint8
from vae_core.standalone import draw_pad_model

HERE = Path(__file__).resolve().parent
MAX_POINTS = 2000  # test examples in the browser: drawn on the pad, searched for neighbours, shown as thumbnails


@dataclass(frozen=True)
class DrawPadState:
    ready: bool  # the browser encodes and decodes as the user draws
    problem: str | None  # why it does not (None while it is still starting)


@functools.cache
def _component():
    read = lambda name: (HERE / name).read_text()  # noqa: E731
    return st.components.v2.component("draw_pad", html=read("draw.html"), css=style("draw_pad/draw.css"),
                                      js=script("draw_pad/draw.js"))


@st.cache_data(max_entries=4, show_spinner="Writing the test examples for the browser...")
def _points(sha256: str, _codes: np.ndarray, _labels: np.ndarray, _images: torch.Tensor) -> dict:
    """The shown subsample of the test split (the same for a model every time) as static files."""
    shown = np.sort(np.random.default_rng(0).permutation(len(_codes))[:MAX_POINTS])
    return {"count": len(shown), "codes": publish_array(_codes[shown], np.float32),
            "labels": publish_array(_labels[shown], np.int32),
            "images": publish(to_uint8(_images[torch.from_numpy(shown)]).tobytes(), ".u8.gz", compress=True)}


def draw_pad(checkpoint: Checkpoint, codes: np.ndarray, labels: np.ndarray, images: torch.Tensor, kl: np.ndarray,
             key: str = "encode_draw_pad") -> DrawPadState:
    """Mount the draw pad for `checkpoint` over the test split: `codes` (N, D) its posterior means, `labels` (N,),
    `images` (N, C, H, W) in [0, 1]; `kl` (D,) each dimension's mean KL (the pad's default axes are the largest)."""
    problem = runtime.problem()
    if problem:
        return DrawPadState(False, problem)
    model = draw_pad_model(checkpoint, kl, encoder=runtime.encoder(checkpoint), decoder=runtime.decoder(checkpoint),
                           points=_points(checkpoint.sha256, codes, labels, images))
    result = _component()(key=key, data={"model": model}, on_status_change=lambda: None)
    status = result.get("status") or {}
    return DrawPadState(status.get("state") == "ready", status.get("reason"))
