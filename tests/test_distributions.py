"""The posterior q(z|x) = N(mu, diag exp(logvar)) and the prior N(0, I): KL, log-densities and sampling against
torch.distributions, and the reparameterisation trick's gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core.distributions import DiagonalGaussian, StandardNormal
from vae_core.models import VAE, VAEConfig


def random_gaussian(seed: int, shape=(6, 5), dtype=torch.float64) -> DiagonalGaussian:
    generator = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=generator, dtype=dtype) * 2
    logvar = torch.empty(shape, dtype=dtype).uniform_(-4, 3, generator=generator)
    return DiagonalGaussian(mu, logvar)


def as_torch(gaussian: DiagonalGaussian) -> Normal:
    return Normal(gaussian.mu, gaussian.std)


@pytest.mark.parametrize("seed", range(3))
def test_kl_to_the_prior_per_dimension_equals_torch_distributions(seed):
    q = random_gaussian(seed)
    expected = kl_divergence(as_torch(q), Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu)))
    assert q.kl().shape == (6, 5)
    torch.testing.assert_close(q.kl(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_kl_between_two_diagonal_gaussians_equals_torch_distributions(seed):
    q, p = random_gaussian(seed), random_gaussian(seed + 100)
    torch.testing.assert_close(q.kl(p), kl_divergence(as_torch(q), as_torch(p)), rtol=1e-10, atol=1e-12)
    prior = DiagonalGaussian(torch.zeros_like(q.mu), torch.zeros_like(q.logvar))
    torch.testing.assert_close(q.kl(prior), q.kl(), rtol=0, atol=0)  # the same formula, the prior by default


def test_kl_matches_a_monte_carlo_estimate():
    q = DiagonalGaussian(torch.tensor([[0.0, 1.5, -2.0, 0.3]], dtype=torch.float64),
                         torch.tensor([[0.0, -1.0, 0.7, -3.0]], dtype=torch.float64))
    z = as_torch(q).sample(torch.Size([400_000]))  # (S, 1, D)
    log_ratio = q.log_prob(z) - StandardNormal.log_prob(z)
    mc, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(z))
    assert torch.all((mc - q.kl()).abs() < 5 * stderr + 1e-4), (mc, q.kl())
    assert q.kl()[0, 0] == 0  # q equal to the prior


def test_kl_is_zero_only_for_the_prior_even_for_tiny_log_variances():
    # expm1 keeps exp(logvar) - 1 - logvar > 0 where exp(logvar) - 1 would round to 0 in float32
    kl = DiagonalGaussian(torch.tensor([[0.0, 0.0, 1e-3, 0.0]]), torch.tensor([[0.0, 1e-3, 0.0, 1e-7]])).kl()
    assert kl[0, 0] == 0
    assert torch.all(kl[0, 1:] > 0)


@pytest.mark.parametrize("seed", range(3))
def test_log_prob_per_dimension_equals_torch_distributions(seed):
    q = random_gaussian(seed)
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64) * 3
    torch.testing.assert_close(q.log_prob(z), as_torch(q).log_prob(z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(StandardNormal.log_prob(z), Normal(0.0, 1.0).log_prob(z), rtol=1e-12, atol=1e-12)


def test_the_prior_log_density_is_the_closed_form():
    z = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], dtype=torch.float64)
    expected = torch.tensor([-1.5 * math.log(2 * math.pi), -1.5 * math.log(2 * math.pi) - 0.5 * (1 + 4 + 0.25)],
                            dtype=torch.float64)
    torch.testing.assert_close(StandardNormal.log_prob(z).sum(1), expected, rtol=1e-12, atol=0)


def test_pairwise_log_prob_is_every_code_under_every_component():
    components = random_gaussian(1, shape=(7, 4))
    z = torch.randn(9, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = as_torch(components).log_prob(z[:, None, :]).sum(-1)  # (M, K, D) summed over D
    torch.testing.assert_close(components.pairwise_log_prob(z), expected, rtol=1e-10, atol=1e-10)


def test_samples_have_the_posterior_mean_and_variance():
    q = DiagonalGaussian(torch.tensor([1.0, -2.0, 0.0]), torch.tensor([0.0, math.log(4.0), math.log(0.01)]))
    z = q.expand(200_000, 3).sample(torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 3)
    torch.testing.assert_close(z.mean(0), q.mu, atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), q.var, atol=0, rtol=0.02)


def test_a_seeded_sample_repeats_and_the_mode_is_the_mean():
    q = random_gaussian(0)
    first, again = (q.sample(torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(first, again) and not torch.equal(first, q.sample(torch.Generator().manual_seed(6)))
    assert torch.equal(q.mode(), q.mu)


def test_prior_samples_are_standard_normal():
    z = StandardNormal(4).sample(100_000, torch.Generator().manual_seed(0))
    assert z.shape == (100_000, 4) and z.dtype == torch.float32
    assert z.mean(0).abs().max() < 0.02 and (z.var(0) - 1).abs().max() < 0.02
    assert StandardNormal(2).sample(3, dtype=torch.float64).dtype == torch.float64


def test_the_reparameterised_sample_passes_gradients_to_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    noise = torch.tensor([[1.5, -0.5]])
    z = DiagonalGaussian(mu, logvar).reparameterise(noise)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))  # dz/dmu = 1
    torch.testing.assert_close(logvar.grad, 0.5 * noise * torch.exp(0.5 * logvar.detach()))  # dz/dlogvar
    mu.grad = logvar.grad = None
    DiagonalGaussian(mu, logvar).sample().pow(2).sum().backward()  # a random draw is differentiable too
    assert mu.grad is not None and logvar.grad is not None and torch.all(logvar.grad != 0)


def test_encode_returns_the_posterior_that_forward_samples_from():
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=3)).eval()
    x = torch.rand(4, 1, 8, 8)
    posterior = model.encode(x)
    assert isinstance(posterior, DiagonalGaussian) and posterior.mu.shape == posterior.logvar.shape == (4, 3)
    torch.manual_seed(1)
    output = model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(output.z, posterior.sample())
    torch.testing.assert_close(output.posterior.kl(), posterior.kl())
    assert torch.equal(model.reconstruct(x), model.decode_image(posterior.mode()))
