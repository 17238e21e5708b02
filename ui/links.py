"""The view in the URL (st.query_params): a copied link opens the same model, page and view in a fresh session of
the same server.

The page is the URL's path (st.navigation). The query holds the model, `model` (its picker name) and `sha` (the
first HASH_CHARS hex digits of its file's sha256), and each page's own view: the sliders page's `z` and `pad` (the
pad's plane and the square it shows); the scatter page's `split`, `projection`, `dims`, `colour`, `sel` (the
selection's example ids) and `zoom` (the view's centre and zoom); the Interpolation page's `ends` (two example ids)
or `codes` (two codes) and `steps`; the Directions page's `from` and `to` (two classes) or `groups` with `sel`
(group A) and `sel_b`, its `start` and `amount`; the Prior page's `plane`; the Theory page's `d1` and `d2` (the
weights typed) and `example`; the Compare page's `models` (picker names). A page writes its view on every run (a
page switch drops the query string), so the address bar follows the user's work.

A link is applied once per session: `open_linked_model` (before the sidebar picker) finds the model by its hash
among this server's checkpoints, or says that the server does not have it (an upload is not kept) and keeps the
current model; only a found model's view is handed to the page (`linked`), once per parameter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from vae_core.errors import VAEError
from vae_core.projection import ProjectionParams

from . import state, workspace
from .navigation import PAGES
from .session_keys import LINK_APPLIED, LINK_VIEW

MODEL_PARAM, HASH_PARAM = "model", "sha"
HASH_CHARS = 16  # 64 bits of the sha256: enough to tell a server's checkpoints apart
VIEW_PARAMS = ("z", "split", "projection", "dims", "colour", "sel",  # every page's; a page writes its own
               "zoom", "ends", "codes", "steps", "from", "to", "groups", "sel_b", "start", "amount", "plane", "pad",
               "d1", "d2", "example", "models")
MAX_LINKED_IDS = 500  # a larger selection does not fit a URL: the link then leaves it out and says so


def open_linked_model() -> None:
    """Apply the URL's model once per session (a new link is a new one); the page then takes its view (`linked`)."""
    name, sha = st.query_params.get(MODEL_PARAM), st.query_params.get(HASH_PARAM)
    if not name or not sha or st.session_state.get(LINK_APPLIED) == (name, sha):
        return
    st.session_state[LINK_APPLIED] = (name, sha)
    st.session_state.pop(LINK_VIEW, None)
    if not re.fullmatch(f"[0-9a-f]{{{HASH_CHARS},64}}", sha):  # a short prefix would match some file by chance
        state.flash("warning", f"This link's model hash is not one this app writes ({HASH_CHARS} to 64 hex "
                               "characters): the page shows the current model.")
        return
    current = state.current_model()
    if current is None or not current.sha256.startswith(sha):
        found = _checkpoint_with_hash(sha)
        if found is None:
            shown = f"; the page shows {current.name} instead" if current else ""
            state.flash("warning", f"This link's model, {name} (sha256 {sha}...), is not on this server (an uploaded "
                                   f"model is not kept){shown}. Upload {name} in the sidebar and open the link again.")
            return
        state.set_current_model(*found, trusted=True)
    st.session_state[LINK_VIEW] = {"sha": sha, **{key: st.query_params[key] for key in VIEW_PARAMS
                                                  if key in st.query_params}}


def _checkpoint_with_hash(sha: str) -> tuple[str, bytes] | None:
    for path in [*workspace.checkpoint_files(), *workspace.autosaves()]:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest().startswith(sha):
            return workspace.checkpoint_name(path), data
    return None


def linked(sha256: str, key: str) -> str | None:
    """The link's value of view parameter `key` for the model `sha256`, once (None if there is none)."""
    view = st.session_state.get(LINK_VIEW)
    if view is None or not sha256.startswith(view["sha"]):
        return None
    return view.pop(key, None)


