"""Cached loaders, shared by every session: checkpoints by content, datasets, encodings and projections.

For the embedding inspector: `encodings(checkpoint, split)` and `example_terms(checkpoint, split)` take split
"train", "test" or "all" (train then test, `vae_core.data.Split`); both are also kept on disk
(`disk_store("examples")`), so a restarted server does not encode or score 70,000 images again;
`projection(checkpoint, params, split)` computes a map in the page's thread (fine for direct and PCA; t-SNE and
UMAP go through ui/projections.py, in the background and on disk).

Everything here is read-only once loaded (models in eval mode, arrays not written to), so sessions share it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from vae_core.checkpoint import Checkpoint, load_checkpoint_bytes
from vae_core.data import Dataset, load_dataset
from vae_core.density import (
    AggregatePosterior,
    DensityConfig,
    DensityGrid,
    ScoredPriorSamples,
    density_grid,
    grid_extent,
    kl_posterior_to_prior,
    score_prior_samples,
)
from vae_core.distributions import DiagonalGaussian
from vae_core.errors import VAEError
from vae_core.metrics import DimensionActivity, encode_posterior, per_example_terms
from vae_core.projection import Projection, ProjectionParams, compute
from vae_core.roots import DataRoots
from vae_core.store import CACHE_ROOT, ArrayStore

CACHE_ENV = "VAE_CACHE_DIR"  # another folder for the disk caches (tests, read-only checkouts)


def disk_store(kind: str) -> ArrayStore:
    """The disk cache of one kind of derived arrays ("examples", "projections"), under CACHE_ENV or CACHE_ROOT."""
    return ArrayStore(os.path.join(os.environ.get(CACHE_ENV) or CACHE_ROOT, kind))


def _kept_on_disk(checkpoint: Checkpoint, split: str, name: str, compute_arrays: Callable[[], dict]) -> dict:
    """Arrays (N, ...) of a split from the disk cache when it has them for this many examples, else computed and
    stored (a store that cannot be written, e.g. a read-only checkout, only costs the next restart its time)."""
    store, n = disk_store("examples"), len(dataset_for(checkpoint).split(split))
    arrays = store.get(checkpoint.sha256, split, name)
    if arrays is not None and all(len(values) == n for values in arrays.values()):
        return arrays
    arrays = compute_arrays()
    try:
        store.put(checkpoint.sha256, split, name, arrays)
    except OSError:
        pass
    return arrays


@st.cache_resource(max_entries=16, show_spinner=False)
def _checkpoint(sha256: str, _data: bytes) -> Checkpoint:
    # Keyed by content only: the bytes themselves are not hashed again by Streamlit (leading underscore).
    return load_checkpoint_bytes(_data)


def checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint file's bytes, loaded and validated once per content; raises VAEError on a bad file."""
    return _checkpoint(hashlib.sha256(data).hexdigest(), data)


@st.cache_resource(max_entries=4, show_spinner="Loading dataset...")
def _dataset(name: str, options_json: str, roots_json: str) -> Dataset:
    folders = json.loads(roots_json)
    roots = None if folders is None else DataRoots(tuple(Path(folder) for folder in folders))
    return load_dataset(name, roots=roots, **json.loads(options_json))


def dataset(name: str, options: dict, roots: DataRoots | None = None) -> Dataset:
    """A dataset the user chose by name and options (with `roots`, only inside them); raises VAEError if it
    cannot be loaded."""
    folders = None if roots is None else [str(folder) for folder in roots.folders]
    return _dataset(name, json.dumps(options, sort_keys=True), json.dumps(folders))


def checkpoint_dataset(checkpoint: Checkpoint, roots: DataRoots | None) -> Dataset:
    """The dataset a model was trained on, reloaded the one safe way (`DatasetInfo.loading_options`: a stored
    option never makes the server download, and with `roots` no stored path is followed: it is looked up by name
    inside them); raises VAEError if it cannot be loaded."""
    info = checkpoint.dataset
    return dataset(info.name, info.loading_options(roots=roots), roots)


def dataset_for(checkpoint: Checkpoint) -> Dataset:
    """`checkpoint_dataset` where this session may read it (`state.dataset_roots`), or stop the page with a
    message saying why it cannot be loaded."""
    from .settings import settings
    from .state import dataset_roots  # state imports this module

    try:
        return checkpoint_dataset(checkpoint, dataset_roots(checkpoint))
    except VAEError as exc:
        upload = " (or, for an image folder, upload it as a zip of that name on the Train page)" \
            if settings().shared else ""
        st.error(f"The model's dataset could not be loaded: {exc}{upload}.")
        st.stop()


