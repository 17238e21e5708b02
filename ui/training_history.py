"""A run's training history drawn: the ELBO's two terms per step (train) and per epoch (test).

While a run trains, ui/components/live_training draws it in the browser, updated in place each poll; once it has
ended, `history_figure` draws it as a Plotly chart (zoom, hover, export). Both read SERIES and thin the train rows
to MAX_CHART_POINTS.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.background import Progress

from .widgets import CLASS_COLORS

MAX_CHART_POINTS = 600  # per train series; long runs are thinned, so each poll stays a small message and SVG
# lines draw everywhere (a WebGL trace needs one of the browser's few WebGL contexts, and headless has none)
# (row key, panel (1: top, 2: bottom), colour): recon and ELBO share the top panel; KL (~100x smaller) is below.
SERIES = [("recon", 1, CLASS_COLORS[0]), ("elbo", 1, CLASS_COLORS[2]), ("kl", 2, CLASS_COLORS[1])]
PANEL_TITLES = ("Reconstruction E[log p(x|z)] and ELBO (nats)", "KL(q(z|x) || p(z)) (nats)")


def history_figure(progress: Progress) -> go.Figure:
    """Recon and ELBO on top, KL below: train per step (thin), test per epoch (bold)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.6, 0.4],
                        subplot_titles=PANEL_TITLES)
    train = progress.train_points(MAX_CHART_POINTS)
    for key, row, color in SERIES:
        fig.add_trace(go.Scatter(x=[r["step"] for r in train], y=[r[key] for r in train], name=f"train {key}",
                                   mode="lines", line={"color": color, "width": 1}, opacity=0.5), row=row, col=1)
        fig.add_trace(go.Scatter(x=[r["step"] for r in progress.test], y=[r[key] for r in progress.test],
                                 name=f"test {key}", mode="lines+markers", line={"color": color, "width": 3}),
                      row=row, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    # The legend sits above the plots: below them it covered the "step" axis title.
    fig.update_layout(height=480, margin={"t": 70, "b": 40}, uirevision="train",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "xanchor": "left", "x": 0})
    return fig
