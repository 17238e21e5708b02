"""The latent views on models a user makes on the Train page: a freshly trained one, and a conditional one (the views
then ask which class to decode as)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.apptest import page

from ui.session_keys import DIRECTIONS_WALK, INTERPOLATE_DIAGNOSTICS, INTERPOLATE_PATHS, MODEL, PRIOR_HOLES
from ui.state import CurrentModel
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
from vae_core.density import AggregatePosterior
from vae_core.directions import class_mean
from vae_core.latent import path_diagnostics, reencode
from vae_core.metrics import encode_posterior
from vae_core.models import VAE, VAEConfig


@pytest.fixture(scope="module")
def conditional(digits) -> tuple[VAE, bytes]:
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden_dims=(32,), n_classes=10))
    info = DatasetInfo.of(digits)
    return model, checkpoint_bytes(model, info, {"train": [], "test": []}, epoch=0)


def on_page(name: str, data: bytes):
    at = page(name)
    at.session_state[MODEL] = CurrentModel("cvae.safetensors", data)
    at.run()
    assert not at.exception and not at.error
    return at


def test_interpolation_decodes_and_diagnoses_the_path_as_the_chosen_class(conditional):
    model, data = conditional
    at = on_page("pages/interpolate.py", data)
    at.selectbox(key="interpolate_class").select(6).run()
    paths, shown = at.session_state[INTERPOLATE_PATHS], at.session_state[INTERPOLATE_DIAGNOSTICS]
    labels = torch.full((len(paths["linear"]),), 6)
    expected = path_diagnostics(model, torch.from_numpy(paths["linear"]), labels)
    np.testing.assert_allclose(shown["linear"].reencoding_error, expected.reencoding_error, rtol=1e-4, atol=1e-6)
    other = path_diagnostics(model, torch.from_numpy(paths["linear"]), torch.full_like(labels, 2))
    assert np.abs(other.reencoding_error - expected.reencoding_error).max() > 1e-3  # the class matters


def test_directions_use_the_codes_encoded_with_their_labels(conditional, digits):
    model, data = conditional
    at = on_page("pages/directions.py", data)
    assert at.selectbox(key="directions_class").value == 8
    mu = encode_posterior(model, digits.x_test, digits.y_test).mu
    walk = at.session_state[DIRECTIONS_WALK]
    np.testing.assert_allclose(walk["codes"][-1], class_mean(mu, digits.y_test.numpy(), 8), atol=1e-5)


def test_prior_holes_decode_as_the_chosen_class(conditional):
    _, data = conditional
    at = on_page("pages/prior.py", data)
    at.selectbox(key="prior_class").select(4).run()
    assert not at.exception
    assert len(at.session_state[PRIOR_HOLES]["holes"]) == 8


def test_a_freshly_trained_model_shows_holes_below_typical_samples_and_directions_that_work(trained_checkpoint,
                                                                                               trained_digits, digits):
    data = trained_checkpoint.read_bytes()
    model = trained_digits.model.eval()
    codes = encode_posterior(model, digits.x_test)
    posterior = AggregatePosterior.from_encodings(codes.mu, codes.logvar)
    holes = on_page("pages/prior.py", data).session_state[PRIOR_HOLES]
    assert posterior.log_density(holes["holes"]).max() < posterior.log_density(holes["typical"]).min()
    walk = on_page("pages/directions.py", data).session_state[DIRECTIONS_WALK]
    target = class_mean(codes.mu, digits.y_test.numpy(), 8)
    distance = (reencode(model, torch.from_numpy(walk["codes"])) - target).norm(dim=1)
    assert distance[-1] < 0.5 * distance[0]
    on_page("pages/interpolate.py", data)
