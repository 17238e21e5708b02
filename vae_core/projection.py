"""2-D maps of latent means: direct (two dimensions), PCA, t-SNE and UMAP, with honest caps and a disk cache.

Interface (the scatter page and ui/projections.py code against it; keep it stable):
- `ProjectionParams(method, dims, perplexity, n_neighbors, min_dist, seed, max_points)`: frozen, validated,
  defaults and allowed ranges live here; `params.key()` is a stable string naming exactly what changes the map;
  `params.cap(n)` the points the method will use of n.
- `compute(mu, params, labels=None, progress=None, threads=PROJECTION_THREADS) -> Projection`: `coords` (M, 2)
  float32, `indices` (M,) rows of `mu` drawn (all, or a subsample stratified by `labels` when the method's cap
  applies), `explained` (what the axes are), `note` (the cap said in words, "" when every point is drawn: never a
  silent sample). `progress(fraction, message)` is called between phases, and during t-SNE's and UMAP's
  optimisation. `threads`: the BLAS/OpenMP/numba threads t-SNE and UMAP may use (a seeded UMAP layout is one
  thread whatever this says; its neighbour search uses them).
- `load_umap()`: umap-learn with numba's compiled kernels kept in a user cache folder across processes
  (`numba_cache_folder()`); `warm_up_umap()` fills that cache (a tiny UMAP) so that a first map does not wait.
- `exact_neighbours(x, k, threads)`: each row's k nearest rows, itself first (what UMAP's graph is built from).
- `project_points(mu, points, method, dims)`: place new codes on a direct or PCA map.
- `ProjectionStore(root)`: `get(sha256, split, params) -> Projection | None`, `put(sha256, split, params, p)`,
  one .npz per (checkpoint sha256, split, params.key()) in a `vae_core.store.ArrayStore`; `DEFAULT_STORE_ROOT` is
  git-ignored.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import ClassVar

import numpy as np

from .limits import Range, check
from .store import CACHE_ROOT, ArrayStore


@dataclass(frozen=True)
class Method:
    """A way to draw latent means in 2-D, as the app names and treats it."""

    title: str  # how the app names it
    places_points: bool  # a linear map of z (fitted once): new codes land exactly where they belong, at once
    default_max_points: int | None  # the most points it runs on unless asked (None: all; above: a stratified sample)


# The caps are measured on one core of the 2-core box (benchmarks/RESULTS.md, "Projections" and "UMAP on 70,000"):
# UMAP draws all 70,000 MNIST means; t-SNE (openTSNE) what fits in about two minutes.
METHOD_INFO: dict[str, Method] = {
    "direct": Method("Two latent dimensions", True, None),
    "pca": Method("PCA", True, None),
    "tsne": Method("t-SNE", False, 40_000),
    "umap": Method("UMAP", False, None),
}
METHODS = tuple(METHOD_INFO)
# compute()'s default: t-SNE and UMAP on one OpenMP/BLAS thread, for a caller inside the server process, where they
# share the cores with torch's own OpenMP pool (a second libgomp), a training thread and other sessions, and
# oversubscribed OpenMP barriers made 359 points take 10-56 s instead of 2.4-7.6 s (2 cores under load;
# benchmarks/projection_threads.py). A worker process of its own may pass the machine's cores as `threads`.
PROJECTION_THREADS = 1
TSNE_THREADS = PROJECTION_THREADS  # the name benchmarks/projection_threads.py and its test know

ReportProgress = Callable[[float, str], None]  # progress(fraction, message)


@dataclass(frozen=True)
class ProjectionParams:
    """How to draw latent means in 2-D. Only the fields of the chosen method matter (and enter `key()`)."""

    METHODS: ClassVar[tuple[str, ...]] = METHODS
    PERPLEXITY: ClassVar[Range] = Range(2.0, 100.0)
    N_NEIGHBORS: ClassVar[Range] = Range(2, 200)
    MIN_DIST: ClassVar[Range] = Range(0.0, 0.99)
    MAX_POINTS: ClassVar[Range] = Range(10, 10_000_000)

    method: str = "pca"  # one of METHODS
    dims: tuple[int, int] = (0, 1)  # the two latent dimensions of the direct view
    perplexity: float = 30.0  # t-SNE: effective number of neighbours (lowered to fit very few points)
    n_neighbors: int = 15  # UMAP: size of the local neighbourhood
    min_dist: float = 0.1  # UMAP: how tightly points may pack
    seed: int = 0  # t-SNE / UMAP initialisation and the subsample
    max_points: int | None = None  # None: the method's default_max_points

    def __post_init__(self):
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))
        check([
            (self.method in self.METHODS, f"projection must be one of {self.METHODS}, got {self.method!r}"),
            (len(self.dims) == 2 and min(self.dims) >= 0, f"dims must be two latent dimensions, got {self.dims}"),
            (self.PERPLEXITY.contains(self.perplexity),
             f"perplexity must be in {self.PERPLEXITY}, got {self.perplexity}"),
            (isinstance(self.n_neighbors, Integral) and self.N_NEIGHBORS.contains(self.n_neighbors),
             f"n_neighbors must be an integer {self.N_NEIGHBORS}, got {self.n_neighbors!r}"),
            (self.MIN_DIST.contains(self.min_dist), f"min_dist must be in {self.MIN_DIST}, got {self.min_dist}"),
            (isinstance(self.seed, Integral) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed!r}"),
            (self.max_points is None or (isinstance(self.max_points, Integral)
                                         and self.MAX_POINTS.contains(self.max_points)),
             f"max_points must be None or an integer {self.MAX_POINTS}, got {self.max_points!r}"),
        ])

    @property
    def info(self) -> Method:
        return METHOD_INFO[self.method]

    @property
    def point_cap(self) -> int | None:
        """The most points this method runs on (None: all)."""
        if self.info.places_points:
            return None  # exact and fast on any number of points
        return self.max_points if self.max_points is not None else self.info.default_max_points

    def cap(self, n: int) -> int:
        """How many of n points the projection uses."""
        return n if self.point_cap is None else min(n, self.point_cap)

    def key(self) -> str:
        """A stable file-name-safe string of everything that changes the map (and nothing that does not)."""
        if self.method == "direct":
            return f"direct-z{self.dims[0]}-z{self.dims[1]}"
        if self.method == "pca":
            return "pca"
        cap = "all" if self.point_cap is None else str(self.point_cap)
        if self.method == "tsne":
            return f"tsne-perplexity{self.perplexity:g}-seed{self.seed}-max{cap}"
        return f"umap-neighbors{self.n_neighbors}-mindist{self.min_dist:g}-seed{self.seed}-max{cap}"


@dataclass
class Projection:
    coords: np.ndarray  # (M, 2) float32
    indices: np.ndarray  # (M,) int64, rows of the encoded split these points are, increasing
    method: str
    explained: str  # a short caption: what the axes are
    note: str = ""  # the cap in words when not every point is drawn, else ""


def stratified_subsample(labels: np.ndarray | None, n: int, size: int, seed: int = 0) -> np.ndarray:
    """`size` of n row indices (sorted), keeping each label's share (largest remainders round up); uniform when
    there are no labels."""
    rng = np.random.default_rng(seed)
    if size >= n:
        return np.arange(n)
    if labels is None:
        return np.sort(rng.choice(n, size, replace=False))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / n
    quota = np.floor(exact).astype(int)
    quota[np.argsort(-(exact - quota), kind="stable")[: size - quota.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picked))


def compute(mu: np.ndarray, params: ProjectionParams, labels: np.ndarray | None = None,
            progress: ReportProgress | None = None, threads: int = PROJECTION_THREADS) -> Projection:
    """Project latent means (N, D) to 2-D as `params` says; `labels` (N,) stratify a capped subsample; t-SNE and
    UMAP use at most `threads` threads."""
    report = progress or (lambda fraction, message: None)
    mu = np.asarray(mu, dtype=np.float32)
    method = params.method
    if params.info.places_points:
        plane = fit_plane(mu, params)
        return Projection(plane.place(mu), np.arange(len(mu)), method, plane.explained)
    indices = stratified_subsample(labels, len(mu), params.cap(len(mu)), params.seed)
    note = _cap_note(method, len(indices), len(mu), labels is not None)
    report(0.0, f"{params.info.title} on {len(indices):,} points: starting")
    run = _tsne if method == "tsne" else _umap
    coords = run(mu[indices], params, report, max(1, int(threads)))
    report(1.0, "done")
    return Projection(np.asarray(coords, dtype=np.float32), indices, method,
                      f"{params.info.title} of {len(indices):,} points (axes have no units)", note)


def _cap_note(method: str, used: int, total: int, stratified: bool) -> str:
    if used == total:
        return ""
    how = "stratified by label" if stratified else "drawn uniformly"
    return f"{METHOD_INFO[method].title} on {used:,} of {total:,} points, {how}"


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


@dataclass(frozen=True)
class Plane:
    """A linear 2-D map of the latent space, u = basis (z - origin): two of z's dimensions, or its PCA plane."""

    origin: np.ndarray  # (D,)
    basis: np.ndarray  # (2, D)
    explained: str  # what the axes are

    def place(self, codes: np.ndarray) -> np.ndarray:
        """Codes (M, D) on this map: (M, 2) float32."""
        return ((np.asarray(codes, dtype=np.float64) - self.origin) @ self.basis.T).astype(np.float32)


