"""Files the browser components fetch from Streamlit's static serving (static/, served at /app/static/).

`publish(data, suffix)` writes static/cache/<sha256 of data><suffix> once (atomically; the name is the content, so
a file never changes and a browser may keep it) and returns its URL; big arrays, a dataset's images and decoders
go this way instead of riding in a component's data on every rerun. static/cache/ is git-ignored, safe to delete.
`decoder_file(checkpoint)`: what decoder.js needs to decode a checkpoint's codes (its sha256, graph URL, names).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

from ui.components.latent_canvas import STATIC_DIR, decoder_names
from vae_core.checkpoint import Checkpoint
from vae_core.export import decoder_onnx_bytes

CACHE_DIR = STATIC_DIR / "cache"  # git-ignored; files are immutable (named by content), safe to delete


def cache_url(name: str) -> str:
    base = st.get_option("server.baseUrlPath").strip("/")
    return "/" + "/".join(filter(None, [base, "app", "static", "cache", name]))


def publish(data: bytes, suffix: str, compress: bool = False) -> str:
    """The URL of static/cache/<sha256 of data><suffix>, written first (atomically) if it is not there yet."""
    name = hashlib.sha256(data).hexdigest()[:24] + suffix
    path = CACHE_DIR / name
    if not path.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(gzip.compress(data, compresslevel=1) if compress else data)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; it is a public static file
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return cache_url(name)


def publish_array(values: np.ndarray, dtype) -> str:
    """A numeric array as raw little-endian values (what the browser reads as a typed array)."""
    return publish(np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes(), ".bin")


@st.cache_resource(max_entries=8, show_spinner="Exporting the decoder for the browser...")
def _decoder_url(sha256: str, _checkpoint: Checkpoint) -> str:
    return publish(decoder_onnx_bytes(_checkpoint.model), ".onnx")


def decoder_file(checkpoint: Checkpoint) -> dict:
    """decoder.js's view of a checkpoint's decoder: {"sha256", "url" of its ONNX graph, "input", "class_input",
    "output"} (the graph's names, `decoder_names`)."""
    return {"sha256": checkpoint.sha256, "url": _decoder_url(checkpoint.sha256, checkpoint),
            **decoder_names(checkpoint.config)}
