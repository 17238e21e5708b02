"""The class a conditional model's decoder is given on the pages that decode codes they did not encode.

A conditional VAE decodes z together with a class (style in z, content in the class), so a page decoding a path,
a direction or prior samples asks which class to draw; an unconditional model asks nothing.
"""

from __future__ import annotations

import streamlit as st
import torch

from vae_core.checkpoint import Checkpoint


def decoding_class_ui(checkpoint: Checkpoint, class_names: tuple[str, ...], key: str, default: int = 0) -> int | None:
    """For a conditional model, the class to decode as (a selectbox keyed `key`); None for an unconditional one."""
    if not checkpoint.config.conditional:
        return None
    return st.selectbox("Decode as class (a conditional model: z is the style, the class the content)",
                        range(len(class_names)), index=min(default, len(class_names) - 1),
                        format_func=lambda c: class_names[c], key=key)


def class_labels(decoding_class: int | None, n: int) -> torch.Tensor | None:
    """Labels (n,) all `decoding_class`, for decode/encode calls; None (no labels) for an unconditional model."""
    return None if decoding_class is None else torch.full((n,), decoding_class, dtype=torch.long)
