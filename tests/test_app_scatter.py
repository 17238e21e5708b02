"""Latent scatter page, driven through the app with AppTest."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ui.state import SCATTER_SELECTED, CurrentModel
from ui.widgets import class_color, selected_indices
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes, load_checkpoint
from vae_core.data import load_digits_dataset
from vae_core.metrics import encode_means
from vae_core.models import VAE, VAEConfig


def page(name: str, checkpoint: str | None = "digits-2d.safetensors") -> AppTest:
    """The app on page `name` with `checkpoint` picked: the small digits model unless told otherwise (fast, 359
    test images); None keeps the app's default model (MNIST 2-D)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    if checkpoint:
        at.sidebar.selectbox(key="app_checkpoint").select(checkpoint).run()
    at.switch_page(name).run()
    assert not at.exception
    return at


def plotly_array(value) -> np.ndarray:
    """A trace's data as plotly sends it: a list, or a base64 typed array {"dtype", "bdata"}."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).copy()
    return np.asarray(value)


def chart_traces(at: AppTest, index: int = 0) -> list[dict]:
    return json.loads(at.get("plotly_chart")[index].proto.spec)["data"]


def select_points(at: AppTest, points: list[dict]) -> AppTest:
    """Send a selection on the scatter the way the browser does (AppTest has no API for chart events)."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = at.get("plotly_chart")[0].proto.id
    state.string_value = json.dumps({"selection": {"points": points, "point_indices": [], "box": [], "lasso": []}})
    return at._run(states)


def test_scatter_has_one_point_per_test_example_coloured_by_class():
    at = page("pages/scatter.py")
    traces = chart_traces(at)
    digits = load_digits_dataset()
    indices = np.concatenate([plotly_array(t["customdata"]) for t in traces])
    assert sorted(indices) == list(range(len(digits.y_test)))
    assert all(t["type"] == "scattergl" for t in traces)
    for trace in traces:
        labels = digits.y_test.numpy()[plotly_array(trace["customdata"])]
        assert set(labels) == {int(trace["name"])}
        assert trace["marker"]["color"] == class_color(int(trace["name"]))


