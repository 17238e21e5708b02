"""Test-only app: the latent canvas alone, on the checkpoint file named by ?checkpoint=PATH (and, decoding the same
code beside it, the files named by ?others=PATH,PATH,...).

tests/test_browser_canvas.py serves it (beside a link to static/) to drive the component with real pointer
events on any model, MLP or conv, without the rest of the app. It shows what Python received on release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from ui import cache, model_view
from ui.components.latent_canvas import latent_canvas

LIMIT = 3.0


def main() -> None:
    st.title("Latent canvas (test app)")
    checkpoint = cache.checkpoint(Path(st.query_params["checkpoint"]).read_bytes())
    others = [path for path in st.query_params.get("others", "").split(",") if path]
    others = [(f"{i}: {Path(path).stem}", cache.checkpoint(Path(path).read_bytes())) for i, path in enumerate(others)]
    view = model_view.of(checkpoint, None)  # a test's own file: its dataset as the file records it
    mu, _ = view.encodings()
    activity = view.activity
    state = latent_canvas(checkpoint, mu, view.labels(), start=np.zeros(checkpoint.config.latent_dim),
                          start_id="zero", dims=activity.most_active_first, kl=activity.kl, limit=LIMIT,
                          others=others)
    st.markdown(f"ready: `{state.ready}` · problem: `{state.problem}`")
    st.markdown("code received on release: `" + ",".join(f"{v:.6f}" for v in state.z) + "`")


main()
