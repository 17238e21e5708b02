"""Working in latent space: traversals, interpolation, prior samples and 2-D projections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .models import VAE

PROJECTIONS = ("direct", "pca", "tsne")
# t-SNE runs on one OpenMP/BLAS thread: in the app it shares the cores with torch's own OpenMP pool (a second
# libgomp), a training thread and other sessions, and oversubscribed OpenMP barriers made 359 points take 10-56 s
# instead of 2.4-7.6 s (2 cores under load; benchmarks/projection_threads.py). On 2 cores two threads never won,
# also for 3,000 points (51-66 s against 29-43 s). Not measured on many-core machines, where more may pay off.
TSNE_THREADS = 1


def prior_samples(n: int, latent_dim: int, seed: int = 0) -> torch.Tensor:
    """n draws from p(z) = N(0, I): (n, D)."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight line from z0 to z1 (D,), endpoints included: (steps, D)."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985) from z0 to z1: (steps, D), endpoints exact.

    Under a Gaussian prior most mass lies near a sphere, so slerp keeps intermediate codes at typical
    norms where lerp cuts through the low-norm centre. Falls back to lerp for (anti)parallel vectors.
    """
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(1)
    a, b = z0.double(), z1.double()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        return lerp(z0, z1, steps)
    path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    path[0], path[-1] = a, b
    return path.to(z0.dtype)


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


@dataclass
class Projection:
    coords: np.ndarray  # (M, 2)
    indices: np.ndarray  # (M,) rows of the encoded dataset these points are
    method: str
    explained: str  # a short caption: what the axes are


def project_2d(mu: np.ndarray, method: str = "direct", max_points: int = 5000, seed: int = 0,
               dims: tuple[int, int] = (0, 1)) -> Projection:
    """Project latent means (N, D) to 2-D.

    direct: the two latent dimensions `dims` (exact for a 2-D latent); pca: the top two principal components;
    tsne: t-SNE on a random subsample of at most `max_points` (t-SNE is O(N log N) and slow on a CPU).
    """
    mu = np.asarray(mu, dtype=np.float32)
    indices = np.arange(len(mu))
    if method == "direct":
        return Projection(_direct(mu, dims), indices, method, _direct_axes(mu.shape[1], dims))
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(2, mu.shape[1])).fit(mu)
        coords = pca.transform(mu)
        if coords.shape[1] == 1:
            coords = np.column_stack([coords[:, 0], np.zeros(len(mu))])
        share = pca.explained_variance_ratio_.sum()
        return Projection(coords, indices, method, f"top principal components ({share:.0%} of variance)")
    if method == "tsne":
        if len(mu) > max_points:
            indices = np.sort(np.random.default_rng(seed).choice(len(mu), max_points, replace=False))
        coords = _tsne(mu[indices], seed)
        return Projection(coords, indices, method, f"t-SNE of {len(indices):,} points (axes have no units)")
    raise ValueError(f"projection must be one of {PROJECTIONS}, got {method!r}")


def _tsne(mu: np.ndarray, seed: int) -> np.ndarray:
    """t-SNE of (M, D) points to (M, 2), with its thread pools limited to TSNE_THREADS while it runs."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(30.0, max(2.0, (len(mu) - 1) / 3))
    with threadpool_limits(limits=TSNE_THREADS):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu)


def latent_grid(n: int, extent: float = 3.0) -> torch.Tensor:
    """An n x n grid of 2-D codes over [-extent, extent]^2, rows top (high z1) to bottom: (n*n, 2)."""
    axis = torch.linspace(-extent, extent, n)
    z1, z0 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([z0.flatten(), z1.flatten()], dim=1)


def pca_plane(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plane of the codes' (N, D) top two principal components: (origin (D,), orthonormal basis (2, D)).

    A point u (2,) of the plane and a code z map both ways exactly: u = basis (z - origin), and
    z = origin + basis^T u + r, where r = (z - origin) - basis^T basis (z - origin) is the part of z off the plane,
    so moving u moves z within the plane and keeps the rest of it (the latent pad of a D > 2 model).
    A 1-D latent gets a zero second row.
    """
    from sklearn.decomposition import PCA

    mu = np.asarray(mu, dtype=np.float64)
    pca = PCA(n_components=min(2, mu.shape[1], len(mu))).fit(mu)
    basis = np.zeros((2, mu.shape[1]))
    basis[: len(pca.components_)] = pca.components_
    return pca.mean_, basis


def _direct(codes: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """Columns `dims` of codes (N, D) as (N, 2); a 1-D latent gets a zero second axis."""
    if codes.shape[1] < 2:
        return np.column_stack([codes[:, 0], np.zeros(len(codes), dtype=codes.dtype)])
    return codes[:, list(dims)]


def _direct_axes(latent_dim: int, dims: tuple[int, int]) -> str:
    return "latent dimension z0" if latent_dim < 2 else f"latent dimensions z{dims[0]} and z{dims[1]}"


def project_points(mu: np.ndarray, points: np.ndarray, method: str, dims: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Place new codes (M, D) on the 2-D map that `project_2d(mu, method)` draws: (M, 2).

    PCA is refitted on `mu` exactly as `project_2d` fits it (deterministic solver and sign convention), so
    a path lands where the scatter's points are. t-SNE has no transform for new points: ValueError.
    """
    mu = np.asarray(mu, dtype=np.float32)
    points = np.asarray(points, dtype=np.float32)
    if method == "direct":
        return _direct(points, dims)
    if method == "pca":
        from sklearn.decomposition import PCA

        coords = PCA(n_components=min(2, mu.shape[1])).fit(mu).transform(points)
        return coords if coords.shape[1] == 2 else np.column_stack([coords[:, 0], np.zeros(len(points))])
    if method == "tsne":
        raise ValueError("t-SNE cannot place new points on an existing map; use 'pca' or 'direct'")
    raise ValueError(f"projection must be one of {PROJECTIONS}, got {method!r}")


@torch.no_grad()
def reencode(model: VAE, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """mu(decode(z)): the posterior mean of each code's decoded image, (M, D) on the CPU (decoded and encoded as
    classes y (M,) for a conditional model). A code the decoder and encoder agree on comes back to itself; far from
    the data it does not."""
    from .metrics import encode_means

    return encode_means(model, model.decode_image(z, y), y)[0]


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
    from .density import prior_log_density

    path = path.float()
    return PathDiagnostics(
        norm=path.norm(dim=1).numpy(),
        shell=path.shape[1] ** 0.5,
        prior_log_density=prior_log_density(path).numpy(),
        reencoding_error=(reencode(model, path, y) - path).norm(dim=1).numpy(),
    )