def fit_plane(mu: np.ndarray, params: ProjectionParams) -> Plane:
    """The direct or PCA map of the codes (N, D), fitted once; t-SNE and UMAP have none (ValueError)."""
    mu = np.asarray(mu, dtype=np.float64)
    latent_dim = mu.shape[1]
    if params.method == "direct":
        dims = params.dims if latent_dim > 1 else (0,)  # a 1-D latent: a zero second axis
        if max(dims) >= latent_dim:
            raise ValueError(f"dims {params.dims} do not exist in a {latent_dim}-D latent space")
        basis = np.zeros((2, latent_dim))
        basis[range(len(dims)), dims] = 1.0
        return Plane(np.zeros(latent_dim), basis, _direct_axes(latent_dim, params.dims))
    if params.method == "pca":
        origin, basis = pca_plane(mu)
        centred = mu - origin
        share = float((centred @ basis.T).var(axis=0).sum() / centred.var(axis=0).sum()) if len(mu) > 1 else 1.0
        return Plane(origin, basis, f"top principal components ({share:.0%} of variance)")
    raise ValueError(f"{params.info.title} cannot place new points on an existing map; use 'pca' or 'direct'")


def _tsne(mu: np.ndarray, params: ProjectionParams, report: ReportProgress, threads: int) -> np.ndarray:
    """t-SNE of (M, D) points to (M, 2) with openTSNE (FFT-accelerated gradients: 47 CPU s for 10,000 MNIST means
    where scikit-learn's Barnes-Hut took 123, and 182 s for 70,000 where it had not finished after 900;
    benchmarks/RESULTS.md), its thread pools limited while it runs; progress every 50 iterations."""
    from openTSNE import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(params.perplexity, max(2.0, (len(mu) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, n_jobs=threads, random_state=params.seed,
                callbacks=_IterationProgress(report, len(mu)), callbacks_every_iters=_IterationProgress.EVERY)
    with threadpool_limits(limits=threads):
        report(0.02, f"t-SNE on {len(mu):,} points: nearest neighbours and affinities")
        return np.asarray(tsne.fit(mu), dtype=np.float32)


class _IterationProgress:
    """openTSNE's callback: called every EVERY iterations of its two phases (early exaggeration, then the rest)."""

    EVERY = 50
    LAYOUT_START = 0.15  # the affinities (no progress of their own) come first

    def __init__(self, report: ReportProgress, points: int):
        from openTSNE import TSNE

        defaults = TSNE()
        self.total = defaults.early_exaggeration_iter + defaults.n_iter
        self.report, self.points, self.done = report, points, 0

    def __call__(self, iteration: int, error: float, embedding) -> bool:
        self.done += self.EVERY
        self.report(self.LAYOUT_START + (1 - self.LAYOUT_START) * min(1.0, self.done / self.total),
                    f"t-SNE on {self.points:,} points: iteration {self.done} of {self.total}")
        return False  # go on


def _umap(mu: np.ndarray, params: ProjectionParams, report: ReportProgress, threads: int) -> np.ndarray:
    """UMAP of (M, D) points to (M, 2) with umap-learn, on the exact k nearest neighbours (scikit-learn) instead of
    its approximate search, and a PCA start instead of the spectral one: the two steps that took most of its
    default run on 70,000 MNIST means (benchmarks/RESULTS.md, "UMAP on 70,000"). A fixed seed makes the layout
    run on one thread, reproducibly."""
    from threadpoolctl import threadpool_limits

    report(0.02, "UMAP: loading (numba's kernels compile once per machine, then come from its disk cache)")
    umap = load_umap()
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # numba's own pool; threadpoolctl misses it
    n_neighbors = min(params.n_neighbors, len(mu) - 1)
    with threadpool_limits(limits=threads):
        report(0.05, f"UMAP on {len(mu):,} points: exact nearest neighbours")
        indices, distances = exact_neighbours(mu, n_neighbors, threads)
        report(_EpochProgress.LAYOUT_START, f"UMAP on {len(mu):,} points: neighbour graph and PCA start")
        reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=params.min_dist, random_state=params.seed, n_jobs=1,
                            init="pca", precomputed_knn=(indices, distances, None), n_epochs=layout_epochs(len(mu)),
                            tqdm_kwds={"disable": False, "file": _EpochProgress(report, len(mu)), "mininterval": 0.5})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"precomputed_knn\[2\]", UserWarning)  # no search index: no transform
            return reducer.fit_transform(mu)


