"""KL divergence made observable: discrete KL with its units and failure reason, KL as the limit of a
per-symbol log-likelihood ratio, a Monte-Carlo check of the Gaussian KL, and the ELBO gap of a VAE.

The derivation this follows: for X = (x_1..x_n) drawn i.i.d. from D1,
(1/n) log p(X|D1) / p(X|D2) = (1/n) sum_i log D1(x_i) / D2(x_i) -> E_D1[log D1/D2] = KL(D1 || D2)
by the law of large numbers. For a VAE, log p(x) = ELBO(x) + KL(q(z|x) || p(z|x)), and the
importance-weighted bound (Burda et al., 2016) climbs from the ELBO (K = 1) towards log p(x) as K grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .distributions import DiagonalGaussian, StandardNormal
from .loss import discrete_kl, elbo_terms, normalise_distribution
from .metrics import iwae_bound, log_importance_weights
from .models import VAE

SYMBOLS = "abcdefghijklmnopqrstuvwxyz"


def normalise(weights) -> np.ndarray:
    """Non-negative weights -> a probability vector (float64); ValueError for negatives, NaN or all zeros."""
    return normalise_distribution(weights).numpy()


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


@dataclass(frozen=True)
class DiscreteKL:
    nats: float  # KL(p || q); math.inf when q rules out a symbol p can emit
    reason: str | None  # why it is infinite, None when finite

    @property
    def bits(self) -> float:
        return nats_to_bits(self.nats)


def infinite_kl_reason(p, q, symbols: str = SYMBOLS, names: tuple[str, str] = ("p", "q")) -> str | None:
    """Why KL(p || q) is infinite (q gives zero probability to a symbol p can emit), or None if it is finite."""
    p, q = normalise(p), normalise(q)
    impossible = [i for i in range(len(p)) if p[i] > 0 and q[i] == 0]
    if not impossible:
        return None
    p_name, q_name = names
    listed = ", ".join(f"'{symbols[i]}' ({p_name} = {p[i]:.3g})" for i in impossible)
    return (f"{q_name} gives probability 0 to {listed}, which {p_name} can emit: one such draw makes the "
            f"likelihood ratio {p_name}/{q_name} infinite, so its expectation KL({p_name} || {q_name}) is "
            "infinite too")


def kl_divergence(p, q, symbols: str = SYMBOLS, names: tuple[str, str] = ("p", "q")) -> DiscreteKL:
    """KL(p || q) of two distributions over the same alphabet (inputs are normalised), with its reason if inf."""
    return DiscreteKL(discrete_kl(p, q), infinite_kl_reason(p, q, symbols, names))


def sample_sequence(probs, n: int, seed: int) -> np.ndarray:
    """n i.i.d. symbol indices (n,) drawn from the categorical `probs`; the same seed gives the same sequence."""
    return np.random.default_rng(seed).choice(len(normalise(probs)), size=n, p=normalise(probs))


def as_text(sequence: np.ndarray, limit: int = 60, symbols: str = SYMBOLS) -> str:
    """The first `limit` symbols as letters, e.g. 'abcba...'."""
    text = "".join(symbols[i] for i in sequence[:limit])
    return text + ("..." if len(sequence) > limit else "")


def running_log_likelihood_ratio(sequence: np.ndarray, p, q) -> np.ndarray:
    """(1/n) log p(X_1..n | p) / p(X_1..n | q) for every prefix length n = 1..N: (N,) in nats.

    Drawn from p it tends to KL(p || q); drawn from q it tends to -KL(q || p).
    """
    with np.errstate(divide="ignore"):  # a zero probability gives an honest +-inf
        per_symbol = np.log(normalise(p)[sequence]) - np.log(normalise(q)[sequence])
    return np.cumsum(per_symbol) / np.arange(1, len(sequence) + 1)


def log_spaced_counts(n: int, points: int = 200) -> np.ndarray:
    """About `points` distinct integers from 1 to n, evenly spaced on a log scale (n included)."""
    return np.unique(np.geomspace(1, n, num=min(points, n)).round().astype(int))


@dataclass
class MonteCarloEstimate:
    counts: np.ndarray  # (T,) number of samples used
    mean: np.ndarray  # (T, ...) running sample mean
    stderr: np.ndarray  # (T, ...) its standard error, sample std / sqrt(count)


def running_mean(samples: np.ndarray, counts: np.ndarray) -> MonteCarloEstimate:
    """Mean and standard error of the first c samples (axis 0) for each c in counts."""
    samples = np.asarray(samples, dtype=np.float64)
    sums, squares = np.cumsum(samples, axis=0), np.cumsum(samples**2, axis=0)
    c = counts.reshape(-1, *[1] * (samples.ndim - 1)).astype(np.float64)
    mean = sums[counts - 1] / c
    variance = np.clip(squares[counts - 1] - c * mean**2, 0, None) / np.maximum(c - 1, 1)
    return MonteCarloEstimate(counts, mean, np.sqrt(variance / c))


@dataclass
class GaussianKLCheck:
    closed_form: np.ndarray  # (D,) KL(N(mu_d, sigma_d^2) || N(0, 1)) exactly
    per_dim: MonteCarloEstimate  # mean (T, D)
    total: MonteCarloEstimate  # mean (T,), the sum over dimensions


def _float64_gaussian(mu, logvar) -> DiagonalGaussian:
    return DiagonalGaussian(torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(logvar, dtype=torch.float64))


def gaussian_log_ratios(mu: np.ndarray, logvar: np.ndarray, n_samples: int, seed: int) -> np.ndarray:
    """log q(z_d) - log N(z_d; 0, 1) for z ~ q = N(mu, exp(logvar)): (n_samples, D); its mean is the KL."""
    q = _float64_gaussian(mu, logvar)
    z = q.reparameterise(torch.from_numpy(np.random.default_rng(seed).standard_normal((n_samples, len(q.mu)))))
    return (q.log_prob(z) - StandardNormal.log_prob(z)).numpy()


def monte_carlo_gaussian_kl(mu, logvar, n_samples: int = 10_000, seed: int = 0, points: int = 40) -> GaussianKLCheck:
    """Closed-form KL of q(z|x) = N(mu, diag exp(logvar)) against N(0, I), and its Monte-Carlo estimate
    with standard errors at log-spaced sample counts. mu, logvar: (D,)."""
    ratios = gaussian_log_ratios(mu, logvar, n_samples, seed)
    counts = log_spaced_counts(n_samples, points)
    closed = _float64_gaussian(mu, logvar).kl()
    return GaussianKLCheck(closed.numpy(), running_mean(ratios, counts), running_mean(ratios.sum(axis=1), counts))


@dataclass
class ELBOGap:
    """Per example: the importance-weighted bounds for K = 1..K_max and the ELBO's two terms (nats)."""

    bounds: np.ndarray  # (N, K_max) bound with the first K of one set of K_max samples
    recon: np.ndarray  # (N,) E_q[log p(x|z)], averaged over z samples
    kl: np.ndarray  # (N,) KL(q(z|x) || p(z)), closed form

    @property
    def ks(self) -> np.ndarray:
        return np.arange(1, self.bounds.shape[1] + 1)

    @property
    def elbo(self) -> np.ndarray:
        return self.recon - self.kl

    @property
    def log_px(self) -> np.ndarray:
        """The tightest estimate of log p(x): the K_max bound."""
        return self.bounds[:, -1]

    @property
    def gap(self) -> np.ndarray:
        """log p(x) - ELBO, an estimate of KL(q(z|x) || p(z|x)) (a lower one: log p(x) is itself a bound)."""
        return self.log_px - self.elbo


