"""Interpolation page, driven through the app with AppTest."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from support.apptest import chart_traces, page, plotly_array, sent
from support.paths import ROOT

from ui.session_keys import INTERPOLATE_PATHS, SCATTER_PROJECTION, SCATTER_SELECTION
from vae_core.checkpoint import load_checkpoint
from vae_core.data import load_digits_dataset
from vae_core.images import tile
from vae_core.latent import prior_samples, slerp_at
from vae_core.metrics import encode_posterior
from vae_core.projection import ProjectionParams, compute, project_points


@pytest.fixture(scope="module")
def mu() -> np.ndarray:
    """Posterior means of the digits test set under the digits 2-D model (what `page` opens by default)."""
    model = load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model
    return encode_posterior(model, load_digits_dataset().x_test).mu.numpy()


def far_apart(mu: np.ndarray) -> tuple[int, int]:
    """Two examples whose codes point about 90 degrees apart, where lerp and slerp part ways."""
    return int(np.argmax(mu[:, 0])), int(np.argmax(mu[:, 1]))


def choose_examples(at, a: int, b: int):
    at.radio(key="interpolate_source").set_value("Test examples by index").run()
    at.number_input(key="interpolate_index_A").set_value(a).run()
    return at.number_input(key="interpolate_index_B").set_value(b).run()


def image_urls(at) -> list[str]:
    return [img.url for image in at.get("image") for img in image.proto.imgs]


def strip_pixels(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_endpoints_are_the_encodings_of_the_chosen_examples(mu):
    at = choose_examples(page("pages/interpolate.py"), 40, 123)
    for path in at.session_state[INTERPOLATE_PATHS].values():
        assert len(path) == 10
        np.testing.assert_allclose(path[0], mu[40], atol=1e-5)
        np.testing.assert_allclose(path[-1], mu[123], atol=1e-5)


def test_linear_and_spherical_strips_share_ends_and_differ_in_the_middle(mu):
    at = choose_examples(page("pages/interpolate.py"), *far_apart(mu))
    paths = at.session_state[INTERPOLATE_PATHS]
    strips = [strip_pixels(url) for url in image_urls(at)[-2:]]  # what the page shows, uint8
    model = load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model
    linear, spherical = (model.decode_image(torch.from_numpy(paths[m])).numpy() for m in ("linear", "spherical"))
    for strip, images in zip(strips, (linear, spherical)):
        np.testing.assert_array_equal(strip, tile(images, ncols=10, size=64))
    assert linear.shape == spherical.shape == (10, 1, 8, 8)
    np.testing.assert_allclose(linear[[0, -1]], spherical[[0, -1]], atol=1e-6)
    assert np.abs(linear[4:6] - spherical[4:6]).max() > 0.05
    assert np.linalg.norm(paths["spherical"][5]) > np.linalg.norm(paths["linear"][5])


def test_the_default_mnist_model_interpolates_between_28x28_test_images(mnist):
    at = choose_examples(page("pages/interpolate.py", None), 0, 1)
    model = load_checkpoint(ROOT / "checkpoints" / "mnist-2d.safetensors").model
    path = at.session_state[INTERPOLATE_PATHS]["linear"]
    np.testing.assert_allclose(path[[0, -1]], encode_posterior(model, mnist.x_test[:2]).mu.numpy(), atol=1e-5)
    images = model.decode_image(torch.from_numpy(path)).numpy()
    assert images.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(strip_pixels(image_urls(at)[-2]), tile(images, ncols=10, size=64))


def test_class_endpoints_are_examples_of_those_classes(mu):
    at = page("pages/interpolate.py")
    at.selectbox(key="interpolate_class_A").select(3).run()
    at.selectbox(key="interpolate_class_B").select(8).run()
    at.number_input(key="interpolate_nth_B").set_value(2).run()
    labels = load_digits_dataset().y_test.numpy()
    path = at.session_state[INTERPOLATE_PATHS]["linear"]
    np.testing.assert_allclose(path[0], mu[np.flatnonzero(labels == 3)[0]], atol=1e-5)
    np.testing.assert_allclose(path[-1], mu[np.flatnonzero(labels == 8)[2]], atol=1e-5)


def test_random_prior_endpoints_are_the_seeded_samples():
    at = page("pages/interpolate.py")
    at.radio(key="interpolate_source").set_value("Random prior samples").run()
    at.number_input(key="interpolate_seed_B").set_value(7).run()
    path = at.session_state[INTERPOLATE_PATHS]["spherical"]
    np.testing.assert_allclose(path[0], prior_samples(1, 2, 0)[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], prior_samples(1, 2, 7)[0], atol=1e-6)


def test_scatter_selection_gives_the_endpoints_or_an_error_saying_what_to_do(mu):
    at = page("pages/interpolate.py")
    at.radio(key="interpolate_source").set_value("Points selected on the scatter").run()
    assert not at.exception
    assert "Latent scatter page" in at.error[0].value

    at.session_state[SCATTER_SELECTION] = ("test", [9, 30, 77])
    at.run()
    path = at.session_state[INTERPOLATE_PATHS]["linear"]
    np.testing.assert_allclose(path[[0, -1]], mu[[9, 77]], atol=1e-5)


def test_path_is_drawn_on_the_scatter_projection_and_falls_back_to_pca_for_tsne(mu):
    at = page("pages/interpolate.py", "digits-8d.safetensors")
    at.session_state[SCATTER_PROJECTION] = "tsne"
    at.run()
    assert "cannot place new points" in at.info[0].value
    path_traces = chart_traces(at, -1)[-2:]
    mu_8d = encode_posterior(load_checkpoint(ROOT / "checkpoints" / "digits-8d.safetensors").model,
                             load_digits_dataset().x_test).mu.numpy()
    for trace, path in zip(path_traces, at.session_state[INTERPOLATE_PATHS].values()):
        expected = project_points(mu_8d, path, "pca")
        np.testing.assert_allclose(plotly_array(trace["x"]), expected[:, 0], atol=1e-4)


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[str, object]]:
    """(filename, data) of every download button the app offers, caught where Streamlit keeps them; data made on
    the click (a callable) is made here, as a click would."""
    offered = []
    original = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        offered.append((file_name, data_callable()))
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return offered


def test_exports_are_a_png_strip_and_an_animated_gif(downloads):
    at = page("pages/interpolate.py")
    at.slider(key="interpolate_steps").set_value(6).run()
    files = dict(downloads[-4:])
    assert sorted(files) == ["linear-interpolation.gif", "linear-interpolation.png",
                             "spherical-interpolation.gif", "spherical-interpolation.png"]
    strip = Image.open(io.BytesIO(files["linear-interpolation.png"]))
    assert strip.format == "PNG" and strip.width > 5 * strip.height  # six frames side by side
    gif = Image.open(io.BytesIO(files["spherical-interpolation.gif"]))
    assert gif.format == "GIF" and gif.n_frames == 2 * 6 - 2  # forward, then back without repeating the ends
    first = np.asarray(gif.convert("L"))
    gif.seek(5)
    assert not np.array_equal(first, np.asarray(gif.convert("L")))  # the animation moves


@pytest.mark.parametrize("method", ["direct", "pca"])
def test_projected_codes_land_where_the_scatter_draws_them(method):
    codes = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    on_scatter = compute(codes, ProjectionParams(method)).coords[:7]
    np.testing.assert_allclose(project_points(codes, codes[:7], method), on_scatter, atol=1e-5)
    with pytest.raises(ValueError, match="t-SNE cannot place"):
        project_points(codes, codes[:7], "tsne")


def test_the_latent_sliders_code_is_an_endpoint_and_a_star_on_the_scatter(mu):
    at = page("pages/sliders.py", "digits-2d.safetensors")  # no browser here: the server sliders stand in
    at.slider(key="sliders_z0").set_value(1.5).run()
    at.slider(key="sliders_z1").set_value(-0.5).run()
    at.switch_page("pages/interpolate.py").run()
    at.radio(key="interpolate_source").set_value("From the Latent sliders' code to a test example").run()
    at.number_input(key="interpolate_index_to").set_value(7).run()
    path = at.session_state[INTERPOLATE_PATHS]["linear"]
    np.testing.assert_allclose(path[0], [1.5, -0.5], atol=1e-6)
    np.testing.assert_allclose(path[-1], mu[7], atol=1e-5)
    at.switch_page("pages/scatter.py").run()
    assert sent(at)["star"] == pytest.approx([1.5, -0.5])  # what the scatter's inspector draws as a star


def test_each_path_is_sent_to_the_browser_as_a_slider_on_the_same_line_and_arc():
    at = page("pages/interpolate.py")
    paths = at.session_state[INTERPOLATE_PATHS]
    z0, z1 = paths["linear"][0], paths["linear"][-1]
    sent_paths = [json.loads(element.proto.json)["path"] for element in at.get("bidi_component")]
    assert [p["kind"] for p in sent_paths] == ["line", "arc"]
    line, arc = sent_paths
    np.testing.assert_allclose(line["start"], z0, atol=1e-6)
    np.testing.assert_allclose(line["direction"], z1 - z0, atol=1e-6)
    np.testing.assert_allclose([arc["start"], arc["end"]], [z0, z1], atol=1e-6)
    # what the browser computes along the arc (path.js) is slerp_at, whose grid is the page's spherical strip
    t = torch.linspace(0, 1, len(paths["spherical"]), dtype=torch.float64)
    np.testing.assert_allclose(slerp_at(torch.tensor(z0), torch.tensor(z1), t)[1:-1], paths["spherical"][1:-1],
                               atol=1e-5)