def layout_epochs(points: int) -> int | None:
    """UMAP's layout epochs: LARGE_MAP_EPOCHS above LARGE_MAP_POINTS (umap-learn's own default there is 200, which
    doubled the time of a 70,000-point map for no visible gain: RESULTS.md, "UMAP on 70,000"); None (umap-learn's
    default, 500) for smaller maps, which are fast anyway."""
    return LARGE_MAP_EPOCHS if points > LARGE_MAP_POINTS else None


def exact_neighbours(x: np.ndarray, k: int, threads: int = PROJECTION_THREADS) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest rows of x (N, D) by Euclidean distance, itself first (as UMAP counts neighbours):
    (indices (N, k) int64, distances (N, k) float32). Exact: scikit-learn picks a KD-tree in up to 15 dimensions
    and brute force above, where trees lose (16-D MNIST means: RESULTS.md, "UMAP on 70,000")."""
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=k - 1, n_jobs=threads).fit(x)
    distances, indices = search.kneighbors()  # no query: every fitted row, itself left out
    itself = np.arange(len(x))[:, None]
    return (np.hstack([itself, indices]).astype(np.int64),
            np.hstack([np.zeros_like(itself, dtype=np.float32), distances.astype(np.float32)]))


def numba_cache_folder() -> Path:
    """Where numba keeps UMAP's compiled kernels: NUMBA_CACHE_DIR when set, else <user cache>/vae-explorer/numba
    (XDG_CACHE_HOME or ~/.cache): outside the source tree and site-packages, which may be read-only."""
    if os.environ.get(NUMBA_CACHE_ENV):
        return Path(os.environ[NUMBA_CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer" / "numba"


NUMBA_CACHE_ENV = "NUMBA_CACHE_DIR"
LARGE_MAP_POINTS = 10_000
LARGE_MAP_EPOCHS = 100


@functools.cache
def load_umap():
    """umap-learn, imported once per process, every numba kernel of it cached on disk in `numba_cache_folder()`.

    umap-learn compiles most of its kernels without numba's on-disk cache, so every new process paid the
    compilation again (RESULTS.md: seconds per cold process against a warm cache). numba reads its cache folder
    when a kernel is defined, so the folder is set before umap (and pynndescent) are imported; an unwritable
    folder leaves numba's own choice."""
    folder = numba_cache_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[NUMBA_CACHE_ENV] = str(folder)
    except OSError:
        pass
    import numba
    from numba.core.dispatcher import Dispatcher

    numba.core.config.reload_config()
    import umap
    import umap.layouts
    import umap.spectral
    import umap.umap_
    import umap.utils

    for module in (umap.umap_, umap.layouts, umap.spectral, umap.utils):
        for kernel in vars(module).values():
            if isinstance(kernel, Dispatcher):
                kernel.enable_caching()
    return umap


