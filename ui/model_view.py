"""The model a page explores: its checkpoint, its dataset (found once, where this visitor may read it) and what the
pages derive from the two, computed on first use and kept with it.

`current()` is the session's current model as a `ModelView`, shared by every session that reads the same checkpoint
from the same data roots (st.cache_resource, keyed by the checkpoint's sha256 and the roots: in shared mode a
dataset is looked up inside the visitor's roots, so two visitors may find different datasets under one name).
A dataset that cannot be read is the view's `problem`, never cached (an upload may bring it); `page_intro`
(ui/navigation.py) shows it and stops the page.

Derived values: `encodings(split)` and `terms(split)` take split "train", "test" or "all" (train then test,
`vae_core.data.Split`); both are also kept on disk (`cache.disk_store("examples")`), so a restarted server does not
encode or score 70,000 images again. `projection(params, split)` is for direct and PCA (t-SNE and UMAP go
through ui/projections.py, in the background and on disk). Everything is read-only once computed (arrays are not
written to: a page copies before changing one), so sessions share it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import nullcontext
from typing import Any

import numpy as np
import streamlit as st
import torch

from vae_core.checkpoint import Checkpoint
from vae_core.data import Dataset
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
from vae_core.models import VAE
from vae_core.projection import Projection, ProjectionParams, compute
from vae_core.roots import DataRoots

from . import cache, state
from .settings import settings

MAX_DERIVED = 24  # derived values kept per view (encodings and terms per split, maps, density grids); oldest dropped


class ModelView:
    """A checkpoint with its dataset, as this visitor may read it (`roots`: None for the stored paths of a trusted
    model in local mode, else looked up by name inside them), or the `problem` that keeps it from being read."""

    def __init__(self, checkpoint: Checkpoint, roots: DataRoots | None, dataset: Dataset | None = None,
                 problem: VAEError | None = None):
        self.checkpoint, self.roots, self.dataset, self.problem = checkpoint, roots, dataset, problem
        self._derived: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def sha256(self) -> str:
        return self.checkpoint.sha256

    @property
    def model(self) -> VAE:
        return self.checkpoint.model

    def encodings(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances (N, D) of a split."""
        arrays = self._derive(("encodings", split), "Encoding the dataset...",
                              lambda: self._kept_on_disk(split, "encodings", lambda: self._encode(split)))
        return arrays["mu"], arrays["logvar"]

    def terms(self, split: str = "test") -> dict[str, np.ndarray]:
        """recon, kl and elbo (N,) per example of a split (`vae_core.metrics.per_example_terms`)."""
        return self._derive(("terms", split), "Scoring every example (reconstruction, KL, ELBO)...",
                            lambda: self._kept_on_disk(split, "terms", lambda: self._score(split)))

    @property
    def activity(self) -> DimensionActivity:
        """Each latent dimension's mean KL to the prior over the test split, and the most active first."""
        def measure() -> DimensionActivity:
            mu, logvar = self.encodings()
            return DimensionActivity.of(DiagonalGaussian(torch.tensor(mu), torch.tensor(logvar)))

        return self._derive(("activity",), None, measure)

    def projection(self, params: ProjectionParams, split: str = "test") -> Projection:
        """2-D map of a split's latent means, computed here; for direct and PCA."""
        return self._derive(("projection", split, params.key()), "Projecting the latent means to 2-D...",
                            lambda: compute(self.encodings(split)[0], params, labels=self.labels(split)))

    def labels(self, split: str = "test") -> np.ndarray:
        """The split's labels (N,)."""
        return self.dataset.split(split).y.numpy()

    def scored_prior_samples(self, config: DensityConfig) -> tuple[ScoredPriorSamples, float]:
        """Prior draws scored by the test set's aggregate posterior q(z), and the Monte-Carlo KL(q(z) || p(z))."""
        def score() -> tuple[ScoredPriorSamples, float]:
            posterior = self._aggregate_posterior(config)
            scored = score_prior_samples(posterior, config.prior_samples, config.seed)
            return scored, kl_posterior_to_prior(posterior, config.prior_samples, config.seed)

        return self._derive(("prior", config), "Scoring prior samples by the aggregate posterior's density...", score)

    def aggregate_density_grid(self, basis: np.ndarray, config: DensityConfig) -> DensityGrid:
        """The test set's aggregate posterior, marginal on the plane u = basis z (basis (2, D)), over a grid."""
        basis = np.asarray(basis)

        def evaluate() -> DensityGrid:
            extent = grid_extent(self.encodings()[0] @ basis.T, config.extent)
            return density_grid(self._aggregate_posterior(config).on_plane(basis), extent, config.grid_size)

        return self._derive(("density", config, basis.tobytes()),
                            "Evaluating the aggregate posterior's density over the plane...", evaluate)

    def _aggregate_posterior(self, config: DensityConfig) -> AggregatePosterior:
        mu, logvar = self.encodings()
        return AggregatePosterior.from_encodings(mu, logvar, config.max_components, config.seed)

    def _encode(self, split: str) -> dict[str, np.ndarray]:
        examples = self.dataset.split(split)
        posterior = encode_posterior(self.model, examples.x, examples.y)  # y: a conditional encoder takes the class
        return {"mu": posterior.mu.numpy(), "logvar": posterior.logvar.numpy()}

    def _score(self, split: str) -> dict[str, np.ndarray]:
        from .jobs import run_in_worker  # jobs imports state; a worker: 70,000 examples are tens of CPU seconds

        examples = self.dataset.split(split)
        return run_in_worker("Scoring every example", per_example_terms, self.model, examples.x, examples.y)

    def _kept_on_disk(self, split: str, name: str, compute_arrays: Callable[[], dict]) -> dict:
        """Arrays (N, ...) of a split from the disk cache when it has them for this many examples, else computed
        and stored (a store that cannot be written, e.g. a read-only checkout, only costs the next restart its
        time)."""
        store, n = cache.disk_store("examples"), len(self.dataset.split(split))
        arrays = store.get(self.sha256, split, name)
        if arrays is not None and all(len(values) == n for values in arrays.values()):
            return arrays
        arrays = compute_arrays()
        try:
            store.put(self.sha256, split, name, arrays)
        except OSError:
            pass
        return arrays

    def _derive(self, key: Hashable, spinner: str | None, make: Callable[[], Any]) -> Any:
        """`make()`'s value, computed once per key however many sessions ask at once, kept among the newest
        MAX_DERIVED."""
        with self._lock:
            if key in self._derived:
                self._derived.move_to_end(key)
                return self._derived[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._derived:  # another session made it while this one waited
                    return self._derived[key]
            try:
                with st.spinner(spinner) if spinner else nullcontext():
                    value = make()
                with self._lock:
                    self._derived[key] = value
                    while len(self._derived) > MAX_DERIVED:
                        self._derived.popitem(last=False)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            return value


@st.cache_resource(max_entries=cache.MAX_DATASETS, show_spinner=False)  # each view holds its dataset
def _view(sha256: str, roots: DataRoots | None, _checkpoint: Checkpoint) -> ModelView:
    # Keyed by the checkpoint's content and the roots; raises VAEError (not cached) if the dataset cannot be read.
    return ModelView(_checkpoint, roots, cache.checkpoint_dataset(_checkpoint, roots))


def of(checkpoint: Checkpoint, roots: DataRoots | None) -> ModelView:
    """The view of `checkpoint` with its dataset read as `roots` allow (`cache.checkpoint_dataset`), or carrying
    the problem that keeps it from being read."""
    try:
        return _view(checkpoint.sha256, roots, checkpoint)
    except VAEError as exc:
        return ModelView(checkpoint, roots, problem=exc)


def current() -> ModelView:
    """The current model's view, its dataset read where this session may (`state.dataset_roots`); stops the page
    with a message if there is no model."""
    checkpoint = state.current_checkpoint()
    return of(checkpoint, state.dataset_roots(checkpoint))


def current_or_stop() -> ModelView:
    """`current()`, or stop the page with a message saying why the model's dataset cannot be loaded."""
    view = current()
    if view.problem is not None:
        upload = " (or, for an image folder, upload it as a zip of that name on the Train page)" \
            if settings().shared else ""
        st.error(f"The model's dataset could not be loaded: {view.problem}{upload}.")
        st.stop()
    return view
