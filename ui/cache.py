"""Cached loaders, shared by every session: checkpoints by content, datasets by name and options, and the disk
caches of derived arrays. What is derived from a checkpoint and its dataset (encodings, per-example terms, maps)
is its `ui.model_view.ModelView`'s.

Everything here is read-only once loaded (models in eval mode), so sessions share it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import streamlit as st

from vae_core.checkpoint import Checkpoint, load_checkpoint_bytes
from vae_core.data import Dataset, load_dataset
from vae_core.roots import DataRoots
from vae_core.store import CACHE_ROOT, ArrayStore

CACHE_ENV = "VAE_CACHE_DIR"  # another folder for the disk caches (tests, read-only checkouts)
MAX_DATASETS = 4  # datasets held in memory at once, the largest things the app keeps


def disk_store(kind: str) -> ArrayStore:
    """The disk cache of one kind of derived arrays ("examples", "projections"), under CACHE_ENV or CACHE_ROOT."""
    return ArrayStore(os.path.join(os.environ.get(CACHE_ENV) or CACHE_ROOT, kind))


@st.cache_resource(max_entries=16, show_spinner=False)
def _checkpoint(sha256: str, _data: bytes) -> Checkpoint:
    # Keyed by content only: the bytes themselves are not hashed again by Streamlit (leading underscore).
    return load_checkpoint_bytes(_data)


def checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint file's bytes, loaded and validated once per content; raises VAEError on a bad file."""
    return _checkpoint(hashlib.sha256(data).hexdigest(), data)


@st.cache_resource(max_entries=MAX_DATASETS, show_spinner="Loading dataset...")
def _dataset(name: str, options_json: str, roots_json: str) -> Dataset:
    folders = json.loads(roots_json)
    roots = None if folders is None else DataRoots(tuple(Path(folder) for folder in folders))
    return load_dataset(name, roots=roots, **json.loads(options_json))


def dataset(name: str, options: dict, roots: DataRoots | None = None) -> Dataset:
    """A dataset the user chose by name and options (with `roots`, only inside them); raises VAEError if it
    cannot be loaded."""
    folders = None if roots is None else [str(folder) for folder in roots.folders]
    return _dataset(name, json.dumps(options, sort_keys=True), json.dumps(folders))


def checkpoint_dataset(checkpoint: Checkpoint, roots: DataRoots | None) -> Dataset:
    """The dataset a model was trained on, reloaded the one safe way (`DatasetInfo.loading_options`: a stored
    option never makes the server download, and with `roots` no stored path is followed: it is looked up by name
    inside them); raises VAEError if it cannot be loaded."""
    info = checkpoint.dataset
    return dataset(info.name, info.loading_options(roots=roots), roots)
