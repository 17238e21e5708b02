"""Training in the server's process (a thread, as before the job queue) against a worker process.

One MNIST run (the Train page's defaults) trains for a fixed window while this process plays the server: it polls
the run as the Train page does (progress and previews every second) and, on another thread, runs a small pure-
Python task every 50 ms, as a session's script would, timing how late it finishes (the GIL's cost). Reported per
mode: the run's steps/s (summed over the runs of "2 workers", two runs at once on one thread each: what a cap of
two would do), this process's CPU (getrusage of itself only: a worker's CPU is not counted) and the
probe's latency. Modes are interleaved over rounds, so a busy box slows all of them alike; `uptime` is recorded.

`python -m benchmarks.worker_training [--seconds 20] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time

import torch

from vae_core.background import JobConfig, start_training
from vae_core.checkpoint import DatasetInfo
from vae_core.data import load_dataset
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob

PROBE_EVERY_S = 0.05
PROBE_WORK = 20_000  # a loop of this many additions: ~1 ms of pure Python on an idle core


def probe(stop: threading.Event, delays: list[float]) -> None:
    while not stop.wait(PROBE_EVERY_S):
        started = time.perf_counter()
        total = 0
        for i in range(PROBE_WORK):
            total += i
        delays.append((time.perf_counter() - started) * 1000)


def start(mode: str, dataset, threads: int) -> list:
    train, model = TrainConfig(epochs=1000, device="cpu"), VAEConfig(image_shape=dataset.image_shape)
    if mode == "thread":
        return [start_training(dataset, train, model, job_config=JobConfig(num_threads=threads))]
    runs = 2 if mode == "2 workers" else 1
    return [WorkerTrainingJob(DatasetInfo.of(dataset), train, model).start(threads=threads) for _ in range(runs)]


def steps(jobs: list) -> int:
    return sum(job.progress().steps_done for job in jobs)


def measure(mode: str, dataset, threads: int, seconds: float) -> dict:
    jobs = start(mode, dataset, threads)
    try:
        while min(job.progress().steps_done for job in jobs) < 5:
            time.sleep(0.05)
        stop, delays = threading.Event(), []
        prober = threading.Thread(target=probe, args=(stop, delays), daemon=True)
        steps0, cpu0, wall0 = steps(jobs), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        prober.start()
        while time.perf_counter() - wall0 < seconds:
            for job in jobs:
                job.keep_alive()
                job.progress()
                job.previews()
            time.sleep(1.0)
        stop.set()
        prober.join()
        wall = time.perf_counter() - wall0
        cpu1, steps1 = resource.getrusage(resource.RUSAGE_SELF), steps(jobs)
    finally:
        for job in jobs:
            job.stop()
            job.join(timeout=60)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    delays.sort()
    return {"steps_per_s": (steps1 - steps0) / wall, "server_cpu": cpu / wall,
            "probe_p50": statistics.median(delays), "probe_p95": delays[int(0.95 * (len(delays) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("mnist")
    modes = [("thread", 1), ("worker", 1), ("worker", 2), ("2 workers", 1)]
    results = {mode: [] for mode in modes}
    print(f"uptime before: {os.popen('uptime').read().strip()}")
    for round_ in range(args.rounds):
        for mode in modes:
            row = measure(mode[0], dataset, mode[1], args.seconds)
            results[mode].append(row)
            print(f"round {round_ + 1} {mode[0]:9} threads={mode[1]}: {row['steps_per_s']:6.1f} steps/s, server CPU "
                  f"{row['server_cpu']:.0%} of a core, probe p50/p95 {row['probe_p50']:.1f}/{row['probe_p95']:.1f} ms"
                  f" | {os.popen('uptime').read().strip()}", flush=True)
    print("\nmedians over rounds")
    for (mode, threads), rows in results.items():
        med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        print(f"{mode:9} threads={threads}: {med['steps_per_s']:6.1f} steps/s, server CPU {med['server_cpu']:.0%}, "
              f"probe p50/p95 {med['probe_p50']:.1f}/{med['probe_p95']:.1f} ms")


if __name__ == "__main__":
    main()
