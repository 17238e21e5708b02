"""Formation replay overhead: training with and without the per-epoch snapshots, interleaved in one process.

Two trainers with the same model, data and seed: one records the replay (TrainConfig.replay_points, the default
2,000 test codes), one does not (replay_points 0). Their epochs alternate, so a change in background load hits both
alike. Each epoch is timed end to end (`Trainer.run()` for one epoch: the steps, the test-set evaluation and, for
one of them, the snapshot), on the Train page's default data (MNIST) and model (VAEConfig's defaults).
"""

from __future__ import annotations

import dataclasses
import os
import time

import torch

from vae_core.models import VAE, VAEConfig
from vae_core.replay import MAX_POINTS
from vae_core.train import EpochEvent, SnapshotEvent, TrainConfig, Trainer

from .context import Context
from .report import Table, median

LIMIT = 0.10  # the bound on the overhead


def _trainer(dataset, replay_points: int, device: str) -> Trainer:
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=dataset.image_shape))
    return Trainer(model, dataset, TrainConfig(epochs=1, device=device, replay_points=replay_points))


def _epoch(trainer: Trainer) -> tuple[float, float]:
    """Seconds of one whole epoch, and of its snapshot alone (0 without one): the trainer computes the snapshot
    between yielding the EpochEvent and the SnapshotEvent, so the time between the two is the snapshot's."""
    started = time.perf_counter()
    epoch_done = snapshot = 0.0
    for event in trainer.run():
        if isinstance(event, EpochEvent):
            epoch_done = time.perf_counter()
        elif isinstance(event, SnapshotEvent):
            snapshot = time.perf_counter() - epoch_done
    return time.perf_counter() - started, snapshot


def run(ctx: Context) -> list[Table]:
    table = Table("Formation replay: training with and without per-epoch snapshots (interleaved)",
                  ["dataset", "epochs each", "epoch s without", "epoch s with", "overhead", "snapshot ms",
                   f"within {LIMIT:.0%}"])
    dataset = ctx.mnist
    if dataset is None:
        table.notes.append(ctx.mnist_missing)
        return [table]
    epochs = 1 if ctx.settings.quick else 3
    with_replay = _trainer(dataset, MAX_POINTS, ctx.settings.device)
    without = _trainer(dataset, 0, ctx.settings.device)
    times: dict[str, list[float]] = {"with": [], "without": [], "snapshot": []}
    for _ in range(epochs):
        seconds, _ = _epoch(without)
        times["without"].append(seconds)
        seconds, snapshot = _epoch(with_replay)
        times["with"].append(seconds)
        times["snapshot"].append(snapshot)
    plain, recorded = median(times["without"]), median(times["with"])
    overhead = recorded / plain - 1
    table.add(f"MNIST ({len(dataset.x_train):,} train)", epochs, plain, recorded, f"{overhead:+.1%}",
              median(times["snapshot"]) * 1000, overhead <= LIMIT)
    assert len(with_replay.replay.frames) == epochs and without.replay is None
    table.notes += [
        f"Model: VAEConfig defaults ({dataclasses.asdict(VAEConfig())['architecture']}, hidden "
        f"{VAEConfig().hidden_dims}, 2-D latent), batch {TrainConfig().batch_size}, {torch.get_num_threads()} torch "
        f"thread(s), load average {os.getloadavg()[0]:.2f} at the end.",
        f"Epoch seconds are medians over {epochs} epochs per trainer, each timed end to end (steps, test ELBO and, "
        f"with snapshots, encoding {MAX_POINTS:,} class-balanced test codes); 'snapshot ms' is that encoding alone.",
        "Per-epoch times: without " + ", ".join(f"{s:.2f}" for s in times["without"]) + " s; with "
        + ", ".join(f"{s:.2f}" for s in times["with"]) + " s.",
    ]
    return [table]
