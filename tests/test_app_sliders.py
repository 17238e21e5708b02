"""Latent sliders page, driven through the app with AppTest."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from support.apptest import page
from support.paths import ROOT

from ui.session_keys import SLIDERS_IMAGE, SLIDERS_Z
from vae_core.checkpoint import load_checkpoint
from vae_core.data import load_digits_dataset
from vae_core.metrics import encode_posterior, kl_per_dimension

EIGHT_D = "digits-8d.safetensors"


def sliders_page(checkpoint: str | None = "digits-2d.safetensors") -> AppTest:
    """The sliders page on the small digits model unless told otherwise; None keeps the app's default (MNIST 2-D)."""
    return page("pages/sliders.py", checkpoint)


def slider_values(at: AppTest) -> dict[int, float]:
    return {int(s.key.removeprefix("sliders_z")): s.value for s in at.slider if s.key.startswith("sliders_z")}


def label_kl(label: str) -> float:
    return float(re.search(r"KL ([\d.]+)", label).group(1))


@pytest.fixture(scope="module")
def eight_d_kl() -> np.ndarray:
    checkpoint = load_checkpoint(ROOT / "checkpoints" / EIGHT_D)
    return kl_per_dimension(encode_posterior(checkpoint.model, load_digits_dataset().x_test)).numpy()


def test_one_slider_per_latent_dimension_starting_at_the_prior_mean():
    at = sliders_page()
    assert slider_values(at) == {0: 0.0, 1: 0.0}
    assert not at.error


def test_the_default_mnist_model_decodes_28x28_images():
    at = sliders_page(None)
    at.slider(key="sliders_z0").set_value(1.0).run()
    model = load_checkpoint(ROOT / "checkpoints" / "mnist-2d.safetensors").model
    expected = model.decode_image(torch.tensor([[1.0, 0.0]]))[0].numpy()
    assert at.session_state[SLIDERS_IMAGE].shape == (1, 28, 28)
    np.testing.assert_allclose(at.session_state[SLIDERS_IMAGE], expected, atol=1e-6)


def test_moving_a_slider_changes_the_decoded_image():
    at = sliders_page()
    before = at.session_state[SLIDERS_IMAGE].copy()
    at.slider(key="sliders_z0").set_value(2.5).run()
    after = at.session_state[SLIDERS_IMAGE]
    assert after.shape == before.shape == (1, 8, 8)
    assert np.abs(after - before).max() > 0.1


def test_decoded_image_is_the_decoder_mean_at_the_slider_code():
    at = sliders_page()
    at.slider(key="sliders_z0").set_value(-1.5).run()
    at.slider(key="sliders_z1").set_value(2.0).run()
    model = load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model
    expected = model.decode_image(torch.tensor([[-1.5, 2.0]]))[0].numpy()
    np.testing.assert_allclose(at.session_state[SLIDERS_IMAGE], expected, atol=1e-6)


def test_dataset_example_start_puts_the_sliders_at_its_encoding_and_reset_returns_there():
    at = sliders_page()
    at.radio(key="sliders_source").set_value("Dataset example").run()
    at.number_input(key="sliders_index").set_value(7).run()
    model = load_checkpoint(ROOT / "checkpoints" / "digits-2d.safetensors").model
    mu = encode_posterior(model, load_digits_dataset().x_test[7:8]).mu
    expected = np.clip(mu[0].numpy(), -3, 3)
    np.testing.assert_allclose(list(slider_values(at).values()), expected, atol=1e-5)
    assert len(at.get("image")[0].value) == 2  # the example beside its reconstruction

    at.slider(key="sliders_z0").set_value(3.0).run()
    at.button(key="sliders_reset").click().run()
    np.testing.assert_allclose(list(slider_values(at).values()), expected, atol=1e-5)


def test_random_prior_start_changes_with_the_seed():
    at = sliders_page()
    at.radio(key="sliders_source").set_value("Random prior sample").run()
    first = slider_values(at)
    at.number_input(key="sliders_seed").set_value(1).run()
    assert slider_values(at) != first != {0: 0.0, 1: 0.0}


