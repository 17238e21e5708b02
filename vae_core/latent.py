"""Working in latent space: traversals, interpolation, prior samples, the PCA plane and nearest neighbours.

2-D maps of many codes (direct, PCA, t-SNE, UMAP) live in projection.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .distributions import StandardNormal
from .metrics import encode_posterior
from .models import VAE


def prior_samples(n: int, latent_dim: int, seed: int = 0) -> torch.Tensor:
    """n draws from p(z) = N(0, I): (n, D)."""
    return StandardNormal(latent_dim).sample(n, torch.Generator().manual_seed(seed))


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight line from z0 to z1 (D,), endpoints included: (steps, D)."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985) from z0 to z1: (steps, D), endpoints exact.

    Under a Gaussian prior most mass lies near a sphere, so slerp keeps intermediate codes at typical
    norms where lerp cuts through the low-norm centre. Falls back to lerp for (anti)parallel vectors.
    """
    path = slerp_at(z0, z1, torch.linspace(0, 1, steps, dtype=torch.float64))
    path[0], path[-1] = z0.double(), z1.double()
    return path.to(z0.dtype)


def slerp_at(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The slerp path's points at positions t (T,) in [0, 1], float64 (T, D); the browser's latent path slider
    (ui/components/latent_path/path.js) computes the same."""
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    a, b = z0.double(), z1.double()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str) -> torch.Tensor:
    if method not in ("linear", "spherical"):
        raise ValueError(f"interpolation must be 'linear' or 'spherical', got {method!r}")
    return lerp(z0, z1, steps) if method == "linear" else slerp(z0, z1, steps)


def traversal_grid(model: VAE, z: torch.Tensor, dims: list[int], values: torch.Tensor,
                   y: torch.Tensor | None = None) -> torch.Tensor:
    """Decode z (D,) with one dimension at a time set to each of `values` (V,), as class y (1,) for a conditional
    model.

    Returns images (len(dims), V, C, H, W): one row per dimension.
    """
    codes = z.repeat(len(dims), len(values), 1)  # (R, V, D)
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    images = model.decode_image(codes.flatten(0, 1), y)
    return images.view(len(dims), len(values), *images.shape[1:]).cpu()


def latent_grid(n: int, extent: float = 3.0) -> torch.Tensor:
    """An n x n grid of 2-D codes over [-extent, extent]^2, rows top (high z1) to bottom: (n*n, 2)."""
    axis = torch.linspace(-extent, extent, n)
    z1, z0 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([z0.flatten(), z1.flatten()], dim=1)


@torch.no_grad()
def nearest_neighbours(mu: np.ndarray, query_indices, k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest codes to each query row of `mu` (N, D), by Euclidean distance in the full latent space
    (exact, not in any 2-D view), the query itself left out: (indices (Q, k) int64, distances (Q, k) float32),
    nearest first. Queries are taken `chunk` at a time, so memory stays at chunk x N distances."""
    codes = torch.as_tensor(np.asarray(mu, dtype=np.float32))
    queries = torch.as_tensor(np.atleast_1d(np.asarray(query_indices, dtype=np.int64)))
    k = min(k, len(codes) - 1)
    found, distances = [], []
    for rows in queries.split(chunk):
        # donot_use_mm: the exact difference form, so near-ties order the same as a brute-force check
        d = torch.cdist(codes[rows], codes, compute_mode="donot_use_mm_for_euclid_dist")  # (q, N)
        d[torch.arange(len(rows)), rows] = torch.inf
        values, index = d.topk(k, dim=1, largest=False, sorted=True)
        found.append(index)
        distances.append(values)
    return torch.cat(found).numpy(), torch.cat(distances).numpy()


def neighbourhood_change(codes_a: np.ndarray, codes_b: np.ndarray, k: int = 10) -> np.ndarray:
    """How much each example's k nearest neighbours differ between two models' codes of the same examples (N, Da)
    and (N, Db): 1 - Jaccard(knn_a, knn_b) per example (N,), 0 when both models give it the same neighbours, 1 when
    they share none. Only the neighbour sets count, so scaling or rotating one model's codes changes nothing."""
    return _jaccard_distance(*_both_neighbours(codes_a, codes_b, k)[:2])


def most_moved(codes_a: np.ndarray, codes_b: np.ndarray, k: int = 10, top: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """The `top` examples whose neighbourhoods differ most between the two models (`neighbourhood_change`), most
    first: (indices (top,), change (top,)). A third of a 2-D MNIST model's examples can share no neighbour with
    another beta's, so ties go to the example whose old neighbours model b puts farthest away (relative to its new
    ones, so scale-free): the one that left its region, not the one reshuffled within it."""
    a, b, b_distances = _both_neighbours(codes_a, codes_b, k)
    change = _jaccard_distance(a, b)
    old_in_b = np.linalg.norm(codes_b[a] - codes_b[:, None, :], axis=2).mean(axis=1)
    spread = old_in_b / np.maximum(b_distances.mean(axis=1), np.finfo(np.float32).tiny)
    order = np.lexsort((-spread, -change))[:top]
    return order, change[order]


def _both_neighbours(codes_a: np.ndarray, codes_b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each example's k nearest in a and in b (indices (N, k) each) and its distances to b's (N, k)."""
    if len(codes_a) != len(codes_b):
        raise ValueError(f"the codes must be of the same examples, got {len(codes_a)} and {len(codes_b)} rows")
    everyone = np.arange(len(codes_a))
    a = nearest_neighbours(codes_a, everyone, k)[0]
    return (a, *nearest_neighbours(codes_b, everyone, k))


def _jaccard_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - |a_i & b_i| / |a_i | b_i| per row of two index sets (N, k) without repeats within a row."""
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)  # each set has no repeats: a repeat here is shared
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return 1.0 - shared / (a.shape[1] + b.shape[1] - shared)


@torch.no_grad()
def reencode(model: VAE, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """mu(decode(z)): the posterior mean of each code's decoded image, (M, D) on the CPU (decoded and encoded as
    classes y (M,) for a conditional model). A code the decoder and encoder agree on comes back to itself; far from
    the data it does not."""
    return encode_posterior(model, model.decode_image(z, y), y).mu


@dataclass(frozen=True)
class PathDiagnostics:
    """What a path through latent space (T codes) looks like to the prior and to the model."""

    norm: np.ndarray  # (T,) ||z||
    shell: float  # sqrt(D): the norm near which N(0, I) has almost all its mass
    prior_log_density: np.ndarray  # (T,) log N(z; 0, I), nats
    reencoding_error: np.ndarray  # (T,) ||mu(decode(z)) - z||


def path_diagnostics(model: VAE, path: torch.Tensor, y: torch.Tensor | None = None) -> PathDiagnostics:
    """Norm, prior log-density and re-encoding consistency of each code of a path (T, D) (classes y (T,) for a
    conditional model)."""
    path = path.float()
    return PathDiagnostics(
        norm=path.norm(dim=1).numpy(),
        shell=path.shape[1] ** 0.5,
        prior_log_density=StandardNormal.log_prob(path.double()).sum(dim=1).numpy(),
        reencoding_error=(reencode(model, path, y) - path).norm(dim=1).numpy(),
    )
