"""The prior p(z) = N(0, I) against the aggregate posterior q(z) = (1/N) sum_n q(z|x_n), and the prior's holes.

The ELBO's KL term pulls every q(z|x) towards the prior, but nothing makes their mixture q(z) fill it: where the
prior has mass and q(z) has little (a hole), a prior sample decodes to an image the decoder was never trained on,
which is why some VAE samples look wrong. Everything here is exact for the mixture it is given; a large test set is
represented by a seeded random subsample of its components (`DensityConfig.max_components`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .distributions import LOG_2PI, DiagonalGaussian, StandardNormal
from .projection import pca_plane

_CHUNK_ELEMENTS = 1 << 22  # (points x components) evaluated at once: bounds memory to ~32 MB of float64


@dataclass(frozen=True)
class DensityConfig:
    """Sizes of the prior-vs-aggregate-posterior views; the page and the tests read their defaults here."""

    max_components: int = 2500  # q(z) mixes at most this many test examples' q(z|x), a seeded subsample
    grid_size: int = 72  # the density is drawn on a grid_size x grid_size grid over the plane
    extent: float = 4.0  # the grid covers at least [-extent, extent]^2 (4 prior standard deviations)
    prior_samples: int = 1000  # prior draws scored by log q(z) to find the holes
    shown: int = 8  # decoded images per row: holes, typical, densest
    seed: int = 0


def _chunks(n_points: int, n_components: int):
    size = max(1, _CHUNK_ELEMENTS // max(1, n_components))
    for start in range(0, n_points, size):
        yield slice(start, start + size)


@dataclass(frozen=True)
class AggregatePosterior:
    """q(z) = (1/K) sum_k N(z; mu_k, diag(exp(logvar_k))): an equal-weight mixture of the encoder's Gaussians."""

    mu: torch.Tensor  # (K, D) float64
    logvar: torch.Tensor  # (K, D) float64
    n_examples: int  # how many examples the K components stand for (K < n_examples: a subsample)

    @classmethod
    def from_encodings(cls, mu, logvar, max_components: int | None = None, seed: int = 0) -> AggregatePosterior:
        """The mixture of the posteriors (N, D) of a dataset, or of a seeded subsample of `max_components` of them."""
        mu, logvar = torch.as_tensor(np.asarray(mu)).double(), torch.as_tensor(np.asarray(logvar)).double()
        n = len(mu)
        if max_components is not None and n > max_components:
            keep = np.sort(np.random.default_rng(seed).choice(n, max_components, replace=False))
            mu, logvar = mu[keep], logvar[keep]
        return cls(mu, logvar, n)

    @property
    def components(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mu, self.logvar)

    @property
    def latent_dim(self) -> int:
        return self.mu.shape[1]

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) of codes (M, D): (M,) float64, computed in chunks (memory bounded by _CHUNK_ELEMENTS)."""
        z = torch.as_tensor(z).double()
        out = torch.empty(len(z), dtype=torch.float64)
        for rows in _chunks(len(z), len(self.mu)):
            out[rows] = torch.logsumexp(self.components.pairwise_log_prob(z[rows]), dim=1) - math.log(len(self.mu))
        return out

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """n draws from q(z): a component uniformly, then its Gaussian: (n, D) float64."""
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randint(len(self.mu), (n,), generator=generator)
        return self.components[pick].sample(generator)

    def on_plane(self, basis) -> PlaneMixture:
        """The marginal of q(z) on the plane u = basis z (basis (2, D), orthonormal rows): each component becomes
        N(basis mu_k, basis diag(var_k) basis^T), a 2-D Gaussian with a full covariance. Exact."""
        basis = torch.as_tensor(np.asarray(basis)).double()
        covariances = torch.einsum("id,kd,jd->kij", basis, self.components.var, basis)  # (K, 2, 2)
        return PlaneMixture(self.mu @ basis.T, covariances)


@dataclass(frozen=True)
class PlaneMixture:
    """An equal-weight mixture of 2-D Gaussians N(means_k, covariances_k)."""

    means: torch.Tensor  # (K, 2)
    covariances: torch.Tensor  # (K, 2, 2), symmetric positive definite

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        """log density at points (M, 2): (M,) float64.

        With P_k the inverse covariance (closed form for 2x2), (u - m)^T P (u - m) - log det P + 2 log 2 pi is
        linear in the features (x^2, 2xy, y^2, x, y, 1) of u = (x, y): one matrix product for all components.
        """
        u = torch.as_tensor(u).double()
        a, b, c = self.covariances[:, 0, 0], self.covariances[:, 0, 1], self.covariances[:, 1, 1]
        det = a * c - b * b
        p00, p01, p11 = c / det, -b / det, a / det  # (K,) each: the inverse covariance
        mx, my = self.means[:, 0], self.means[:, 1]
        pm0, pm1 = p00 * mx + p01 * my, p01 * mx + p11 * my  # P m
        constant = mx * pm0 + my * pm1 + torch.log(det) + 2 * LOG_2PI
        weights = torch.stack([p00, p01, p11, -2 * pm0, -2 * pm1, constant], dim=1)  # (K, 6)
        out = torch.empty(len(u), dtype=torch.float64)
        for rows in _chunks(len(u), len(self.means)):
            x, y = u[rows, 0], u[rows, 1]
            features = torch.stack([x * x, 2 * x * y, y * y, x, y, torch.ones_like(x)], dim=1)  # (B, 6)
            out[rows] = torch.logsumexp(-0.5 * (features @ weights.T), dim=1) - math.log(len(self.means))
        return out


def plane_basis(mu, plane: str, dims: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Orthonormal rows (2, D) of the plane a D-dimensional latent space is viewed on.

    "direct": the latent dimensions `dims` (for a 2-D model, z itself); "pca": the top two principal directions of
    the codes mu (N, D). Either plane passes through z = 0, so the prior's marginal on it is exactly N(0, I_2).
    """
    mu = np.asarray(mu)
    latent_dim = mu.shape[1]
    if latent_dim < 2:
        raise ValueError("a plane needs a latent space of at least 2 dimensions")
    if plane == "direct":
        if dims[0] == dims[1]:
            raise ValueError("pick two different dimensions")
        return np.eye(latent_dim)[list(dims)]
    if plane == "pca":
        return pca_plane(mu)[1]
    raise ValueError(f"plane must be 'direct' or 'pca', got {plane!r}")


