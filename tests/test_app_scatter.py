"""Latent scatter page (the embedding inspector), driven through the app with AppTest.

AppTest runs no JavaScript: the tests read what the page sends the component (its data, and the static files
it names, from static/cache/) and send the component's state back the way the browser does (a selection).
The browser side is tested in tests/test_browser_inspector.py.
"""

from __future__ import annotations

import gzip
import hashlib
import time

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from support.apptest import page, select, sent
from support.paths import ROOT

from ui.cache import CACHE_ENV
from ui.components.static_files import CACHE_DIR
from ui.session_keys import MODEL, SCATTER_DIMS, SCATTER_PROJECTION, SCATTER_SELECTION, SLIDERS_CODE
from ui.state import CurrentModel
from ui.widgets import CLASS_COLORS
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes, load_checkpoint
from vae_core.data import load_digits_dataset
from vae_core.images import to_uint8
from vae_core.latent import nearest_neighbours
from vae_core.metrics import encode_posterior, per_example_terms
from vae_core.models import VAE, VAEConfig
from vae_core.projection import Projection


@pytest.fixture(autouse=True)
def projection_store(tmp_path, monkeypatch):
    """Background projections write their maps under tmp_path, not the repository's cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def encoded(name: str, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    posterior = encode_posterior(load_checkpoint(ROOT / "checkpoints" / name).model, x)
    return posterior.mu.numpy(), posterior.logvar.numpy()


def served(url: str, dtype=None) -> np.ndarray | bytes:
    """A file the page published under static/cache, as the browser reads it (a typed array, or bytes)."""
    path = CACHE_DIR / url.rsplit("/", 1)[1]
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return data if dtype is None else np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))


def view_points(at: AppTest) -> tuple[np.ndarray, np.ndarray]:
    view = sent(at)["view"]
    return served(view["coords"], np.float32).reshape(-1, 2), served(view["indices"], np.int32)


def panel_html(at: AppTest) -> str:
    return "".join(element.proto.body for element in at.get("html"))


def test_every_test_example_is_sent_at_its_latent_mean_with_its_label_and_image(digits):
    at = page("pages/scatter.py")
    coords, indices = view_points(at)
    mu, _ = encoded("digits-2d.safetensors", digits.x_test)
    points = sent(at)["points"]

    np.testing.assert_array_equal(indices, np.arange(len(digits.y_test)))
    np.testing.assert_allclose(coords, mu[indices], atol=1e-5)
    np.testing.assert_array_equal(served(points["labels"], np.int32), digits.y_test.numpy())
    assert [(p["split"], p["count"]) for p in points["images"]] == [("test", len(digits.y_test))]
    sprite = np.frombuffer(served(points["images"][0]["url"]), np.uint8).reshape(-1, 8, 8)
    np.testing.assert_array_equal(sprite, to_uint8(digits.x_test))
    np.testing.assert_allclose(served(points["codes"], np.float32).reshape(-1, 2), mu, atol=1e-5)
    assert points["palette"] == CLASS_COLORS and points["names"] == list(digits.class_names)
    assert sent(at)["view"]["axes"] == ["z0", "z1"]


def test_the_train_and_test_split_is_every_example_train_first(digits):
    at = page("pages/scatter.py")
    at.radio(key="scatter_split").set_value("all").run()
    coords, indices = view_points(at)
    points = sent(at)["points"]
    n_train, n = len(digits.y_train), len(digits.y_train) + len(digits.y_test)

    np.testing.assert_array_equal(indices, np.arange(n))
    np.testing.assert_array_equal(served(points["labels"], np.int32), np.concatenate([digits.y_train, digits.y_test]))
    assert [(p["split"], p["count"]) for p in points["images"]] == [("train", n_train), ("test", n - n_train)]
    mu_test, _ = encoded("digits-2d.safetensors", digits.x_test)
    np.testing.assert_allclose(coords[n_train:], mu_test, atol=1e-5)
    assert f"{n:,} of {n:,} train + test examples" in " ".join(c.value for c in at.main.caption)


def test_a_rerun_sends_a_few_hundred_bytes_and_the_images_are_written_once(mnist):
    at = page("pages/scatter.py", None)  # MNIST 2-D: 10,000 test points
    first = at.get("bidi_component")[0].proto.json
    image_file = CACHE_DIR / sent(at)["points"]["images"][0]["url"].rsplit("/", 1)[1]
    written = image_file.stat().st_mtime_ns
    at.selectbox(key="scatter_colour").set_value("KL").run()
    later = at.get("bidi_component")[0].proto.json

    assert len(first) < 2_000 and len(later) < 2_000
    assert image_file.stat().st_mtime_ns == written
    assert len(view_points(at)[1]) == 10_000


def test_selecting_points_shows_them_with_terms_and_neighbours_and_keeps_them_for_interpolation(digits):
    at = page("pages/scatter.py")
    select(at, [5, 17])
    assert at.session_state[SCATTER_SELECTION] == ("test", [5, 17])
    assert sent(at)["selected"] == [5, 17]
    html = panel_html(at)
    terms = per_example_terms(load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model, digits.x_test)
    assert html.index("#5:") < html.index("#17:") and digits.split("test").ids[17] in html
    assert f"KL {terms['kl'][5]:.1f}" in html and f"ELBO {terms['elbo'][17]:.1f}" in html
    mu, _ = encoded("digits-2d.safetensors", digits.x_test)
    found, distances = nearest_neighbours(mu, [5], 8)
    for neighbour, distance in zip(found[0], distances[0]):
        assert f"#{neighbour}: {digits.class_names[digits.y_test[neighbour]]}<br>d = {distance:.3f}" in html

    at.switch_page("pages/interpolate.py").run()
    at.switch_page("pages/scatter.py").run()
    assert at.session_state[SCATTER_SELECTION] == ("test", [5, 17])
    at.button(key="scatter_clear").click().run()
    assert SCATTER_SELECTION not in at.session_state and sent(at)["selected"] == []


def test_a_selection_of_train_and_test_examples_gives_interpolation_the_test_ones(digits):
    at = page("pages/scatter.py")
    at.radio(key="scatter_split").set_value("all").run()
    n_train = len(digits.y_train)
    select(at, [3, n_train + 5, n_train + 9])
    assert at.session_state[SCATTER_SELECTION] == ("all", [3, n_train + 5, n_train + 9])
    assert digits.split("train").ids[3] in panel_html(at) and f"#{n_train + 5}:" in panel_html(at)
    at.switch_page("pages/interpolate.py").run()
    at.radio(key="interpolate_source").set_value("Points selected on the scatter").run()
    names = digits.class_names  # the selection's test examples, by their test indices
    assert at.selectbox(key="interpolate_point_A").options == [f"#{i} ({names[digits.y_test[i]]})" for i in (5, 9)]


def test_a_selection_keeps_its_examples_across_projections_and_a_new_split_starts_empty():
    at = page("pages/scatter.py")
    select(at, [5])
    at.radio(key="scatter_method").set_value("pca").run()
    assert at.session_state[SCATTER_SELECTION] == ("test", [5]) and sent(at)["selected"] == [5]
    at.radio(key="scatter_split").set_value("train").run()
    assert SCATTER_SELECTION not in at.session_state and sent(at)["selected"] == []


def test_sigma_ellipses_of_the_selection_in_the_direct_view(digits):
    at = page("pages/scatter.py")
    select(at, [5, 17])
    mu, logvar = encoded("digits-2d.safetensors", digits.x_test)
    ellipses = sent(at)["ellipses"]
    assert [e["x"] for e in ellipses] == pytest.approx(mu[[5, 17], 0], abs=1e-5)
    np.testing.assert_allclose([e["sigma"] for e in ellipses], np.exp(0.5 * logvar[[5, 17]]), rtol=1e-5)
    at.radio(key="scatter_method").set_value("pca").run()
    assert sent(at)["ellipses"] == []  # sigma has no place on a PCA map's axes here


def test_colour_by_a_metric_sends_its_values_and_a_range_for_the_legend(digits):
    at = page("pages/scatter.py")
    at.selectbox(key="scatter_colour").set_value("KL").run()
    colour = sent(at)["colour"]
    kl = per_example_terms(load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model, digits.x_test)["kl"]
    np.testing.assert_allclose(served(colour["values"], np.float32), kl, rtol=1e-5)
    assert colour["name"] == "KL" and colour["range"] == pytest.approx(np.percentile(kl, [1, 99]), rel=1e-5)
    at.selectbox(key="scatter_colour").set_value("mean σ").run()
    _, logvar = encoded("digits-2d.safetensors", digits.x_test)
    np.testing.assert_allclose(served(sent(at)["colour"]["values"], np.float32),
                               np.exp(0.5 * logvar).mean(1), rtol=1e-5)
    at.selectbox(key="scatter_colour").set_value("label").run()
    assert sent(at)["colour"]["values"] is None


def test_filter_by_label_and_by_index_or_id_keeps_point_identity(digits):
    at = page("pages/scatter.py")
    at.multiselect(key="scatter_labels").set_value([3, 8]).run()
    at.text_input(key="scatter_search").input("17, digits/2").run()
    sent_filter = sent(at)["filter"]
    assert sent_filter["labels"] == [3, 8]
    expected = {17} | {i for i, name in enumerate(digits.split("test").ids) if "digits/2" in name}
    assert len(expected) > 10  # the id term matched many (digits/2, digits/20.., digits/200..)
    assert set(sent_filter["matches"]) == expected and not sent_filter["hide"]
    assert len(view_points(at)[1]) == 359  # filtered-out points stay in the view, dimmed
    at.toggle(key="scatter_hide").set_value(True).run()
    assert sent(at)["filter"]["hide"]


def test_an_8d_model_defaults_to_pca_and_tsne_waits_for_compute_then_draws_its_capped_map():
    at = page("pages/scatter.py", "digits-8d.safetensors")
    assert at.radio(key="scatter_method").value == "pca"
    assert sent(at)["view"]["axes"] == ["PC1", "PC2"]
    at.radio(key="scatter_method").set_value("tsne").run()
    assert "press Compute" in at.info[0].value  # nothing runs before Compute, and the PCA map stays on screen
    assert sent(at)["view"]["axes"] == ["PC1", "PC2"] and at.session_state[SCATTER_PROJECTION] == "pca"
    at.number_input(key="scatter_max_points_tsne").set_value(200)
    at.number_input(key="scatter_perplexity").set_value(10.0)
    at.button[0].click().run()  # the form's Compute sends both
    for _ in range(120):
        if at.session_state[SCATTER_PROJECTION] == "tsne":  # the PCA map stays on screen until then
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception
    coords, indices = view_points(at)
    assert len(indices) == 200 == len(coords) and len(set(indices.tolist())) == 200
    assert any("t-SNE on 200 of 359 points, stratified by label" in c.value for c in at.main.caption)
    assert at.session_state[SCATTER_PROJECTION] == "tsne"


class _ComputingRun:
    """What `ui.projections.request` answers for a run still in progress (its interface, nothing more)."""

    def __init__(self, fraction: float, message: str):
        self.fraction, self.message, self.result, self.error, self.seconds = fraction, message, None, None, None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


def test_the_map_on_screen_stays_under_a_progress_bar_while_a_projection_computes(monkeypatch):
    from ui import projections

    real_request, runs = projections.request, {}

    def request(checkpoint, split, params, retry=False):  # UMAP stays in progress until the test finishes it
        if params.method != "umap":
            return real_request(checkpoint, split, params, retry)
        return runs.setdefault(params.key(), _ComputingRun(0.4, "UMAP on 359 points: layout epoch 200 of 500"))

    monkeypatch.setattr(projections, "request", request)
    at = page("pages/scatter.py", "digits-8d.safetensors")
    pca_coords, pca_indices = view_points(at)
    at.radio(key="scatter_method").set_value("umap").run()
    at.button[0].click().run()  # Compute
    for _ in range(3):  # the page polls: the previous map stays through every rerun
        assert not at.exception and len(runs) == 1
        bar = at.get("progress")[0].proto
        assert bar.value == 40 and "layout epoch 200 of 500" in bar.text
        assert sent(at)["view"]["axes"] == ["PC1", "PC2"] and at.session_state[SCATTER_PROJECTION] == "pca"
        coords, indices = view_points(at)
        np.testing.assert_array_equal(coords, pca_coords)
        np.testing.assert_array_equal(indices, pca_indices)
        assert any("PCA map stays here until the UMAP map is ready" in c.value for c in at.main.caption)
        at.run()

    (run,) = runs.values()
    run.result = Projection(np.random.default_rng(0).normal(size=(359, 2)).astype(np.float32), np.arange(359),
                            "umap", "UMAP of 359 points (axes have no units)")
    at.run()
    assert not at.get("progress") and sent(at)["view"]["axes"] == ["UMAP 1", "UMAP 2"]
    np.testing.assert_array_equal(view_points(at)[0], run.result.coords)
    assert at.session_state[SCATTER_PROJECTION] == "umap"


def test_direct_view_defaults_to_the_two_most_active_dimensions_and_any_two_can_be_picked(digits):
    at = page("pages/scatter.py", "digits-8d.safetensors")
    at.radio(key="scatter_method").set_value("direct").run()
    mu, logvar = encoded("digits-8d.safetensors", digits.x_test)
    kl = (0.5 * (mu**2 + np.exp(logvar) - 1 - logvar)).mean(0)
    top_two = [int(d) for d in np.argsort(-kl)[:2]]
    assert [at.selectbox(key=k).value for k in ("scatter_dim_x", "scatter_dim_y")] == top_two
    at.selectbox(key="scatter_dim_y").set_value(5).run()
    coords, indices = view_points(at)
    np.testing.assert_allclose(coords[:, 1], mu[indices, 5], atol=1e-5)
    assert sent(at)["view"]["axes"][1] == "z5" and at.session_state[SCATTER_DIMS] == (top_two[0], 5)


def test_the_sliders_code_is_starred_where_it_lies():
    at = page("pages/scatter.py")
    sha256 = hashlib.sha256((ROOT / "checkpoints" / "digits-2d.safetensors").read_bytes()).hexdigest()
    at.session_state[SLIDERS_CODE] = (sha256, np.array([0.5, -1.25], dtype=np.float32), None)
    at.run()
    assert sent(at)["star"] == pytest.approx([0.5, -1.25])


def test_exports_are_offered_as_downloads():
    at = page("pages/scatter.py")
    labels = [button.proto.label for button in at.main.get("download_button")]
    assert labels == ["Embedding Projector files (.zip)", "Embedding as CSV"]


def test_latent_plane_grid_decodes_one_tile_per_grid_point():
    at = page("pages/scatter.py")
    images_before = len(at.get("image"))
    at.toggle(key="scatter_grid").set_value(True).run()
    at.slider(key="scatter_grid_size").set_value(5).run()
    assert len(at.get("image")) == images_before + 1
    assert "5x5 grid" in at.main.caption[-1].value


@pytest.mark.slow
def test_a_fresh_mnist_model_draws_all_70000_examples(mnist_root):
    """Train + test of MNIST: the page encodes and publishes them all; a rerun with everything cached is quick."""
    model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=2, hidden_dims=(64,)))
    info = DatasetInfo("mnist", (1, 28, 28), tuple(str(d) for d in range(10)), {"root": str(mnist_root)})
    at = page("pages/scatter.py")
    at.session_state[MODEL] = CurrentModel("mnist.safetensors", checkpoint_bytes(model, info, {"train": [],
                                                                                                 "test": []}, epoch=0))
    at.radio(key="scatter_split").set_value("all").run()
    assert not at.exception
    assert len(view_points(at)[1]) == 70_000
    assert [p["count"] for p in sent(at)["points"]["images"]] == [60_000, 10_000]


def test_switching_split_never_applies_the_old_splits_indices(digits):
    """A selection of train + test indices (beyond the test split's length) must not reach the test split's view."""
    at = page("pages/scatter.py")
    at.radio(key="scatter_split").set_value("all").run()
    far = len(digits.y_train) + len(digits.y_test) - 1
    select(at, [far])
    at.radio(key="scatter_split").set_value("test").run()
    assert not at.exception
    assert sent(at)["selected"] == [] and sent(at)["ellipses"] == []


def test_the_servers_first_map_runs_in_the_warmed_up_worker_of_the_maps_pool():
    from ui import model_view, projections
    from vae_core.projection import ProjectionParams

    projections.warm_up_maps.clear()
    warm = projections.warm_up_maps()
    assert warm.join(timeout=600) and warm.exception is None
    view = model_view.of(load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors"), None)
    run = projections.request(view, "test", ProjectionParams("umap", seed=3))
    assert run.job is not None and run.job.pid == warm.pid  # umap-learn already imported, its kernels compiled
    deadline = time.monotonic() + 600
    while not run.done and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.error is None and run.result.coords.shape == (len(load_digits_dataset().split("test")), 2)
