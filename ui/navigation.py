"""Routing: the page list, `st.navigation` with the sidebar, and the header every page opens with.

Streamlit still has its legacy multipage mode: until some session has called `st.navigation`, a server whose
entry script sits beside a `pages/` folder serves that folder's files as an automatic page list, and runs a
deep-linked page (`/sliders`) by itself, without the entry script. Our pages live in `pages/` (the project's
layout), so every page opens with `page_header`, which routes through `route()` when the page was not reached
through it: the session then gets the app's own navigation and sidebar, on the page it asked for.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from .model_view import ModelView

ICON_URL = "/app/static/icon.png"  # static/icon.png, a static file of ours: no font CDN, no media file per view

PAGES = [
    ("pages/home.py", "Overview", ":material/home:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/scatter.py", "Latent scatter", ":material/scatter_plot:"),
    ("pages/interpolate.py", "Interpolation", ":material/linear_scale:"),
    ("pages/directions.py", "Directions", ":material/arrow_outward:"),
    ("pages/prior.py", "Prior and holes", ":material/blur_circular:"),
    ("pages/theory.py", "Theory: KL & ELBO", ":material/functions:"),
]

_routing = threading.local()  # each session's script runs in its own thread


def route() -> None:
    """The app's navigation and sidebar, then the page the URL names (app.py calls this and nothing else)."""
    st.set_page_config(page_title="VAE Latent Explorer", page_icon=ICON_URL, layout="wide")
    # st.navigation first, before the heavy imports below: it is what ends legacy mode for every later session.
    navigation = st.navigation([st.Page(path, title=title, icon=icon, default=i == 0)
                                for i, (path, title, icon) in enumerate(PAGES)])
    from . import jobs, picker  # torch and vae_core load here

    picker.model_picker()
    jobs.sidebar_status()
    _routing.active = True
    try:
        navigation.run()
    finally:
        _routing.active = False


def page_header(title: str, caption: str) -> None:
    """Title and caption of a page; first makes sure the page runs inside the app's navigation."""
    if not getattr(_routing, "active", False):
        route()  # legacy mode ran this page file alone: run it again, routed, and end this bare run
        st.stop()
    from .state import show_flash

    st.title(title)
    st.caption(caption)
    show_flash()


def page_intro(title: str, caption: str) -> ModelView:
    """The header of a page that explores the current model; returns its view (stopping the page with a message
    when its dataset cannot be loaded)."""
    from . import model_view

    page_header(title, caption)
    return model_view.current_or_stop()
