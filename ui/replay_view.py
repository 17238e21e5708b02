"""The latent formation replay drawn: played back in the browser once a run has ended (while it trains, the
live view draws the latest frame: ui/components/live_training).

The replay figure carries every frame at once (Plotly frames), so Play and the epoch slider animate in the browser
with no server round trip; a marker on its test-ELBO chart shows which epoch the scatter is at.
"""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from vae_core.replay import FormationReplay, replay_gif

from .widgets import CLASS_COLORS, class_color

FRAME_MS = 400  # per epoch when playing
POINT_SIZE = 4
NO_REPLAY = ("This model has no formation replay: snapshots are taken after each epoch, and none were kept for it "
             "(the shipped models were trained before snapshots existed; a run stopped in its first epoch, or one "
             "with replay points 0, has none either). Train a model on this page to watch its latent space form.")


def _axis_ranges(replay: FormationReplay) -> tuple[list[float], list[float]]:
    """Fixed over all frames (so the motion shows): the central 99% of every frame's points, plus a margin."""
    coords = replay.coords().reshape(-1, 2)
    low, high = np.percentile(coords, [0.5, 99.5], axis=0)
    pad = 0.08 * np.maximum(high - low, 1e-3)
    return [float(low[0] - pad[0]), float(high[0] + pad[0])], [float(low[1] - pad[1]), float(high[1] + pad[1])]


def _points(replay: FormationReplay, frame: int, class_names) -> go.Scatter:
    xy = np.asarray(replay.frames[frame], dtype=np.float32).round(3)
    return go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", showlegend=False, hoverinfo="text",
                      text=[class_names[int(label)] for label in replay.labels],
                      marker={"size": POINT_SIZE, "color": [class_color(int(label)) for label in replay.labels]})


def _legend(class_names) -> list[go.Scatter]:
    """One empty trace per class, so the legend names the colours."""
    return [go.Scatter(x=[None], y=[None], mode="markers", name=name, marker={"color": class_color(i), "size": 8})
            for i, name in enumerate(class_names)]


def _elbo_at(test_rows: list[dict], epoch: int) -> float | None:
    return next((row["elbo"] for row in test_rows if row["epoch"] == epoch), None)


def replay_figure(replay: FormationReplay, class_names, test_rows: list[dict], frame: int = -1,
                  animate: bool = True) -> go.Figure:
    """Test ELBO per epoch (with a marker at the shown epoch) beside the replay's scatter at `frame`; with
    `animate`, every frame is included with Play / Pause and an epoch slider."""
    frame = frame % len(replay.frames)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.42, 0.58], horizontal_spacing=0.1,
                        subplot_titles=("Test ELBO (nats) by epoch", "Test codes (posterior means)"))
    epochs = [row["epoch"] for row in test_rows]
    fig.add_trace(go.Scatter(x=epochs, y=[row["elbo"] for row in test_rows], mode="lines", name="test ELBO",
                             line={"color": CLASS_COLORS[2], "width": 2}, showlegend=False), row=1, col=1)

    def marker(i: int) -> go.Scatter:
        epoch = replay.epochs[i]
        elbo = _elbo_at(test_rows, epoch)
        return go.Scatter(x=[epoch], y=[elbo], mode="markers+text", text=[f"epoch {epoch}"], showlegend=False,
                          textposition="top center", marker={"size": 12, "color": "#d62728", "symbol": "diamond"})

    fig.add_trace(marker(frame), row=1, col=1)  # trace 1
    fig.add_trace(_points(replay, frame, class_names), row=1, col=2)  # trace 2
    for trace in _legend(class_names):
        fig.add_trace(trace, row=1, col=2)
    x_range, y_range = _axis_ranges(replay)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(range=x_range, row=1, col=2)
    fig.update_yaxes(range=y_range, row=1, col=2)
    fig.update_layout(height=460, margin={"t": 60, "b": 40}, legend={"orientation": "v", "x": 1.02, "y": 1})
    if animate and len(replay.frames) > 1:
        _add_animation(fig, replay, class_names, marker, frame)
    return fig


def _add_animation(fig: go.Figure, replay: FormationReplay, class_names, marker, start: int) -> None:
    fig.frames = [go.Frame(name=str(epoch), traces=[1, 2], data=[marker(i), _points(replay, i, class_names)])
                  for i, epoch in enumerate(replay.epochs)]
    play = {"frame": {"duration": FRAME_MS, "redraw": False}, "transition": {"duration": 0}, "fromcurrent": True}
    jump = {"frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}, "mode": "immediate"}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.2, "xanchor": "left",
                      "yanchor": "top", "showactive": False, "pad": {"t": 0, "r": 10},
                      "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ Pause", "method": "animate", "args": [[None], jump]}]}],
        sliders=[{"active": start, "x": 0.2, "len": 0.8, "y": -0.14, "currentvalue": {"prefix": "epoch "},
                  "pad": {"t": 0},
                  "steps": [{"label": str(epoch), "method": "animate", "args": [[str(epoch)], jump]}
                            for epoch in replay.epochs]}],
        height=560, margin={"t": 60, "b": 140},
    )


@st.cache_data(max_entries=4, show_spinner="Drawing the GIF...")
def _gif(fingerprint: str, _replay: FormationReplay) -> bytes:
    return replay_gif(_replay, CLASS_COLORS, frame_ms=FRAME_MS)


def _fingerprint(replay: FormationReplay) -> str:
    digest = hashlib.sha256(np.asarray(replay.epochs).tobytes())
    for frame in replay.frames:
        digest.update(frame.tobytes())
    return digest.hexdigest()


def replay_view(replay: FormationReplay | None, class_names, test_rows: list[dict], key: str) -> None:
    """Play / scrub the replay in the browser, and download it as an animated GIF."""
    if replay is None or not replay.frames:
        st.info(NO_REPLAY)
        return
    st.plotly_chart(replay_figure(replay, class_names, test_rows, frame=0), key=f"{key}_figure")  # plays from 1
    st.caption(f"{len(replay.frames)} snapshots of the same {len(replay.indices):,} test codes (a class-balanced "
               f"subsample), after each epoch; axes: {replay.axes()}. Press Play or drag the epoch slider: the "
               "diamond marks the epoch on the ELBO curve.")
    fingerprint = _fingerprint(replay)
    # Drawn on request: about 40 ms a frame, so seconds for a long run, which every rerun of the page would wait for.
    if st.button("Export the replay as an animated GIF", key=f"{key}_make_gif"):
        st.session_state[f"{key}_gif_of"] = fingerprint
    if st.session_state.get(f"{key}_gif_of") == fingerprint:
        st.download_button(f"Download the GIF ({len(replay.frames)} frames, one per snapshot)",
                           _gif(fingerprint, replay), file_name="latent-formation.gif", mime="image/gif",
                           key=f"{key}_gif")
