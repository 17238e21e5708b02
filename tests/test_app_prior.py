"""Prior and holes page, driven through the app with AppTest on every shipped model."""

from __future__ import annotations

import numpy as np
import pytest
from support.apptest import chart_traces, page, plotly_array
from support.latent_views import SHIPPED, shipped

from ui.session_keys import PRIOR_HOLES
from vae_core.density import AggregatePosterior, DensityConfig, plane_basis

CONFIG = DensityConfig()


def test_every_shipped_model_is_covered():
    assert {"mnist-2d.safetensors", "mnist-conv.safetensors", "digits-2d.safetensors",
            "digits-8d.safetensors"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_decoded_holes_have_lower_aggregate_density_than_the_typical_and_dense_samples(name):
    at = page("pages/prior.py", name)
    assert not at.error
    model = shipped(name)
    posterior = AggregatePosterior.from_encodings(model.mu, model.logvar)  # all components, not the page's subsample
    rows = {row: posterior.log_density(codes) for row, codes in at.session_state[PRIOR_HOLES].items()}
    assert all(len(codes) == CONFIG.shown for codes in at.session_state[PRIOR_HOLES].values())
    assert rows["holes"].max() < rows["typical"].min() < rows["typical"].max() < rows["densest"].min()


@pytest.mark.parametrize("name", SHIPPED)
def test_the_drawn_density_integrates_to_about_one_with_the_prior_circles_and_holes_on_the_same_plane(name):
    at = page("pages/prior.py", name)
    contour, *rest = chart_traces(at)
    axis = plotly_array(contour["x"])
    density = plotly_array(contour["z"]).reshape(len(axis), len(axis))
    cell = (axis[1] - axis[0]) ** 2
    assert density.sum() * cell == pytest.approx(1.0, abs=0.03)  # the marginal of q(z) on the plane
    circles = [t for t in rest if t.get("legendgroup") == "prior"]
    radii = [np.hypot(plotly_array(t["x"]), plotly_array(t["y"])) for t in circles]
    np.testing.assert_allclose([r.mean() for r in radii], [1, 2, 3], atol=1e-6)
    model = shipped(name)
    basis = np.eye(2) if model.checkpoint.config.latent_dim == 2 else plane_basis(model.mu.numpy(), "pca")
    holes = next(t for t in rest if "holes" in t["name"])
    np.testing.assert_allclose(plotly_array(holes["x"]), at.session_state[PRIOR_HOLES]["holes"] @ basis[0],
                               atol=1e-4)


def test_two_chosen_dimensions_of_an_8d_model_show_those_dimensions():
    at = page("pages/prior.py", "digits-8d.safetensors")
    at.radio(key="prior_plane").set_value("direct").run()
    at.selectbox(key="prior_dim_x").select(5).run()
    at.selectbox(key="prior_dim_y").select(2).run()
    holes = next(t for t in chart_traces(at) if "holes" in t.get("name", ""))
    codes = at.session_state[PRIOR_HOLES]["holes"]
    np.testing.assert_allclose(plotly_array(holes["x"]), codes[:, 5], atol=1e-5)
    np.testing.assert_allclose(plotly_array(holes["y"]), codes[:, 2], atol=1e-5)
