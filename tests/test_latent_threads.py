"""t-SNE runs on TSNE_THREADS threads, whatever pools torch and the libraries started (defect 8: 36 s in the app)."""

from __future__ import annotations

import numpy as np
import torch
from openTSNE import TSNE
from threadpoolctl import threadpool_info

from vae_core.projection import TSNE_THREADS, ProjectionParams, compute


def test_tsne_runs_with_its_thread_pools_limited_and_restores_them(monkeypatch):
    torch.randn(64, 64) @ torch.randn(64, 64)  # torch's OpenMP pool exists, as in the app
    before = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    seen_inside = []
    fit = TSNE.fit

    def recording_fit(self, x, *args, **kwargs):
        seen_inside.extend(p["num_threads"] for p in threadpool_info())
        assert self.n_jobs == TSNE_THREADS  # openTSNE's own threads (neighbour search, gradients)
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(TSNE, "fit", recording_fit)
    mu = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    projection = compute(mu, ProjectionParams("tsne"))
    assert projection.coords.shape == (60, 2) and np.isfinite(projection.coords).all()
    assert seen_inside and all(n == TSNE_THREADS for n in seen_inside)
    assert {(p["filepath"], p["num_threads"]) for p in threadpool_info()} == before