@dataclass(frozen=True)
class DensityGrid:
    axis: np.ndarray  # (S,) coordinates of the grid's columns and rows (the same on both axes)
    log_density: np.ndarray  # (S, S), row i at u1 = axis[i], column j at u0 = axis[j]

    @property
    def cell_area(self) -> float:
        return float(self.axis[1] - self.axis[0]) ** 2

    def mass(self) -> float:
        """The density summed over the grid (midpoint rule): about 1 when the grid covers the mixture."""
        return float(np.exp(self.log_density).sum() * self.cell_area)


def density_grid(mixture: PlaneMixture, extent: float, size: int) -> DensityGrid:
    """The mixture's log density on a size x size grid over [-extent, extent]^2."""
    axis = np.linspace(-extent, extent, size)
    u0, u1 = np.meshgrid(axis, axis)
    points = torch.from_numpy(np.column_stack([u0.ravel(), u1.ravel()]))
    return DensityGrid(axis, mixture.log_density(points).numpy().reshape(size, size))


def grid_extent(points: np.ndarray, at_least: float) -> float:
    """Half-width of a square grid that shows the prior's +-at_least and 99.5% of the points (M, 2)."""
    return max(at_least, 1.1 * float(np.quantile(np.abs(points), 0.995))) if len(points) else at_least


@dataclass(frozen=True)
class ScoredPriorSamples:
    """Prior draws z ~ N(0, I) with their log densities under the aggregate posterior and the prior."""

    z: torch.Tensor  # (M, D)
    log_q: torch.Tensor  # (M,) log q(z)
    log_p: torch.Tensor  # (M,) log p(z)

    def holes(self, k: int) -> np.ndarray:
        """Indices of the k samples of lowest log q(z), lowest first: prior mass the data never visits."""
        return np.argsort(self.log_q.numpy(), kind="stable")[:k]

    def typical(self, k: int) -> np.ndarray:
        """Indices of the k samples around the median log q(z)."""
        order = np.argsort(self.log_q.numpy(), kind="stable")
        start = max(0, min(len(order) - k, len(order) // 2 - k // 2))
        return order[start:start + k]

    def densest(self, k: int) -> np.ndarray:
        """Indices of the k samples of highest log q(z), highest first."""
        return np.argsort(self.log_q.numpy(), kind="stable")[::-1][:k].copy()

    def kl_prior_to_posterior(self) -> float:
        """Monte-Carlo KL(p(z) || q(z)) = E_p[log p - log q] over these draws, in nats: large where q has holes."""
        return float((self.log_p - self.log_q).mean())


def score_prior_samples(posterior: AggregatePosterior, n: int, seed: int = 0) -> ScoredPriorSamples:
    """n seeded draws from the prior, each scored by log q(z) and log p(z)."""
    z = StandardNormal(posterior.latent_dim).sample(n, torch.Generator().manual_seed(seed), torch.float64)
    return ScoredPriorSamples(z, posterior.log_density(z), StandardNormal.log_prob(z).sum(dim=1))


def kl_posterior_to_prior(posterior: AggregatePosterior, n: int, seed: int = 0) -> float:
    """Monte-Carlo KL(q(z) || p(z)) = E_q[log q - log p] over n draws of q(z), in nats: large where q(z) leaves
    the prior (the other direction of `kl_prior_to_posterior`; KL is not symmetric)."""
    z = posterior.sample(n, seed)
    return float((posterior.log_density(z) - StandardNormal.log_prob(z).sum(dim=1)).mean())