def linked_code(sha256: str, latent_dim: int) -> np.ndarray | None:
    """The link's code z (latent_dim,), once; None without one or when it does not fit the model."""
    values = floats_param(linked(sha256, "z"), latent_dim)
    return None if values is None else np.array(values, dtype=np.float32)


def linked_ids(sha256: str, ids: tuple[str, ...], key: str = "sel") -> list[int] | None:
    """The link's selection (or other list of examples, `key`) as indices of the split whose example ids are
    `ids`, once (unknown ids dropped)."""
    text = linked(sha256, key)
    if text is None:
        return None
    position = {example_id: i for i, example_id in enumerate(ids)}
    return [position[i] for i in text.split(",") if i in position]


def floats_param(text: str | None, count: int, low: float = -np.inf, high: float = np.inf) -> list[float] | None:
    """`count` comma-separated finite numbers in [low, high] from a link, or None."""
    try:
        values = [float(v) for v in text.split(",")] if text else []
    except ValueError:
        return None
    fits = len(values) == count and all(np.isfinite(v) and low <= v <= high for v in values)
    return values if fits else None


def projection_param(params: ProjectionParams) -> str:
    """The projection and the parameters its map depends on, as compact JSON."""
    fields = {"direct": ("dims",), "pca": (), "tsne": ("perplexity", "seed", "max_points"),
              "umap": ("n_neighbors", "min_dist", "seed", "max_points")}[params.method]
    values = {"method": params.method, **{name: getattr(params, name) for name in fields}}
    return json.dumps(values, separators=(",", ":"))


def linked_projection(sha256: str) -> ProjectionParams | None:
    """The link's projection, once; None without one or when it is not a valid one."""
    text = linked(sha256, "projection")
    try:
        values = json.loads(text) if text else None
        known = {field.name for field in dataclasses.fields(ProjectionParams)}
        return ProjectionParams(**{k: v for k, v in values.items() if k in known}) if values else None
    except (ValueError, TypeError, AttributeError, VAEError):
        return None


def show_model() -> dict[str, str]:
    """Write the current model into the URL (every page's address names it); returns those parameters."""
    model = state.current_model()
    params = {MODEL_PARAM: model.name, HASH_PARAM: model.sha256[:HASH_CHARS]} if model else {}
    if model:  # the session's own address is not a link to apply on the next run
        st.session_state[LINK_APPLIED] = (params[MODEL_PARAM], params[HASH_PARAM])
    _write(params)
    return params


def show(page: str, **view: str | None) -> str:
    """Write the current model and this page's `view` into the URL (None leaves a parameter out); returns the
    link (absolute where the browser told the server its address)."""
    params = {**show_model(), **{key: value for key, value in view.items() if value is not None}}
    for key in VIEW_PARAMS:
        if key not in params and key in st.query_params:
            del st.query_params[key]
    _write(params)
    return f"{_app_url()}/{page}?{urlencode(dict(st.query_params))}"


def _app_url() -> str:
    """The app's address in the browser, without the page (st.context.url may end with the page's path)."""
    base = (st.context.url or "").rstrip("/")
    head, _, last = base.rpartition("/")
    return head if last in {Path(path).stem for path, _, _ in PAGES} else base


def _write(params: dict[str, str]) -> None:
    for key, value in params.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def code_param(z) -> str:
    return ",".join(f"{v:.4f}" for v in np.asarray(z, dtype=np.float64))


def ids_param(ids: list[str]) -> str | None:
    """The selection's ids for the URL, or None when there are too many for one."""
    return ",".join(ids) if len(ids) <= MAX_LINKED_IDS else None


def copy_link(link: str, key: str, note: str = "") -> None:
    """A "Copy link" popover: the link in a code block, whose button copies it."""
    with st.popover("Copy link", icon=":material/link:", key=key):
        st.caption("Opens this view (model, page and what you set here) on this server." + note)
        st.code(link, language=None, wrap_lines=True)
