"""t-SNE under thread oversubscription (defect 8): scikit-learn's default threads vs `projection.compute`.

In the app, t-SNE of the 359 digits test means took 36 s (1.7 s in a fresh one-thread process): scikit-learn's
OpenMP runtime and torch's own (a second libgomp) each start one thread per core, while a training thread and
other sessions hold the cores. This measures, in one process with torch's pool warm, interleaved so that load
hits both alike, the old call (scikit-learn's default threads) against `projection.compute` with t-SNE (thread pools
limited to `projection.TSNE_THREADS`), idle and while a background training job runs. The 1-minute load average
is printed beside every timing. Since issue 13 `compute` runs openTSNE, so "after" also changed library (the
numbers in RESULTS.md were taken with scikit-learn on both sides).

Run it alone (a few minutes, most of them in the "before" calls; not part of `make bench`):
`python -m benchmarks.projection_threads [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vae_core.background import start_training
from vae_core.checkpoint import load_checkpoint
from vae_core.metrics import encode_posterior
from vae_core.models import VAEConfig
from vae_core.projection import TSNE_THREADS, ProjectionParams, compute
from vae_core.train import TrainConfig

from .context import REPO, Context, Settings
from .report import Table, timed

MODEL = REPO / "checkpoints" / "digits-8d.safetensors"  # 8-D: the scatter page offers t-SNE for it


def default_threads_tsne(mu: np.ndarray) -> np.ndarray:
    """t-SNE exactly as `latent.project_2d` called it before the fix: scikit-learn picks its thread count."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(mu) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(mu)


def warm_torch_pool() -> None:
    """A parallel matmul, as the app has done before anyone opens the scatter page: torch's threads exist."""
    torch.randn(512, 512) @ torch.randn(512, 512)


def load_1min() -> float:
    return os.getloadavg()[0]


def measure(table: Table, condition: str, mu: np.ndarray, repeats: int) -> None:
    for repeat in range(repeats):
        after = (f"compute, {TSNE_THREADS} thread (after)", lambda m: compute(m, ProjectionParams("tsne")))
        for label, project in (("scikit-learn default threads (before)", default_threads_tsne), after):
            warm_torch_pool()
            seconds, _ = timed(lambda: project(mu))
            table.add(condition, repeat + 1, label, seconds, load_1min())


def run(ctx: Context) -> list[Table]:
    digits = ctx.digits
    mu = encode_posterior(load_checkpoint(MODEL).model, digits.x_test).mu.numpy()
    repeats = 1 if ctx.settings.quick else 3
    table = Table(f"t-SNE of the {len(mu)} digits test means (8-D model), seconds, one process, interleaved",
                  ["condition", "repeat", "t-SNE call", "seconds", "load avg (1 min)"])
    measure(table, "no training in this process (torch pool warm)", mu, repeats)
    job = start_training(digits, TrainConfig(epochs=10_000, batch_size=64, device="cpu"),
                         VAEConfig(image_shape=digits.image_shape, latent_dim=8))
    try:
        measure(table, "a training job running", mu, repeats)
    finally:
        job.stop()
        job.join()
    table.notes += [f"{os.cpu_count()} CPU cores; torch {torch.__version__}, {torch.get_num_threads()} threads.",
                    "The load average includes whatever else the machine was running at the time."]
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projection_threads", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one repeat per condition")
    args = parser.parse_args()
    started = time.perf_counter()
    for table in run(Context(Settings.quick_run() if args.quick else Settings.full())):
        print(table.text())
        print(table.markdown())
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
