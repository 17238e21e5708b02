"""What a visitor takes out of the tab: the current view as a standalone web page (vae_core.standalone)."""

from __future__ import annotations

import copy
from pathlib import Path

import streamlit as st

from vae_core.standalone import standalone_page

from . import jobs
from .model_view import ModelView

WEB_PAGE_HELP = ("One .html file that opens from disk with no server and no network: the latent pad and sliders "
                 "decoding in the page, the test codes with hover thumbnails, and the model's card. Mail it.")


def _web_page(view: ModelView, title: str) -> bytes:
    """The page, built in a queued worker (encoding is done; the decoder's export and compressing ~15 MB of
    runtime and thumbnails take seconds)."""
    test = view.dataset.split("test")
    page = jobs.run_in_worker("Building the web page", standalone_page, copy.deepcopy(view.checkpoint), test.x,
                              test.y, title=title, encodings=view.encodings("test"))
    return page.html


def web_page_download(view: ModelView, key: str) -> None:
    """A "Download this view as a web page" button; the page is built when it is pressed."""
    name = Path(view.checkpoint.dataset.name).name + f"-{view.sha256[:8]}"
    st.download_button("Download this view as a web page", lambda: _web_page(view, name), f"{name}.html",
                       "text/html", key=key, help=WEB_PAGE_HELP)
