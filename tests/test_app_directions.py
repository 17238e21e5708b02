"""Directions page, driven through the app with AppTest on every shipped model and on an image folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from support.apptest import page
from support.latent_views import SHIPPED, shipped

from ui.session_keys import DIRECTIONS_ARITHMETIC, DIRECTIONS_WALK, MODEL
from ui.state import CurrentModel
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
from vae_core.data import load_image_folder
from vae_core.directions import DirectionsConfig, class_mean
from vae_core.latent import reencode
from vae_core.models import VAE, VAEConfig


@pytest.mark.parametrize("name", SHIPPED)
def test_the_walk_from_3_toward_8_ends_on_the_8s_mean_and_its_decoded_images_reencode_toward_it(name):
    at = page("pages/directions.py", name)
    assert not at.error
    model = shipped(name)
    mean_3, mean_8 = (class_mean(model.mu, model.labels, c) for c in (3, 8))
    walk = at.session_state[DIRECTIONS_WALK]
    np.testing.assert_allclose(walk["codes"][0], mean_3, atol=1e-5)
    np.testing.assert_allclose(walk["codes"][-1], mean_8, atol=1e-5)
    np.testing.assert_allclose(walk["current"], (mean_3 + mean_8) / 2, atol=1e-5)  # the slider's default, 0.5
    distance = (reencode(model.checkpoint.model, torch.from_numpy(walk["codes"])) - mean_8).norm(dim=1).numpy()
    assert distance[-1] < 0.5 * distance[0]
    assert np.corrcoef(np.arange(len(distance)), distance)[0, 1] < -0.9


@pytest.mark.parametrize("name", SHIPPED)
def test_arithmetic_of_class_means_and_examples_is_a_minus_b_plus_c(name):
    at = page("pages/directions.py", name)
    model = shipped(name)
    first_7 = int(np.flatnonzero(model.labels == 7)[0])
    codes = at.session_state[DIRECTIONS_ARITHMETIC]  # defaults: a = the first test 7, b = mean of 7, c = mean of 1
    expected = model.mu[first_7] - class_mean(model.mu, model.labels, 7) + class_mean(model.mu, model.labels, 1)
    np.testing.assert_allclose(codes["result"], expected, atol=1e-5)
    at.radio(key="directions_kind_a").set_value("mean").run()
    at.selectbox(key="directions_class_a").select(8).run()
    at.selectbox(key="directions_class_b").select(8).run()
    np.testing.assert_allclose(at.session_state[DIRECTIONS_ARITHMETIC]["result"],
                               class_mean(model.mu, model.labels, 1), atol=1e-5)  # 8 - 8 + 1 = 1


def path_sent(at) -> tuple[dict, object]:
    """The data the page sent the amount slider (ui/components/latent_path) on its last run, and its element."""
    [element] = at.get("bidi_component")
    return json.loads(element.proto.json), element


def release_amount(at, amount: float):
    """A release of the browser's amount slider, sent the way path.js sends it (its state value)."""
    data, element = path_sent(at)
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = element.proto.id
    state.json_value = json.dumps({"amount": {"path": data["path"]["id"], "value": amount}})
    return at._run(states)


def test_a_walk_can_start_at_a_test_example_and_the_browsers_slider_moves_along_the_direction():
    at = page("pages/directions.py", "digits-8d.safetensors")
    at.radio(key="directions_start").set_value("example").run()
    at.number_input(key="directions_nth").set_value(4).run()
    model = shipped("digits-8d.safetensors")
    start = model.mu[np.flatnonzero(model.labels == 3)[4]]
    direction = class_mean(model.mu, model.labels, 8) - class_mean(model.mu, model.labels, 3)
    data, _ = path_sent(at)  # the browser decodes start + amount x direction itself as the pointer moves
    np.testing.assert_allclose(data["path"]["start"], start, atol=1e-5)
    np.testing.assert_allclose(data["path"]["direction"], direction, atol=1e-5)
    assert data["range"]["value"] == DirectionsConfig().amount and not at.get("slider")
    release_amount(at, 1.5)
    walk = at.session_state[DIRECTIONS_WALK]
    np.testing.assert_allclose(walk["codes"][0], start, atol=1e-5)
    np.testing.assert_allclose(walk["current"], start + 1.5 * direction, atol=1e-5)
    at.number_input(key="directions_nth").set_value(5).run()  # another line: the slider starts over
    np.testing.assert_allclose(at.session_state[DIRECTIONS_WALK]["current"],
                               model.mu[np.flatnonzero(model.labels == 3)[5]] + 0.5 * direction, atol=1e-5)


def test_without_in_browser_decoding_the_servers_slider_moves_along_the_direction(monkeypatch):
    from ui.components import runtime

    monkeypatch.setattr(runtime, "problem", lambda: "static file serving is off")
    at = page("pages/directions.py", "digits-8d.safetensors")
    assert any("static file serving is off" in info.value for info in at.info)
    at.slider(key="directions_amount").set_value(1.5).run()
    model = shipped("digits-8d.safetensors")
    mean_3, mean_8 = (class_mean(model.mu, model.labels, c) for c in (3, 8))
    np.testing.assert_allclose(at.session_state[DIRECTIONS_WALK]["current"], mean_3 + 1.5 * (mean_8 - mean_3),
                               atol=1e-5)


def test_an_image_folder_model_walks_between_its_folder_named_classes(tmp_path, digits):
    for label, folder in ((1, "ones"), (3, "threes"), (8, "eights")):
        (tmp_path / folder).mkdir()
        for i in np.flatnonzero(digits.y_test.numpy() == label)[:15]:
            Image.fromarray((digits.x_test[i, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / folder / f"{i}.png")
    dataset = load_image_folder(tmp_path, size=8)
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden_dims=(16,)))
    info = DatasetInfo.of(dataset)
    at = page("pages/directions.py")
    data = checkpoint_bytes(model, info, {"train": [], "test": []}, epoch=0)
    at.session_state[MODEL] = CurrentModel("folder.safetensors", data, trusted=True)  # trained here, locally
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="directions_from").options == ["eights", "ones", "threes"]
    at.selectbox(key="directions_from").set_value(2).run()  # threes
    at.selectbox(key="directions_to").set_value(0).run()  # eights
    mu = model.encode(dataset.x_test).mu.detach()
    walk = at.session_state[DIRECTIONS_WALK]
    np.testing.assert_allclose(walk["codes"][0], class_mean(mu, dataset.y_test.numpy(), 2), atol=1e-5)
    np.testing.assert_allclose(walk["codes"][-1], class_mean(mu, dataset.y_test.numpy(), 0), atol=1e-5)