def iwae_curve(model: VAE, x: torch.Tensor, k_max: int, y: torch.Tensor | None = None) -> np.ndarray:
    """Importance-weighted bounds for K = 1..k_max from nested prefixes of one set of k_max samples: (N, k_max).

    Sharing samples makes the curve smooth; each column is an unbiased estimate of the K-sample bound, whose
    expectation is non-decreasing in K (Burda et al., 2016, Theorem 1).
    """
    log_weights = log_importance_weights(model, x, k_max, y=y)  # (N, k_max)
    return torch.stack([iwae_bound(log_weights, k) for k in range(1, k_max + 1)], dim=1).numpy()


@torch.no_grad()
def elbo_parts(model: VAE, x: torch.Tensor, n_samples: int = 16,
               y: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruction term averaged over n_samples z ~ q(z|x), and the closed-form KL: (N,) each (labels y (N,)
    for a conditional model)."""
    was_training = model.training
    model.eval()
    recon = torch.zeros(len(x), dtype=torch.float64)
    for _ in range(n_samples):
        terms = elbo_terms(model(x.to(model.device), y), x.to(model.device), model.config)
        recon += terms.recon.double().cpu() / n_samples
    model.train(was_training)
    return recon.numpy(), terms.kl.double().cpu().numpy()


def elbo_gap(model: VAE, x: torch.Tensor, k_max: int = 50, seed: int = 0, recon_samples: int = 16,
             y: torch.Tensor | None = None) -> ELBOGap:
    """IWAE curve and ELBO decomposition for the images x (N, C, H, W) (labels y (N,) for a conditional model);
    reproducible for a seed."""
    if k_max < 1:
        raise ValueError(f"K_max must be at least 1, got {k_max}")
    with torch.random.fork_rng():  # seed locally, leave the caller's random state alone
        torch.manual_seed(seed)
        bounds = iwae_curve(model, x, k_max, y)
        recon, kl = elbo_parts(model, x, recon_samples, y)
    return ELBOGap(bounds, recon, kl)