@st.cache_data(max_entries=8, show_spinner="Encoding the dataset...")
def _encodings(sha256: str, split: str, _checkpoint: Checkpoint, _dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    def encode() -> dict:
        examples = _dataset.split(split)
        # y: a conditional model's encoder takes the class
        posterior = encode_posterior(_checkpoint.model, examples.x, examples.y)
        return {"mu": posterior.mu.numpy(), "logvar": posterior.logvar.numpy()}

    arrays = _kept_on_disk(_checkpoint, split, "encodings", encode)
    return arrays["mu"], arrays["logvar"]


def encodings(checkpoint: Checkpoint, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N, D) of a split ("train", "test", "all"), cached per checkpoint content."""
    return _encodings(checkpoint.sha256, split, checkpoint, dataset_for(checkpoint))


@st.cache_data(max_entries=16, show_spinner=False)
def _dimension_activity(sha256: str, _mu: np.ndarray, _logvar: np.ndarray) -> DimensionActivity:
    return DimensionActivity.of(DiagonalGaussian(torch.tensor(_mu), torch.tensor(_logvar)))


def dimension_activity(checkpoint: Checkpoint) -> DimensionActivity:
    """Each latent dimension's mean KL to the prior over the test split, and the most active first; cached."""
    mu, logvar = encodings(checkpoint)
    return _dimension_activity(checkpoint.sha256, mu, logvar)


@st.cache_data(max_entries=8, show_spinner="Scoring every example (reconstruction, KL, ELBO)...")
def _example_terms(sha256: str, split: str, _checkpoint: Checkpoint, _dataset: Dataset) -> dict[str, np.ndarray]:
    def score() -> dict:
        from .jobs import run_in_worker  # jobs imports state, which imports this module

        examples = _dataset.split(split)  # scored in a queued worker: 70,000 examples are tens of CPU seconds
        return run_in_worker("Scoring every example", per_example_terms, _checkpoint.model, examples.x, examples.y)

    return _kept_on_disk(_checkpoint, split, "terms", score)


def example_terms(checkpoint: Checkpoint, split: str = "test") -> dict[str, np.ndarray]:
    """recon, kl and elbo (N,) per example of a split (`vae_core.metrics.per_example_terms`), cached."""
    return _example_terms(checkpoint.sha256, split, checkpoint, dataset_for(checkpoint))


@st.cache_data(max_entries=8, show_spinner="Projecting the latent means to 2-D...")
def _projection(sha256: str, split: str, key: str, _params: ProjectionParams, _mu: np.ndarray,
                _labels: np.ndarray) -> Projection:
    return compute(_mu, _params, labels=_labels)


def projection(checkpoint: Checkpoint, params: ProjectionParams, split: str = "test") -> Projection:
    """2-D map of a split's latent means, computed here and cached per checkpoint content; for direct and PCA
    (t-SNE and UMAP: `ui.projections.request`, which runs them in the background and keeps them on disk)."""
    mu, _ = encodings(checkpoint, split)
    labels = dataset_for(checkpoint).split(split).y
    return _projection(checkpoint.sha256, split, params.key(), params, mu, labels.numpy())


def _aggregate_posterior(mu: np.ndarray, logvar: np.ndarray, config: DensityConfig) -> AggregatePosterior:
    return AggregatePosterior.from_encodings(mu, logvar, config.max_components, config.seed)


@st.cache_data(max_entries=8, show_spinner="Scoring prior samples by the aggregate posterior's density...")
def _scored_prior_samples(sha256: str, config: DensityConfig, _mu: np.ndarray,
                          _logvar: np.ndarray) -> tuple[ScoredPriorSamples, float]:
    posterior = _aggregate_posterior(_mu, _logvar, config)
    scored = score_prior_samples(posterior, config.prior_samples, config.seed)
    return scored, kl_posterior_to_prior(posterior, config.prior_samples, config.seed)


def scored_prior_samples(checkpoint: Checkpoint, config: DensityConfig) -> tuple[ScoredPriorSamples, float]:
    """Prior draws scored by the test set's aggregate posterior q(z), and the Monte-Carlo KL(q(z) || p(z))."""
    mu, logvar = encodings(checkpoint)
    return _scored_prior_samples(checkpoint.sha256, config, mu, logvar)


@st.cache_data(max_entries=16, show_spinner="Evaluating the aggregate posterior's density over the plane...")
def _aggregate_density_grid(sha256: str, config: DensityConfig, basis_key: bytes, _basis: np.ndarray,
                            _mu: np.ndarray, _logvar: np.ndarray) -> DensityGrid:
    extent = grid_extent(_mu @ _basis.T, config.extent)
    return density_grid(_aggregate_posterior(_mu, _logvar, config).on_plane(_basis), extent, config.grid_size)


def aggregate_density_grid(checkpoint: Checkpoint, basis: np.ndarray, config: DensityConfig) -> DensityGrid:
    """The test set's aggregate posterior, marginal on the plane u = basis z (basis (2, D)), over a grid."""
    mu, logvar = encodings(checkpoint)
    return _aggregate_density_grid(checkpoint.sha256, config, np.asarray(basis).tobytes(), basis, mu, logvar)
