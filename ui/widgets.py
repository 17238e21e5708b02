"""What pages draw the same way: model images, the class palette, the latent scatter figure (the Interpolation
page's paths), a short model description."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from vae_core.checkpoint import Checkpoint
from vae_core.images import CLASS_COLORS, class_color, png_bytes, to_uint8, upscale  # noqa: F401 (the palette)


def describe(checkpoint: Checkpoint) -> str:
    elbo = checkpoint.test_elbo
    elbo_text = f"test ELBO {elbo:.1f}" if elbo is not None else "untrained"
    return (f"{checkpoint.dataset.name} · {checkpoint.config.latent_dim}-D {checkpoint.config.architecture} · "
            f"{checkpoint.epoch} epochs · {elbo_text}")


def png_url(picture: np.ndarray) -> str:
    """A uint8 picture (H, W[, 3]) as a PNG data URL.

    Inline data, not Streamlit media files: a media file is dropped when the next run replaces it, and a browser
    that had not fetched it yet (a busy server, a polling fragment) showed a broken image (HTTP 404).
    """
    return f"data:image/png;base64,{base64.b64encode(png_bytes(picture)).decode()}"


def image_urls(images, size: int) -> list[str]:
    """Model images (N, C, H, W) in [0, 1] as PNG data URLs, upscaled crisply (nearest neighbour)."""
    return [png_url(upscale(img, size)) for img in to_uint8(images)]


def show_picture(picture: np.ndarray, caption: str | None = None) -> None:
    """A uint8 picture (a tiled grid, a strip) drawn at its own size."""
    st.image(png_url(picture), caption=caption, width=picture.shape[1])


def show_images(images, captions=None, size: int = 160) -> None:
    """Show model images (N, C, H, W) in [0, 1] in one row (PNG: JPEG would blur the pixel edges)."""
    st.image(image_urls(images, size), caption=captions, width=size)


def image_rows(rows: dict[str, object], captions: list[str] | None = None, size: int = 96) -> None:
    """Rows of images that line up column by column, each row named on its left (e.g. images above their
    reconstructions), drawn as a grid so that a narrow page scrolls instead of wrapping."""
    names = list(rows)
    urls = {name: image_urls(rows[name], size) for name in names}
    head = "".join(f"<td style='text-align:center;font-size:0.8em'>{c}</td>" for c in captions) if captions else ""
    body = "".join(
        f"<tr><th style='text-align:right;font-weight:normal;font-size:0.85em;padding-right:8px'>{name}</th>"
        + "".join(f"<td><img src='{url}' width='{size}' height='{size}' style='image-rendering:pixelated'></td>"
                  for url in urls[name]) + "</tr>" for name in names)
    caption_row = f"<tr><th></th>{head}</tr>" if head else ""
    st.html(f"<div style='overflow-x:auto'><table style='border-collapse:collapse'>{body}{caption_row}</table></div>")


def latent_scatter_figure(coords: np.ndarray, indices: np.ndarray, labels: np.ndarray,
                          class_names: tuple[str, ...], marker_size: int = 5, opacity: float = 0.8) -> go.Figure:
    """WebGL scatter of 2-D points (M, 2), one trace per class so the legend toggles classes.

    Each point carries its dataset index as customdata, so hover and selections name dataset rows.
    """
    figure = go.Figure()
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        name = class_names[label] if label < len(class_names) else str(label)
        figure.add_trace(go.Scattergl(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=name, customdata=indices[rows],
            marker={"color": class_color(int(label)), "size": marker_size, "opacity": opacity},
            hovertemplate=f"label <b>{name}</b><br>index %{{customdata}}<extra></extra>",
        ))
    # Streamlit's chart forces clickmode "event" (a click selects nothing) while the drag mode is box or lasso
    # select, so dragging zooms by default and box / lasso are one click away in the chart's toolbar.
    figure.update_layout(height=560, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="label",
                         dragmode="zoom", clickmode="event+select")
    return figure
