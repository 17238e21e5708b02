"""Files the browser components fetch from Streamlit's static serving (static/, served at /app/static/).

`publish(data, suffix)` writes static/cache/<sha256 of data><suffix> once (atomically; the name is the content, so
a file never changes and a browser may keep it) and returns its URL; big arrays, a dataset's images and decoders
go this way instead of riding in a component's data on every rerun (`publish_as` names a file by what it is made
from, to skip making it again). static/cache/ is git-ignored, safe to delete.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable

import numpy as np
import streamlit as st

from vae_core.files import write_atomically
from vae_core.paths import install_home

STATIC_DIR = install_home() / "static"  # next to app.py: served at /app/static/ (server.enableStaticServing)
CACHE_DIR = STATIC_DIR / "cache"  # git-ignored; files are immutable (named by what they hold), safe to delete


def static_url(*parts: str) -> str:
    """The URL path of static/<parts...> (under the server's base URL path)."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return "/" + "/".join(filter(None, [base, "app", "static", *parts]))


def publish(data: bytes, suffix: str, compress: bool = False) -> str:
    """The URL of static/cache/<sha256 of data><suffix>, written first (atomically) if it is not there yet."""
    return publish_as(hashlib.sha256(data).hexdigest()[:24] + suffix, lambda: data, compress)


def publish_as(name: str, make: Callable[[], bytes], compress: bool = False) -> str:
    """The URL of static/cache/<name>, written first (atomically) with `make()` if it is not there yet. The name
    must say what the file holds (its content's hash, or all it is made from), so that the file never changes."""
    path = CACHE_DIR / name
    if not path.is_file():
        data = make()
        write_atomically(path, gzip.compress(data, compresslevel=1) if compress else data)
    return static_url("cache", name)


def publish_array(values: np.ndarray, dtype) -> str:
    """A numeric array as raw little-endian values (what the browser reads as a typed array)."""
    return publish(np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes(), ".bin")
