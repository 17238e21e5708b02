"""The Compare page's figures: the rate-distortion plane, KL per dimension side by side, the linked latent maps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .comparison import Compared
from .widgets import class_color

MODEL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
ISO_LINES = 5  # ELBO iso-lines drawn around the models' points
MAP_POINTS = 3000  # test codes drawn per map (a fixed subsample; the selected example is always drawn)


def rate_distortion(models: list[Compared]) -> go.Figure:
    """Each model at (rate = test KL, distortion = -test recon), its trace's meta its index in `models`; dotted
    iso-lines D + R = -ELBO, the one through the beta = 1 model (or the best ELBO) solid: a model below it has a
    better ELBO."""
    rates = np.array([m.rate for m in models])
    distortions = np.array([m.distortion for m in models])
    span_r = (0.0, rates.max() * 1.3 + 1)
    figure = go.Figure()
    neg_elbos = rates + distortions
    reference = next((m for m in models if m.beta == 1), models[int(np.argmin(neg_elbos))])
    levels = np.linspace(neg_elbos.min() - 5, neg_elbos.max() + 5, ISO_LINES)
    for level in levels:
        figure.add_trace(_iso_line(level, span_r, {"color": "#aaa", "dash": "dot", "width": 1}, "ELBO iso-lines",
                                   show=bool(level == levels[0])))
    figure.add_trace(_iso_line(reference.rate + reference.distortion, span_r, {"color": "#333", "width": 1.5},
                               f"-ELBO of {reference.label}: D + R = {reference.rate + reference.distortion:.1f}"))
    for i, (color, model) in enumerate(zip(MODEL_COLORS, models, strict=False)):
        figure.add_trace(go.Scatter(
            x=[model.rate], y=[model.distortion], mode="markers+text", name=model.label, text=[f"beta {model.beta:g}"],
            meta=i,
            textposition="top right", marker={"size": 13, "color": color, "line": {"width": 1, "color": "white"}},
            hovertemplate=(f"<b>{model.label}</b><br>rate (KL) %{{x:.2f}} nats<br>distortion (-recon) %{{y:.2f}} "
                           f"nats<br>-ELBO {model.rate + model.distortion:.2f}<extra></extra>")))
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "y": -0.2}, xaxis_title="rate R = KL(q(z|x) || p(z)), nats",
                         yaxis_title="distortion D = -E_q log p(x|z), nats", xaxis_range=list(span_r),
                         yaxis_range=[distortions.min() - 10, distortions.max() + 10])
    return figure


def _iso_line(level: float, span_r: tuple[float, float], line: dict, name: str, show: bool = True) -> go.Scatter:
    r = np.array(span_r)
    return go.Scatter(x=r, y=level - r, mode="lines", line=line, name=name, legendgroup=name, showlegend=show,
                      hovertemplate=f"D + R = {level:.1f}<extra></extra>")


def kl_per_dimension(models: list[Compared]) -> go.Figure:
    """Each model's mean KL per latent dimension (its trace's meta its index in `models`), grouped by dimension: a
    collapsed dimension is a missing bar."""
    figure = go.Figure()
    for i, (color, model) in enumerate(zip(MODEL_COLORS, models, strict=False)):
        kl = model.view.activity.kl
        figure.add_trace(go.Bar(x=[f"z{d}" for d in range(len(kl))], y=kl, name=model.label, marker_color=color, meta=i,
                                hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    figure.update_layout(barmode="group", height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         yaxis_title="mean KL, nats", legend={"orientation": "h", "y": -0.25})
    return figure


def latent_maps(models: list[Compared], codes: list[np.ndarray], labels: np.ndarray, class_names: tuple[str, ...],
                selected: int | None) -> go.Figure:
    """The models' test codes side by side (first two latent dimensions), coloured by label; `selected` (a test
    index) ringed in every map. Each point's customdata is its test index, so a click names the example."""
    figure = make_subplots(rows=1, cols=len(models), subplot_titles=[m.label for m in models])
    shown = np.sort(np.random.default_rng(0).permutation(len(labels))[:MAP_POINTS])
    for col, model_codes in enumerate(codes, start=1):
        for label in np.unique(labels[shown]):
            rows = shown[labels[shown] == label]
            figure.add_trace(go.Scattergl(
                x=model_codes[rows, 0], y=model_codes[rows, 1], mode="markers", customdata=rows,
                name=class_names[label], legendgroup=str(label), showlegend=col == 1,
                marker={"color": class_color(int(label)), "size": 4, "opacity": 0.7},
                hovertemplate=f"{class_names[label]} · test %{{customdata}}<extra></extra>"), row=1, col=col)
        if selected is not None:
            figure.add_trace(go.Scatter(
                x=[model_codes[selected, 0]], y=[model_codes[selected, 1]], mode="markers", customdata=[selected],
                name=f"test {selected}", legendgroup="selected", showlegend=col == 1,
                marker={"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": "#111"}},
                hovertemplate=f"test {selected}<extra></extra>"), row=1, col=col)
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10}, clickmode="event+select",
                         legend={"orientation": "h", "y": -0.12})
    return figure
