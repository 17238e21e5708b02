"""The encoder's posterior q(z|x) = N(mu, diag(exp(logvar))) and the prior p(z) = N(0, I): the one home of their
sampling (the reparameterisation trick), KL divergences and log-densities.

Shapes: a `DiagonalGaussian` holds mu and logvar of the same shape (..., D), usually (B, D), one Gaussian per row;
every method works per latent dimension and leaves the sum over D to the caller (as the ELBO's terms do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class DiagonalGaussian:
    """N(mu, diag(exp(logvar))) for each row; the model's `encode` returns one for a batch (as diffusers' posterior)."""

    mu: torch.Tensor  # (..., D)
    logvar: torch.Tensor  # (..., D)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def __getitem__(self, index) -> DiagonalGaussian:
        """The Gaussians of some rows, e.g. posterior[:10] or posterior[:, None] (a new axis to broadcast over)."""
        return DiagonalGaussian(self.mu[index], self.logvar[index])

    def expand(self, *sizes: int) -> DiagonalGaussian:
        """The same Gaussians repeated along size-1 axes (`torch.Tensor.expand`, no copy), e.g. K draws each."""
        return DiagonalGaussian(self.mu.expand(*sizes), self.logvar.expand(*sizes))

    def to(self, *args, **kwargs) -> DiagonalGaussian:
        """On another device or dtype (`torch.Tensor.to`)."""
        return DiagonalGaussian(self.mu.to(*args, **kwargs), self.logvar.to(*args, **kwargs))

    def mode(self) -> torch.Tensor:
        """The most likely code, mu (..., D): what a reconstruction decodes."""
        return self.mu

    def reparameterise(self, noise: torch.Tensor) -> torch.Tensor:
        """mu + std * noise for standard-normal noise of mu's shape: a draw that gradients flow through to mu and
        logvar (Kingma & Welling, 2014, section 2.4)."""
        return self.mu + noise * self.std

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised draw z ~ q per Gaussian, (..., D), from the global RNG or `generator`."""
        if generator is None:
            noise = torch.randn_like(self.mu)
        else:
            noise = torch.randn(self.mu.shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        return self.reparameterise(noise)

    def kl(self, other: DiagonalGaussian | None = None) -> torch.Tensor:
        """KL(self || other) per dimension, (..., D), >= 0; `other` None is the standard-normal prior.

        Closed form, Kingma & Welling (2014), Appendix B: against N(0, 1), -1/2 (1 + logvar - mu^2 - exp(logvar));
        in general 1/2 ((mu - mu_o)^2 / var_o + r - 1 - log r) with r = var / var_o.
        """
        if other is None:
            mean_term, log_ratio = self.mu.pow(2), self.logvar
        else:
            mean_term, log_ratio = (self.mu - other.mu).pow(2) / other.var, self.logvar - other.logvar
        # expm1: exp(log_ratio) - 1 rounds to 0 for |log_ratio| below float eps, which made the KL slightly negative.
        return 0.5 * (mean_term + (torch.expm1(log_ratio) - log_ratio))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_d; mu_d, var_d) per dimension, (..., D); sum over the last axis for log q(z)."""
        return -0.5 * ((z - self.mu) ** 2 / self.var + self.logvar + LOG_2PI)

    def pairwise_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q_k(z_m), summed over dimensions, of every code z (M, D) under every one of these K Gaussians (K, D):
        (M, K). For mixtures of many components: no (M, K, D) tensor is made."""
        inv_var = torch.exp(-self.logvar)  # (K, D)
        # ||z - mu||^2 / var = z^2 . 1/var - 2 z . mu/var + mu^2 . 1/var: three matrix products
        mu_term = (self.mu ** 2 * inv_var).sum(dim=1)  # (K,)
        log_norm = -0.5 * (self.logvar.sum(dim=1) + self.mu.shape[1] * LOG_2PI)  # (K,)
        quad = (z ** 2) @ inv_var.T - 2 * z @ (self.mu * inv_var).T + mu_term  # (M, K)
        return log_norm - 0.5 * quad.clamp_min(0)  # rounding can make the expanded square slightly negative


@dataclass(frozen=True)
class StandardNormal:
    """The prior p(z) = N(0, I) over latent_dim dimensions."""

    latent_dim: int

    def sample(self, n: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """n draws z ~ N(0, I): (n, D)."""
        return torch.randn(n, self.latent_dim, generator=generator, dtype=dtype)

    @staticmethod
    def log_prob(z: torch.Tensor) -> torch.Tensor:
        """log N(z_d; 0, 1) per dimension, (..., D); sum over the last axis for log p(z)."""
        return -0.5 * (z ** 2 + LOG_2PI)