def test_sliders_show_kl_and_can_be_ordered_and_filtered_by_it(eight_d_kl):
    at = sliders_page(EIGHT_D)
    shown = [label_kl(s.label) for s in at.slider]
    np.testing.assert_allclose(shown, eight_d_kl, atol=0.006)

    at.toggle(key="sliders_sort").set_value(True).run()
    assert list(slider_values(at)) == list(np.argsort(-eight_d_kl, kind="stable"))

    at.toggle(key="sliders_active_only").set_value(True).run()
    assert sorted(slider_values(at)) == [int(d) for d in np.flatnonzero(eight_d_kl >= 0.01)]


def test_hidden_dimensions_keep_their_value_when_shown_again():
    at = sliders_page(EIGHT_D)
    at.slider(key="sliders_z1").set_value(1.25).run()  # an inactive dimension
    at.toggle(key="sliders_active_only").set_value(True).run()
    assert 1 not in slider_values(at)
    at.toggle(key="sliders_active_only").set_value(False).run()
    assert slider_values(at)[1] == 1.25


def test_no_latency_is_claimed_before_a_slider_moves_and_traversal_rows_are_named():
    at = sliders_page()
    assert not any("ms after the slider moved" in c.value for c in at.main.caption)
    at.slider(key="sliders_z0").set_value(1.0).run()
    assert any("ms after the slider moved" in c.value for c in at.main.caption)
    grid = at.get("html")[-1].proto.body
    assert ">z0</th>" in grid and ">z1</th>" in grid and "+3.00" in grid


def test_server_sliders_stand_in_with_a_note_until_the_browser_decodes():
    at = sliders_page()  # AppTest runs no JavaScript, so the latent canvas never reports that it decodes

    assert any("Starting in-browser decoding" in note.value and "decode on the server" in note.value
               for note in at.info)
    assert slider_values(at) == {0: 0.0, 1: 0.0}


def test_without_static_serving_the_note_says_why_decoding_stays_on_the_server():
    from streamlit import config

    served = config.get_option("server.enableStaticServing")
    config.set_option("server.enableStaticServing", False)
    try:
        at = sliders_page()
    finally:
        config.set_option("server.enableStaticServing", served)

    assert any("In-browser decoding is off: static file serving is off" in note.value for note in at.info)
    assert slider_values(at) == {0: 0.0, 1: 0.0}


def test_the_browser_gets_the_model_once_then_only_a_few_hundred_bytes_per_rerun():
    at = sliders_page(None)  # mnist-2d: its decoder is about a megabyte as ONNX, fetched by URL, not sent
    first = at.get("bidi_component")[0].proto.json
    at.toggle(key="sliders_sort").set_value(True).run()
    later = at.get("bidi_component")[0].proto.json

    assert json.loads(first)["model"]["decoder"]["url"].endswith(".onnx") and len(first) < 100_000
    assert "decoder" not in json.loads(later)["model"] and len(later) < 1_000


def test_server_sliders_take_over_a_code_beyond_their_range_without_an_error():
    """The pad spans the test codes, which can lie beyond +-3: the fallback sliders must clip, not raise."""
    at = sliders_page("digits-2d.safetensors")
    at.switch_page("pages/home.py").run()  # the sliders' widget state is dropped while they are not drawn...
    at.session_state[SLIDERS_Z] = np.array([4.09, -4.04], dtype=np.float32)  # ...as a pad drag left the code
    at.switch_page("pages/sliders.py").run()
    assert not at.exception
    assert slider_values(at) == {0: 3.0, 1: -3.0}


def test_the_view_is_offered_as_a_standalone_web_page():
    at = sliders_page()
    buttons = {button.key: button.proto.label for button in at.main.get("download_button")}
    assert buttons.get("sliders_web_page") == "Download this view as a web page"
    assert not at.exception
