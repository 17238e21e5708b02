"""The in-page model runtime: onnxruntime-web (WebAssembly, vendored under static/) and the models it runs.

Every component that runs a model in the browser gets its model here, as a spec that shared/model_client.js loads:
{"runtime": the runtime module's URL, "url": the model's ONNX file (a static file named by all it is made from,
so the URL names the graph and a page loads it once), and the graph's input and output names}: a checkpoint's
`decoder` or `encoder`. When the runtime cannot be served, `problem()` says why and the page decodes on the server
instead.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import streamlit as st
import torch

from ui.components.static_files import STATIC_DIR, publish_as, static_url
from vae_core import export
from vae_core.checkpoint import Checkpoint
from vae_core.export import graph_names, onnx_bytes
from vae_core.standalone import ORT_WEB_DIR, ORT_WEB_FILES

RUNTIME_DIR, RUNTIME_FILES = ORT_WEB_DIR, ORT_WEB_FILES  # one home, shared with the standalone page


def problem() -> str | None:
    """Why the vendored runtime cannot be served, if it cannot (then the page falls back to server decoding)."""
    if not st.get_option("server.enableStaticServing"):
        return "static file serving is off (server.enableStaticServing in .streamlit/config.toml)"
    missing = [name for name in RUNTIME_FILES if not (STATIC_DIR / RUNTIME_DIR / name).is_file()]
    return f"the runtime files are missing from static/{RUNTIME_DIR}: {', '.join(missing)}" if missing else None


def runtime_url() -> str:
    return static_url(RUNTIME_DIR, RUNTIME_FILES[0])


@functools.cache
def _exporter_id() -> str:
    """Names what makes a graph besides the checkpoint: torch and vae_core/export.py (an export takes seconds)."""
    return hashlib.sha256(torch.__version__.encode() + Path(export.__file__).read_bytes()).hexdigest()[:12]


@st.cache_resource(max_entries=8, show_spinner="Exporting the model for the browser...")
def _graph_url(sha256: str, part: str, _checkpoint: Checkpoint) -> str:
    """The file of the checkpoint's `part` (decoder or encoder), named by the checkpoint, the part and the exporter:
    exported once, even across server restarts."""
    return publish_as(f"{part}-{sha256[:24]}-{_exporter_id()}.onnx", lambda: onnx_bytes(_checkpoint.model, part))


def decoder(checkpoint: Checkpoint) -> dict:
    """The checkpoint's decoder for model_client.js: {"runtime", "url", and its graph's names (vae_core.export.
    graph_names): "input" the codes, "class_input" a conditional model's class input (its graph decodes every
    class; None for an unconditional model), "output" the mean images, "outputs" the mean images, then the logits}."""
    return _spec(checkpoint, "decoder")


def encoder(checkpoint: Checkpoint) -> dict:
    """The checkpoint's encoder for model_client.js, as `decoder`: "input" the images (batch, C, H, W) in [0, 1],
    "output" mu and "outputs" mu, logvar (batch, D)."""
    return _spec(checkpoint, "encoder")


def _spec(checkpoint: Checkpoint, part: str) -> dict:
    return {"runtime": runtime_url(), "url": _graph_url(checkpoint.sha256, part, checkpoint),
            **graph_names(part, checkpoint.config.conditional)}
