"""Hovering a model on the Compare page's rate-distortion plane highlights its views (see hover.js): a script with
nothing to draw, told the keys of the page's elements it links."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import streamlit as st

from ui.components import script


@functools.cache
def _component():
    return st.components.v2.component("model_hover", js=script("model_hover/hover.js"))


def model_hover(*, plane: str, bars: str, maps: str, pad: str, colors: Sequence[str], key: str) -> None:
    """Link the charts keyed `plane` (its model traces carry meta = the model's index) and `bars` (the same), the
    maps' chart `maps` (subplot i is model i) and the latent canvas `pad` (image i is model i), for len(colors)
    models."""
    _component()(key=key, data={"plane": plane, "bars": bars, "maps": maps, "pad": pad, "colors": list(colors)})