def warm_up_umap() -> None:
    """Compile (or read from the disk cache) the kernels a UMAP map needs, on a tiny dataset: a server that calls
    this at start spares its first visitor the compilation."""
    rng = np.random.default_rng(0)
    compute(rng.normal(size=(200, 3)).astype(np.float32), ProjectionParams("umap"))


class _EpochProgress:
    """A stream for the tqdm bar umap-learn draws over its layout epochs: "43/200" -> report(fraction)."""

    LAYOUT_START = 0.15  # the exact neighbours and the graph took a few seconds of the 70,000-point runs

    def __init__(self, report: ReportProgress, points: int):
        self.report, self.points = report, points

    def write(self, text: str) -> None:
        match = _TQDM_COUNT.search(text)
        if match and int(match[2]):
            done, total = int(match[1]), int(match[2])
            self.report(self.LAYOUT_START + (1 - self.LAYOUT_START) * done / total,
                        f"UMAP on {self.points:,} points: layout epoch {done} of {total}")

    def flush(self) -> None:
        pass


_TQDM_COUNT = re.compile(r"(\d+)/(\d+)")


def _direct_axes(latent_dim: int, dims: tuple[int, int]) -> str:
    return "latent dimension z0" if latent_dim < 2 else f"latent dimensions z{dims[0]} and z{dims[1]}"


