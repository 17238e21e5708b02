"""Prior and holes: the prior N(0, I) against the aggregate posterior q(z), and the prior samples q(z) never visits.

Session key this page owns (ui/session_keys.py): PRIOR_HOLES, the prior codes it decodes.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import links
from ui.conditional import class_labels, decoding_class_ui
from ui.model_view import ModelView
from ui.navigation import page_intro
from ui.session_keys import PRIOR_HOLES
from ui.widgets import image_rows
from vae_core.density import DensityConfig, DensityGrid, ScoredPriorSamples, plane_basis

CONFIG = DensityConfig()
PLANES = {"pca": "PCA plane of the codes", "direct": "Two latent dimensions"}
SIGMAS = (1, 2, 3)  # prior contours: circles of radius 1, 2, 3 on any plane through 0
ROWS = {"holes": "holes (lowest q)", "typical": "typical (median q)", "densest": "densest (highest q)"}


def plane_ui(view: ModelView) -> tuple[np.ndarray, str, str | None]:
    """The plane to draw on, as orthonormal rows (2, D), a caption naming its axes, and the URL's name for it
    (`plane`: "pca" or two dimensions)."""
    latent_dim = view.checkpoint.config.latent_dim
    mu, _ = view.encodings()
    if latent_dim == 2:
        return np.eye(2), "z0 and z1", None
    plane = st.radio("Plane", list(PLANES), format_func=PLANES.get, horizontal=True, key="prior_plane")
    if plane == "pca":
        return plane_basis(mu, "pca"), "the codes' top two principal directions, through z = 0", "pca"
    activity = view.activity
    kl, order = activity.kl, activity.most_active_first
    x_col, y_col = st.columns(2)
    dims = (x_col.selectbox("Horizontal axis", range(latent_dim), index=order[0], key="prior_dim_x",
                            format_func=lambda d: f"z{d} (KL {kl[d]:.2f})"),
            y_col.selectbox("Vertical axis", range(latent_dim), index=order[1], key="prior_dim_y",
                            format_func=lambda d: f"z{d} (KL {kl[d]:.2f})"))
    return plane_basis(mu, "direct", dims), f"latent dimensions z{dims[0]} and z{dims[1]}", f"{dims[0]},{dims[1]}"


def apply_link(view: ModelView) -> None:
    """A link's plane (PCA or two dimensions), set as the widgets' values before they are drawn (once)."""
    plane, latent_dim = links.linked(view.sha256, "plane"), view.checkpoint.config.latent_dim
    dims = links.floats_param(plane, 2, 0, latent_dim - 1)
    if plane == "pca":
        st.session_state["prior_plane"] = "pca"
    elif dims and all(d.is_integer() for d in dims):
        st.session_state.update(prior_plane="direct", prior_dim_x=int(dims[0]), prior_dim_y=int(dims[1]))


def density_figure(grid: DensityGrid, basis: np.ndarray, scored: ScoredPriorSamples) -> go.Figure:
    figure = go.Figure(go.Contour(x=grid.axis, y=grid.axis, z=np.exp(grid.log_density), colorscale="Blues",
                                  ncontours=14, line={"width": 0}, colorbar={"title": "q(z)"}, name="q(z)",
                                  hovertemplate="(%{x:.2f}, %{y:.2f}): q %{z:.3g}<extra></extra>"))
    angle = np.linspace(0, 2 * np.pi, 121)
    for radius in SIGMAS:
        figure.add_trace(go.Scatter(x=radius * np.cos(angle), y=radius * np.sin(angle), mode="lines",
                                    line={"color": "#555", "dash": "dash", "width": 1}, hoverinfo="skip",
                                    name="N(0, I): radius 1, 2, 3", legendgroup="prior", showlegend=radius == 1))
    for row, symbol, color in (("holes", "x", "#D62728"), ("typical", "circle", "#2CA02C")):
        u = scored.z[getattr(scored, row)(CONFIG.shown)].numpy() @ basis.T
        figure.add_trace(go.Scatter(x=u[:, 0], y=u[:, 1], mode="markers", name=f"prior samples: {ROWS[row]}",
                                    marker={"symbol": symbol, "size": 10, "color": color,
                                            "line": {"width": 1, "color": "white"}}))
    figure.update_layout(height=560, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         xaxis={"scaleanchor": "y", "constrain": "domain"}, legend={"orientation": "h", "y": -0.08})
    return figure


def kl_metrics(view: ModelView, scored: ScoredPriorSamples, kl_q_to_p: float) -> None:
    mean_kl = float(view.activity.kl.sum())  # the mean over x of each dimension's KL, summed
    columns = st.columns(3)
    columns[0].metric("KL(p(z) || q(z))", f"{scored.kl_prior_to_posterior():.2f} nats",
                      help=f"E_p[log p(z) - log q(z)] over {len(scored.z):,} prior draws: large when the prior has "
                           "mass where the codes never go (holes). With a subsample of narrow components in many "
                           "dimensions, log q(z) is underestimated between them, so this reads high.")
    columns[1].metric("KL(q(z) || p(z))", f"{kl_q_to_p:.2f} nats",
                      help=f"E_q[log q(z) - log p(z)] over {len(scored.z):,} draws of q(z): large when the codes "
                           "leave the prior. KL is not symmetric (see the Theory page).")
    columns[2].metric("ELBO's KL term, mean over x", f"{mean_kl:.2f} nats",
                      help="E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z)) (Hoffman & Johnson, 2016): the "
                           "ELBO's KL term pays for information about x and for the mismatch of q(z) and p(z).")


def decoded_rows(view: ModelView, scored: ScoredPriorSamples, decoding_class: int | None) -> None:
    codes = {row: scored.z[getattr(scored, row)(CONFIG.shown)].float() for row in ROWS}
    st.session_state[PRIOR_HOLES] = {row: z.numpy() for row, z in codes.items()}
    for row, z in codes.items():
        log_q = scored.log_q[getattr(scored, row)(CONFIG.shown)]
        image_rows({ROWS[row]: view.model.decode_image(z, class_labels(decoding_class, len(z))).cpu()},
                   captions=[f"log q {v:.1f}" for v in log_q.tolist()], size=72)


view = page_intro(
    "Prior and holes",
    "Samples come from the prior p(z) = N(0, I), but the decoder only learnt the codes of real images: the "
    "aggregate posterior q(z) = (1/N) sum_n q(z|x_n), the mixture of the encoder's Gaussians over the test set. "
    "Where the prior has mass and q(z) has little (a hole), a sample decodes to an image the decoder never saw.",
)
checkpoint = view.checkpoint
scored, kl_q_to_p = view.scored_prior_samples(CONFIG)
n_examples = len(view.encodings()[0])
components = min(n_examples, CONFIG.max_components)
st.caption(f"q(z) mixes the posteriors of {components:,} of the {n_examples:,} test examples"
           + (f" (a seeded random subsample: {components:,} components estimate the mixture without bias)"
              if components < n_examples else " (all of them: exact)") + ".")
kl_metrics(view, scored, kl_q_to_p)

st.subheader("q(z) over the prior's contours")
if checkpoint.config.latent_dim < 2:
    st.info("A 1-D latent space has no plane to draw; the holes below are scored in the whole latent space.")
else:
    apply_link(view)
    basis, axes, plane = plane_ui(view)
    links.copy_link(links.show("prior", plane=plane), key="prior_link")
    st.caption(f"The density of q(z) on the plane of {axes} (its exact marginal there), with the prior's circles of "
               "radius 1, 2 and 3 (its marginal on any plane through 0 is N(0, I2)). Marked: the prior samples of "
               "the rows below, placed on the plane.")
    st.plotly_chart(density_figure(view.aggregate_density_grid(basis, CONFIG), basis, scored),
                    key="prior_chart")

st.subheader("Prior samples ranked by q(z)")
st.caption(f"{len(scored.z):,} draws z ~ N(0, I), each scored by log q(z) in all {checkpoint.config.latent_dim} "
           "dimensions, decoded: the lowest-density ones (holes) beside the median and the densest ones.")
decoded_rows(view, scored, decoding_class_ui(checkpoint, view.dataset.class_names, "prior_class"))
