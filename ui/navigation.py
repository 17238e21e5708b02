"""Routing: the page list, `st.navigation` with the sidebar, and the header every page opens with.

Why every page routes itself (Streamlit 1.67, streamlit/runtime/pages_manager.py and scriptrunner/script_runner.py):
the first session of a server process sets the process-wide flag `PagesManager.uses_pages_directory` to whether a
`pages/` folder sits beside the entry script, and while it is set the script runner does not run app.py: its
`_mpa_v1` builds an automatic page list from pages/*.py and runs the page the URL names (`/sliders`) by itself.
Only a call to `st.navigation` clears the flag, for every later session. AppTest sets the flag again at every
run, so there every run of a page starts in that mode. Our pages live in `pages/` (the project's layout), so
`page_header` routes through `route()` when the page was not reached through it (the session then gets the app's
own navigation and sidebar, on the page it asked for) and ends the bare run; tests/test_app_shell.py shows what
a page gets without it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from .model_view import ModelView

ICON_URL = "/app/static/icon.png"  # static/icon.png, a static file of ours: no font CDN, no media file per view

PAGES = [
    ("pages/home.py", "Overview", ":material/home:"),
    (TRAIN_PAGE := "pages/train.py", "Train", ":material/model_training:"),
    ("pages/sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/scatter.py", "Latent scatter", ":material/scatter_plot:"),
    ("pages/interpolate.py", "Interpolation", ":material/linear_scale:"),
    ("pages/encode.py", "Encode a drawing", ":material/draw:"),
    ("pages/directions.py", "Directions", ":material/arrow_outward:"),
    ("pages/prior.py", "Prior and holes", ":material/blur_circular:"),
    ("pages/compare.py", "Compare models", ":material/compare:"),
    ("pages/theory.py", "Theory: KL & ELBO", ":material/functions:"),
]

_routing = threading.local()  # each session's script runs in its own thread


def route() -> None:
    """The app's navigation and sidebar, then the page the URL names (app.py calls this and nothing else)."""
    st.set_page_config(page_title="VAE Latent Explorer", page_icon=ICON_URL, layout="wide")
    # st.navigation first, before the heavy imports below: it is what ends legacy mode for every later session.
    navigation = st.navigation([st.Page(path, title=title, icon=icon, default=i == 0)
                                for i, (path, title, icon) in enumerate(PAGES)])
    from . import jobs, links, picker, projections  # torch and vae_core load here

    jobs.prepare_workers()
    projections.warm_up_maps()
    links.open_linked_model()
    picker.model_picker()
    links.show_model()
    if navigation.url_path != Path(TRAIN_PAGE).stem:  # the Train page shows the run itself
        jobs.sidebar_status()
    jobs.sweep_keep_alive()
    _routing.active = True
    try:
        navigation.run()
    finally:
        _routing.active = False


def page_header(title: str, caption: str) -> None:
    """Title and caption of a page; first makes sure the page runs inside the app's navigation."""
    if not getattr(_routing, "active", False):  # legacy pages/ mode ran this page file alone (see the top)
        route()
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