def test_a_2d_model_is_drawn_at_its_latent_means():
    at = page("pages/scatter.py")
    mu, _ = encode_means(load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model,
                         load_digits_dataset().x_test)
    for trace in chart_traces(at):
        rows = plotly_array(trace["customdata"])
        np.testing.assert_allclose(plotly_array(trace["x"]), mu[rows, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(plotly_array(trace["y"]), mu[rows, 1].numpy(), atol=1e-5)


def test_an_8d_model_defaults_to_pca_and_tsne_uses_the_chosen_subsample():
    at = page("pages/scatter.py", "digits-8d.safetensors")
    assert at.radio(key="scatter_method").value == "pca"
    at.radio(key="scatter_method").set_value("tsne").run()
    at.slider(key="scatter_tsne_points").set_value(200).run()
    assert not at.exception
    assert sum(len(plotly_array(t["customdata"])) for t in chart_traces(at)) == 200


def test_selected_indices_come_from_customdata_in_order_without_repeats():
    points = [{"customdata": 12}, {"customdata": [3]}, {"customdata": 12}, {"point_index": 4}]
    assert selected_indices({"points": points}) == [12, 3]


def test_selecting_points_shows_them_and_keeps_them_for_the_interpolation_page():
    at = page("pages/scatter.py")
    select_points(at, [{"curve_number": 0, "point_index": 0, "customdata": 5},
                       {"curve_number": 1, "point_index": 2, "customdata": 17}])
    assert at.session_state[SCATTER_SELECTED] == [5, 17]
    panel = at.get("html")[-1].proto.body  # images above their reconstructions, column by column
    assert panel.count("<img") == 4 and panel.index("#5:") < panel.index("#17:")

    at.switch_page("pages/interpolate.py").run()
    at.switch_page("pages/scatter.py").run()
    assert at.session_state[SCATTER_SELECTED] == [5, 17]
    at.button(key="scatter_clear").click().run()
    assert SCATTER_SELECTED not in at.session_state


def test_latent_plane_grid_decodes_one_tile_per_grid_point():
    at = page("pages/scatter.py")
    images_before = len(at.get("image"))
    at.toggle(key="scatter_grid").set_value(True).run()
    at.slider(key="scatter_grid_size").set_value(5).run()
    assert len(at.get("image")) == images_before + 1
    assert "5x5 grid" in at.main.caption[-1].value


def test_the_default_mnist_model_draws_all_10000_test_points_at_their_latent_means(mnist):
    at = page("pages/scatter.py", None)
    assert at.session_state["model"].name == "mnist-2d.safetensors"
    mu, _ = encode_means(load_checkpoint(ROOT / "checkpoints" / "mnist-2d.safetensors").model, mnist.x_test)
    traces = chart_traces(at)
    assert sum(len(plotly_array(t["customdata"])) for t in traces) == 10_000
    for trace in traces:
        rows = plotly_array(trace["customdata"])
        np.testing.assert_allclose(plotly_array(trace["x"]), mu[rows, 0].numpy(), atol=1e-5)
        assert set(mnist.y_test.numpy()[rows]) == {int(trace["name"])}


@pytest.mark.slow
def test_full_mnist_test_set_is_drawn(mnist_root, tmp_path):
    """10,000 points: the page encodes, projects and sends them all (WebGL draws them in the browser)."""
    model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=2, hidden_dims=(64,)))
    info = DatasetInfo("mnist", (1, 28, 28), tuple(str(d) for d in range(10)), {"root": str(mnist_root)})
    at = page("pages/scatter.py")
    data = checkpoint_bytes(model, info, {"train": [], "test": []}, epoch=0)
    at.session_state["model"] = CurrentModel("mnist.safetensors", data)
    at.run()  # loads and encodes MNIST once (cached)
    started = time.perf_counter()
    at.run()
    rerun_s = time.perf_counter() - started
    assert not at.exception
    assert sum(len(plotly_array(t["customdata"])) for t in chart_traces(at)) == 10_000
    assert rerun_s < 5, f"a rerun with 10,000 cached points took {rerun_s:.1f} s"


def chart_layout(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]


def test_a_click_on_a_point_selects_it():
    """Plotly turns a click into a selection only when clickmode includes "select", and Streamlit's chart
    forces clickmode "event" while the drag mode is box or lasso select."""
    layout = chart_layout(page("pages/scatter.py"))
    assert "select" in layout["clickmode"].split("+") and layout["dragmode"] not in ("select", "lasso")


def test_direct_view_defaults_to_the_two_most_active_dimensions_and_any_two_can_be_picked():
    at = page("pages/scatter.py", "digits-8d.safetensors")
    at.radio(key="scatter_method").set_value("direct").run()
    checkpoint = load_checkpoint(ROOT / "checkpoints" / "digits-8d.safetensors")
    x = load_digits_dataset().split("test")[0]
    mu, logvar = encode_means(checkpoint.model, x)
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).mean(0).numpy()
    top_two = [int(d) for d in np.argsort(-kl)[:2]]
    assert [at.selectbox(key=k).value for k in ("scatter_dim_x", "scatter_dim_y")] == top_two
    at.selectbox(key="scatter_dim_y").set_value(5).run()
    xs = np.concatenate([plotly_array(t["y"]) for t in chart_traces(at)])
    ids = np.concatenate([plotly_array(t["customdata"]) for t in chart_traces(at)])
    np.testing.assert_allclose(xs, mu.numpy()[ids, 5], atol=1e-5)
    assert any("z5" in caption.value for caption in at.main.caption)


def test_a_new_projection_starts_with_no_selection_and_hides_the_latent_plane():
    at = page("pages/scatter.py")
    select_points(at, [{"curve_number": 0, "point_index": 0, "customdata": 5}])
    assert at.session_state[SCATTER_SELECTED] == [5]
    assert any(t.key == "scatter_grid" for t in at.toggle)
    at.radio(key="scatter_method").set_value("pca").run()
    assert SCATTER_SELECTED not in at.session_state
    assert not any(t.key == "scatter_grid" for t in at.toggle)  # its caption says "as in the scatter"
