"""A beta sweep (the Compare page's: one run per beta, all submitted at once) against training the same models one
by one (each submitted when the one before has ended), through the same job queue.

Each run is a WorkerTrainingJob of the Train page's default model on MNIST with its beta, as the page queues it;
the queue is the app's JobQueue as the app configures it (one single-thread job per core; `--slots`). Reported
per mode: wall time from the first submission to the last run's end, and each run's steps/s. Modes alternate
(and swap order each round), so a busy box slows both alike; `uptime` is printed beside every row.

`python -m benchmarks.sweep [--betas 0.5 1 4] [--epochs 2] [--rounds 2] [--slots N]`
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from ui.job_queue import TRAINING, JobQueue, QueueConfig
from vae_core.checkpoint import DatasetInfo
from vae_core.data import load_dataset
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob

MODES = ("sweep", "one by one")


def runs(dataset, betas: list[float], epochs: int) -> list[WorkerTrainingJob]:
    info, train = DatasetInfo.of(dataset), TrainConfig(epochs=epochs, device="cpu")
    return [WorkerTrainingJob(info, train, VAEConfig(image_shape=dataset.image_shape, beta=beta)) for beta in betas]


def measure(mode: str, dataset, betas: list[float], epochs: int, slots: int) -> dict:
    queue, jobs = JobQueue(QueueConfig(max_running=slots)), runs(dataset, betas, epochs)
    started = time.perf_counter()
    for i, job in enumerate(jobs):
        queue.submit(job, f"bench/sweep/beta={betas[i]:g}", TRAINING)
        if mode == "one by one":
            job.join()
    for job in jobs:
        job.join()
    wall = time.perf_counter() - started
    progress = [job.progress() for job in jobs]
    assert all(p.finished.reason == "completed" for p in progress), [p.finished for p in progress]
    return {"wall_s": wall, "steps_per_s": [p.steps_per_second for p in progress]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--betas", type=float, nargs="+", default=[0.5, 1.0, 4.0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slots", type=int, default=QueueConfig().max_running, help="default: the app's queue's")
    args = parser.parse_args()
    dataset = load_dataset("mnist")
    results = {mode: [] for mode in MODES}
    print(f"{len(args.betas)} MNIST runs (betas {args.betas}), {args.epochs} epochs each, queue of {args.slots} "
          f"single-thread slots; uptime before: {os.popen('uptime').read().strip()}")
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            row = measure(mode, dataset, args.betas, args.epochs, args.slots)
            results[mode].append(row)
            print(f"round {round_ + 1} {mode:10}: {row['wall_s']:6.1f} s wall, steps/s per run "
                  f"{', '.join(f'{s:.0f}' for s in row['steps_per_s'])} | {os.popen('uptime').read().strip()}",
                  flush=True)
    medians = {mode: statistics.median(row["wall_s"] for row in rows) for mode, rows in results.items()}
    print(f"\nmedian wall: sweep {medians['sweep']:.1f} s, one by one {medians['one by one']:.1f} s, "
          f"one by one / sweep = {medians['one by one'] / medians['sweep']:.2f}")


if __name__ == "__main__":
    main()
