"""Test-only app: the draw pad alone, on the checkpoint file named by ?checkpoint=PATH.

tests/test_browser_encode.py serves it (beside a link to static/) to drive the component with real pointer events on
any model, a conditional one included, without the rest of the app.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import cache, model_view
from ui.components.draw_pad import draw_pad


def main() -> None:
    st.title("Draw pad (test app)")
    checkpoint = cache.checkpoint(Path(st.query_params["checkpoint"]).read_bytes())
    view = model_view.of(checkpoint, None)  # a test's own file: its dataset as the file records it
    mu, _ = view.encodings()
    state = draw_pad(checkpoint, mu, view.labels(), view.dataset.split("test").x, view.activity.kl)
    st.markdown(f"ready: `{state.ready}` · problem: `{state.problem}`")


main()