def project_points(mu: np.ndarray, points: np.ndarray, method: str, dims: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Place new codes (M, D) on the 2-D map that `compute(mu, ProjectionParams(method, dims))` draws: (M, 2).
    t-SNE and UMAP maps are not extended to new points: ValueError."""
    return fit_plane(mu, ProjectionParams(method, dims)).place(points)


DEFAULT_STORE_ROOT = CACHE_ROOT / "projections"


class ProjectionStore:
    """Projections on disk, one .npz per (checkpoint sha256, split, params.key()) in an `ArrayStore`."""

    def __init__(self, root: str | Path = DEFAULT_STORE_ROOT):
        self.arrays = ArrayStore(root)

    def path(self, sha256: str, split: str, params: ProjectionParams) -> Path:
        return self.arrays.path(sha256, split, params.key())

    def get(self, sha256: str, split: str, params: ProjectionParams) -> Projection | None:
        f = self.arrays.get(sha256, split, params.key())
        try:
            return None if f is None else Projection(f["coords"], f["indices"], str(f["method"]),
                                                     str(f["explained"]), str(f["note"]))
        except KeyError:
            return None

    def put(self, sha256: str, split: str, params: ProjectionParams, projection: Projection) -> Path:
        return self.arrays.put(sha256, split, params.key(), {
            "coords": projection.coords.astype(np.float32), "indices": projection.indices.astype(np.int64),
            "method": np.array(projection.method), "explained": np.array(projection.explained),
            "note": np.array(projection.note)})
