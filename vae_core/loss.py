"""The ELBO, kept in its two parts.

ELBO(x) = E_q[log p_theta(x|z)] - KL(q_phi(z|x) || p(z)), estimated with one z ~ q per example for the
first term and in closed form for the second (`DiagonalGaussian.kl`). All terms are in nats, summed over pixels
and latent dimensions, one value per example; callers average over a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .distributions import DiagonalGaussian
from .models import VAEConfig, VAEOutput


@dataclass
class ELBOTerms:
    recon: torch.Tensor  # (B,) log p(x|z), a single-sample estimate of E_q[log p(x|z)]
    kl_per_dim: torch.Tensor  # (B, D) KL(q(z_d|x) || N(0, 1)), >= 0

    @property
    def kl(self) -> torch.Tensor:
        """(B,) KL(q(z|x) || p(z)) summed over latent dimensions."""
        return self.kl_per_dim.sum(dim=1)

    def elbo(self, beta: float = 1.0) -> torch.Tensor:
        """(B,) recon - beta * kl; beta = 1 gives the true evidence lower bound."""
        return self.recon - beta * self.kl


def reconstruction_log_likelihood(
    x_logits: torch.Tensor, x: torch.Tensor, likelihood: str, gaussian_std: float = 0.1
) -> torch.Tensor:
    """log p(x|z) per example, (B,), from decoder logits (B, C, H, W) and targets x in [0, 1].

    Bernoulli: sum_i x_i log s_i + (1 - x_i) log(1 - s_i) with s = sigmoid(logits), the usual choice for
    grey-level images in [0, 1]. Gaussian: log N(x; sigmoid(logits), gaussian_std^2) summed over pixels.
    """
    if likelihood == "bernoulli":
        per_pixel = -F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")
    else:
        pixels = DiagonalGaussian(torch.sigmoid(x_logits), x_logits.new_tensor(2 * math.log(gaussian_std)))
        per_pixel = pixels.log_prob(x)
    return per_pixel.flatten(1).sum(dim=1)


def elbo_terms(output: VAEOutput, x: torch.Tensor, config: VAEConfig) -> ELBOTerms:
    """The reconstruction and KL terms of the ELBO for a forward pass of `x`."""
    recon = reconstruction_log_likelihood(output.x_logits, x, config.likelihood, config.gaussian_std)
    return ELBOTerms(recon=recon, kl_per_dim=output.posterior.kl())


def discrete_kl(p, q) -> float:
    """KL(p || q) = sum_i p_i ln(p_i / q_i) in nats for two distributions over the same alphabet.

    Inputs are normalised first. Terms with p_i = 0 contribute 0; p_i > 0 where q_i = 0 gives inf
    (q says an observed symbol is impossible).
    """
    p = normalise_distribution(p)
    q = normalise_distribution(q)
    if len(p) != len(q):
        raise ValueError(f"distributions have different sizes: {len(p)} and {len(q)}")
    support = p > 0
    if torch.any(q[support] == 0):
        return math.inf
    kl = float((p[support] * (p[support] / q[support]).log()).sum())
    return max(kl, 0.0)  # KL >= 0 (Gibbs); rounding can leave -1e-17 when p and q nearly agree


def normalise_distribution(weights) -> torch.Tensor:
    w = torch.as_tensor(weights, dtype=torch.float64).flatten()
    if w.numel() == 0 or torch.any(w < 0) or not torch.all(torch.isfinite(w)) or w.sum() <= 0:
        raise ValueError("a distribution needs non-negative, finite weights with a positive sum")
    return w / w.sum()
