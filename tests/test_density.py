"""The prior against the aggregate posterior q(z): exact mixture densities, the plane marginal and the holes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from support.paths import ROOT

from vae_core.checkpoint import load_checkpoint
from vae_core.density import (
    AggregatePosterior,
    DensityConfig,
    density_grid,
    kl_posterior_to_prior,
    plane_basis,
    score_prior_samples,
)
from vae_core.metrics import encode_posterior

# A known mixture: two components in 2-D.
MU = np.array([[0.0, 0.0], [2.0, -1.0]])
LOGVAR = np.log(np.array([[1.0, 0.25], [0.5, 2.0]]))


def hand_log_density(z: np.ndarray) -> float:
    """log((N(z; mu_1, var_1) + N(z; mu_2, var_2)) / 2), each a product of 1-D normals, written out by hand."""
    total = 0.0
    for mu, var in zip(MU, np.exp(LOGVAR)):
        total += np.prod([math.exp(-(z[d] - mu[d]) ** 2 / (2 * var[d])) / math.sqrt(2 * math.pi * var[d])
                          for d in range(2)])
    return math.log(total / 2)


def test_the_log_density_of_a_known_mixture_equals_the_hand_computation():
    posterior = AggregatePosterior.from_encodings(MU, LOGVAR)
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0], [-3.0, 4.0], [10.0, -10.0]])
    got = posterior.log_density(torch.from_numpy(points)).numpy()
    np.testing.assert_allclose(got, [hand_log_density(p) for p in points], rtol=1e-10)


def test_the_plane_marginal_of_a_2d_mixture_on_its_own_axes_is_the_mixture_itself():
    posterior = AggregatePosterior.from_encodings(MU, LOGVAR)
    points = torch.tensor([[0.5, -0.5], [3.0, 2.0]], dtype=torch.float64)
    plane = posterior.on_plane(np.eye(2))
    np.testing.assert_allclose(plane.log_density(points), posterior.log_density(points), rtol=1e-10)


def test_the_plane_marginal_of_a_rotated_gaussian_has_the_rotated_covariance():
    posterior = AggregatePosterior.from_encodings([[1.0, 0.0, 5.0]], np.log([[4.0, 1.0, 9.0]]))
    angle = 0.3
    basis = np.array([[math.cos(angle), math.sin(angle), 0.0], [-math.sin(angle), math.cos(angle), 0.0]])
    plane = posterior.on_plane(basis)
    expected = torch.distributions.MultivariateNormal(
        torch.tensor(basis[:, :2] @ [1.0, 0.0]), torch.tensor(basis[:, :2] @ np.diag([4.0, 1.0]) @ basis[:, :2].T))
    u = torch.tensor([[0.2, 0.4], [-1.0, 2.0]], dtype=torch.float64)
    np.testing.assert_allclose(plane.log_density(u), expected.log_prob(u), rtol=1e-10)


def test_the_density_on_a_grid_integrates_to_about_one():
    rng = np.random.default_rng(0)
    posterior = AggregatePosterior.from_encodings(rng.normal(size=(300, 2)), rng.uniform(-3, 0, size=(300, 2)))
    grid = density_grid(posterior.on_plane(np.eye(2)), extent=6.0, size=300)
    assert grid.mass() == pytest.approx(1.0, abs=0.01)


def test_the_pca_plane_marginal_of_a_16d_model_integrates_to_about_one():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(200, 16)) * [3] + [0.5] * 16, rng.uniform(-2, 0, size=(200, 16))
    posterior = AggregatePosterior.from_encodings(mu, logvar)
    grid = density_grid(posterior.on_plane(plane_basis(mu, "pca")), extent=20.0, size=300)
    assert grid.mass() == pytest.approx(1.0, abs=0.01)


def test_a_subsample_of_components_is_seeded_and_remembers_how_many_examples_it_stands_for():
    rng = np.random.default_rng(2)
    mu, logvar = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    a = AggregatePosterior.from_encodings(mu, logvar, max_components=20, seed=4)
    b = AggregatePosterior.from_encodings(mu, logvar, max_components=20, seed=4)
    assert a.mu.shape == (20, 3) and a.n_examples == 50
    torch.testing.assert_close(a.mu, b.mu)
    assert AggregatePosterior.from_encodings(mu, logvar, max_components=100).mu.shape == (50, 3)


def test_chunked_evaluation_over_many_components_matches_torch_distributions():
    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(size=(5000, 4)), rng.uniform(-2, 1, size=(5000, 4))
    posterior = AggregatePosterior.from_encodings(mu, logvar)
    z = torch.from_numpy(rng.normal(size=(1200, 4)))  # 1200 x 5000 > one chunk
    components = torch.distributions.Independent(
        torch.distributions.Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar))), 1)
    expected = torch.logsumexp(components.log_prob(z[:, None, :]), dim=1) - math.log(5000)
    np.testing.assert_allclose(posterior.log_density(z), expected, rtol=1e-9)


@pytest.fixture(scope="module")
def digits_8d_posterior(digits) -> AggregatePosterior:
    model = load_checkpoint(ROOT / "checkpoints" / "digits-8d.safetensors").model
    posterior = encode_posterior(model, digits.x_test)
    return AggregatePosterior.from_encodings(posterior.mu, posterior.logvar)


def test_hole_samples_have_lower_aggregate_density_than_typical_and_dense_ones(digits_8d_posterior):
    scored = score_prior_samples(digits_8d_posterior, 1000, seed=0)
    k = DensityConfig.shown
    holes, typical, dense = (scored.log_q[i].numpy() for i in (scored.holes(k), scored.typical(k), scored.densest(k)))
    assert holes.max() < typical.min() and typical.max() < dense.min()
    assert typical.min() <= np.median(scored.log_q.numpy()) <= typical.max()
    # The holes are real: there q(z) is typically under a twentieth of p(z); around the median q/p is about 1.
    ratio = (scored.log_q - scored.log_p).numpy()
    assert np.median(ratio[scored.holes(k)]) < math.log(1 / 20) < math.log(1 / 2) < np.median(ratio[scored.typical(k)])


def test_both_kl_directions_between_prior_and_aggregate_posterior_are_clearly_positive(digits_8d_posterior):
    assert score_prior_samples(digits_8d_posterior, 2000, seed=1).kl_prior_to_posterior() > 0.1
    assert kl_posterior_to_prior(digits_8d_posterior, 2000, seed=1) > 0.1


def test_a_posterior_equal_to_the_prior_has_no_holes():
    posterior = AggregatePosterior.from_encodings(np.zeros((4, 3)), np.zeros((4, 3)))
    scored = score_prior_samples(posterior, 500)
    np.testing.assert_allclose(scored.log_q, scored.log_p, rtol=1e-12)
    assert scored.kl_prior_to_posterior() == pytest.approx(0.0, abs=1e-12)


def test_a_plane_needs_two_different_dimensions():
    with pytest.raises(ValueError, match="two different"):
        plane_basis(np.zeros((3, 4)), "direct", (1, 1))
    with pytest.raises(ValueError, match="at least 2"):
        plane_basis(np.zeros((3, 1)), "pca")
