"""ELBO pieces: reconstruction likelihoods, the ELBO's terms, discrete KL (the theory page's example); the Gaussian KL
itself is tested in test_distributions.py."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from vae_core.loss import ELBOTerms, discrete_kl, elbo_terms, reconstruction_log_likelihood
from vae_core.models import VAE, VAEConfig

D1 = (0.8, 0.1, 0.1)
D2 = (0.3, 0.3, 0.4)


def test_discrete_kl_matches_closed_form_and_is_asymmetric():
    forward = 0.8 * math.log(0.8 / 0.3) + 0.1 * math.log(0.1 / 0.3) + 0.1 * math.log(0.1 / 0.4)
    backward = 0.3 * math.log(0.3 / 0.8) + 0.3 * math.log(0.3 / 0.1) + 0.4 * math.log(0.4 / 0.1)
    assert discrete_kl(D1, D2) == pytest.approx(forward, abs=1e-12)
    assert discrete_kl(D2, D1) == pytest.approx(backward, abs=1e-12)
    assert discrete_kl(D1, D2) == pytest.approx(0.5362, abs=1e-4)
    assert discrete_kl(D2, D1) == pytest.approx(0.5899, abs=1e-4)
    assert discrete_kl(D1, D1) == 0


def test_discrete_kl_normalises_weights_and_handles_zeros():
    assert discrete_kl([8, 1, 1], [3, 3, 4]) == pytest.approx(discrete_kl(D1, D2))
    assert discrete_kl([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))  # p_i = 0 terms vanish
    assert discrete_kl([0.5, 0.5], [1, 0]) == math.inf  # q rules out a symbol p produces


@pytest.mark.parametrize("p, q", [([0.5, 0.5], [1.0]), ([-1, 2], [0.5, 0.5]), ([0, 0], [1, 1]),
                                  ([math.nan, 1], [1, 1]), ([], [])])
def test_discrete_kl_rejects_invalid_distributions(p, q):
    with pytest.raises(ValueError):
        discrete_kl(p, q)


def test_bernoulli_reconstruction_equals_the_distribution_log_prob():
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 4, 4)
    x = torch.randint(0, 2, (3, 1, 4, 4)).float()
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(reconstruction_log_likelihood(logits, x, "bernoulli"), expected, atol=1e-5)


def test_gaussian_reconstruction_equals_the_distribution_log_prob():
    torch.manual_seed(0)
    logits, x = torch.randn(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    expected = Normal(torch.sigmoid(logits), 0.2).log_prob(x).flatten(1).sum(1)
    got = reconstruction_log_likelihood(logits, x, "gaussian", gaussian_std=0.2)
    assert torch.allclose(got, expected, atol=1e-4)


def test_elbo_is_recon_minus_beta_kl_with_parts_kept_apart():
    terms = ELBOTerms(recon=torch.tensor([-10.0, -20.0]), kl_per_dim=torch.tensor([[1.0, 2.0], [0.5, 0.5]]))
    assert torch.equal(terms.kl, torch.tensor([3.0, 1.0]))
    assert torch.equal(terms.elbo(), torch.tensor([-13.0, -21.0]))
    assert torch.equal(terms.elbo(beta=4.0), torch.tensor([-22.0, -24.0]))


def test_elbo_terms_have_per_example_and_per_dimension_shapes():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,)))
    x = torch.rand(5, 1, 8, 8)
    terms = elbo_terms(model(x), x, model.config)
    assert terms.recon.shape == (5,) and terms.kl_per_dim.shape == (5, 3)
    assert torch.all(terms.recon < 0) and torch.all(terms.kl_per_dim >= 0)
