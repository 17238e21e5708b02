"""Evaluation: test ELBO, importance-weighted log p(x), active units, KL per dimension."""

from __future__ import annotations

import pytest
import torch

from vae_core.distributions import DiagonalGaussian
from vae_core.metrics import (
    DimensionActivity,
    active_units,
    encode_posterior,
    evaluate,
    evaluate_elbo,
    importance_weighted_log_px,
    iwae_bound,
    kl_per_dimension,
    log_importance_weights,
)


def test_importance_weighted_log_px_is_at_least_the_elbo_on_average(trained_digits, digits):
    model, x = trained_digits.model, digits.x_test
    torch.manual_seed(0)
    elbo = evaluate_elbo(model, x)["elbo"]
    torch.manual_seed(1)
    log_px = importance_weighted_log_px(model, x, k=100)
    assert log_px.shape == (len(x),)
    assert log_px.mean().item() >= elbo
    assert log_px.mean().item() - elbo < 5  # the posterior gap of a small digits VAE is a few nats at most


def test_iwae_bound_tightens_as_k_grows(trained_digits, digits):
    torch.manual_seed(0)
    log_w = log_importance_weights(trained_digits.model, digits.x_test, k=64)
    assert log_w.shape == (len(digits.x_test), 64)
    bounds = [iwae_bound(log_w, k).mean().item() for k in (1, 4, 16, 64)]
    assert bounds == sorted(bounds) and bounds[-1] > bounds[0]
    assert bounds[0] == pytest.approx(log_w[:, 0].mean().item())  # K = 1 is a one-sample ELBO


def test_kl_per_dimension_adds_up_to_the_mean_kl(trained_digits, digits):
    posterior = encode_posterior(trained_digits.model, digits.x_test)
    assert posterior.mu.shape == posterior.logvar.shape == (len(digits.x_test), 2)
    per_dim = kl_per_dimension(posterior)
    assert per_dim.shape == (2,) and torch.all(per_dim > 0)
    assert per_dim.sum().item() == pytest.approx(evaluate_elbo(trained_digits.model, digits.x_test)["kl"], rel=1e-5)
    q = torch.distributions.Normal(posterior.mu, posterior.std)
    assert torch.allclose(per_dim, torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean(0))


def test_dimensions_are_ranked_by_their_kl_and_the_unused_ones_are_inactive():
    posterior = DiagonalGaussian(torch.tensor([[0.0, 2.0, 0.5], [0.0, -2.0, 0.5]]), torch.zeros(2, 3))
    activity = DimensionActivity.of(posterior)
    assert activity.most_active_first == [1, 2, 0]
    assert [activity.is_active(d) for d in range(3)] == [False, True, True]


def test_active_units_count_dimensions_whose_mean_varies():
    torch.manual_seed(0)
    mu = torch.randn(500, 4) * torch.tensor([1.0, 0.5, 0.01, 0.0])
    assert active_units(mu) == 2
    assert active_units(mu, threshold=1e-5) == 3


def test_evaluate_reports_every_number_the_cli_prints(trained_digits, digits):
    model = trained_digits.model.train()
    torch.manual_seed(0)
    result = evaluate(model, digits.x_test[:100], k=20)
    assert set(result) == {"recon", "kl", "elbo", "log_px", "gap", "active_units", "k"}
    assert result["elbo"] == pytest.approx(result["recon"] - result["kl"])
    assert result["gap"] == pytest.approx(result["log_px"] - result["elbo"])
    assert result["active_units"] == 2 and result["k"] == 20
    assert model.training  # evaluation put the model back the way it found it
