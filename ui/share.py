"""What a visitor takes out of the tab: the current view as a standalone web page (vae_core.standalone), a
selection of examples as CSV or Parquet (vae_core.selection)."""

from __future__ import annotations

import copy
from pathlib import Path

import streamlit as st

from vae_core.selection import Selection, selection_csv, selection_parquet
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


def _selection(view: ModelView, split: str, selected: list[int]) -> Selection:
    examples = view.dataset.split(split)
    mu, logvar = view.encodings(split)
    return Selection.of(split, selected, examples.ids, examples.y.numpy(), view.dataset.class_names, mu, logvar,
                        view.terms(split))


def selection_downloads(view: ModelView, split: str, selected: list[int]) -> None:
    """Download buttons for the selected examples of `split` (CSV and Parquet; `vae_core.selection` reads them
    back): ids, labels, posterior mu and sigma, recon / KL / ELBO per example."""
    name = f"{Path(view.checkpoint.dataset.name).name}-{split}-selection"
    what = "example ids, labels, mu, sigma and recon / KL / ELBO per example"
    csv_col, parquet_col = st.columns(2)
    csv_col.download_button(f"Download the {len(selected):,} selected (CSV)",
                            lambda: selection_csv(_selection(view, split, selected)), f"{name}.csv", "text/csv",
                            key="scatter_selection_csv", help=f"{what}; vae_core.selection.load_selection reads it")
    parquet_col.download_button(f"Download the {len(selected):,} selected (Parquet)",
                                lambda: selection_parquet(_selection(view, split, selected)), f"{name}.parquet",
                                "application/vnd.apache.parquet", key="scatter_selection_parquet",
                                help=f"{what}; vae_core.selection.load_selection reads it (so do pandas and polars)")
