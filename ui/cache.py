"""Cached loaders, shared by every session: checkpoints by content, datasets, encodings and projections.

Everything here is read-only once loaded (models in eval mode, arrays not written to), so sessions share it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import streamlit as st

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
from vae_core.errors import VAEError
from vae_core.latent import Projection, project_2d
from vae_core.metrics import encode_means


@st.cache_resource(max_entries=16, show_spinner=False)
def _checkpoint(sha256: str, _data: bytes) -> Checkpoint:
    # Keyed by content only: the bytes themselves are not hashed again by Streamlit (leading underscore).
    return load_checkpoint_bytes(_data)


def checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint file's bytes, loaded and validated once per content; raises VAEError on a bad file."""
    return _checkpoint(hashlib.sha256(data).hexdigest(), data)


@st.cache_resource(max_entries=4, show_spinner="Loading dataset...")
def _dataset(name: str, options_json: str) -> Dataset:
    return load_dataset(name, **json.loads(options_json))


def dataset(name: str, options: dict) -> Dataset:
    """A dataset the user chose by name and options; raises VAEError if it cannot be loaded."""
    return _dataset(name, json.dumps(options, sort_keys=True))


def checkpoint_dataset(checkpoint: Checkpoint) -> Dataset:
    """The dataset a model was trained on, reloaded the one safe way (`DatasetInfo.load`: a checkpoint's stored
    options can never make the server download); raises VAEError if it cannot be loaded."""
    info = checkpoint.dataset
    return _dataset(info.name, json.dumps(info.loading_options(), sort_keys=True))


def dataset_for(checkpoint: Checkpoint) -> Dataset:
    """`checkpoint_dataset`, or stop the page with a message saying why it cannot be loaded."""
    try:
        return checkpoint_dataset(checkpoint)
    except VAEError as exc:
        st.error(f"The model's dataset could not be loaded: {exc}")
        st.stop()


@st.cache_data(max_entries=8, show_spinner="Encoding the dataset...")
def _encodings(sha256: str, split: str, _checkpoint: Checkpoint, _dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    x, y = _dataset.split(split)
    mu, logvar = encode_means(_checkpoint.model, x, y)  # y: a conditional model's encoder takes the class
    return mu.numpy(), logvar.numpy()


def encodings(checkpoint: Checkpoint, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N, D) of a split, cached per checkpoint content."""
    return _encodings(checkpoint.sha256, split, checkpoint, dataset_for(checkpoint))


@st.cache_data(max_entries=8, show_spinner="Projecting the latent means to 2-D...")
def _projection(sha256: str, split: str, method: str, max_points: int, dims: tuple[int, int],
                _mu: np.ndarray) -> Projection:
    return project_2d(_mu, method, max_points=max_points, dims=dims)


def projection(checkpoint: Checkpoint, method: str, max_points: int = 5000, split: str = "test",
               dims: tuple[int, int] = (0, 1)) -> Projection:
    """2-D map of a split's latent means (`dims` for the direct view), cached per checkpoint content."""
    mu, _ = encodings(checkpoint, split)
    return _projection(checkpoint.sha256, split, method, max_points, tuple(dims), mu)


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
