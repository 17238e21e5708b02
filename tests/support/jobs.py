"""Background work in tests: waiting for it, and the tiny training runs it does."""

from __future__ import annotations

import time

from vae_core.background import JobConfig, TrainingJob, start_training
from vae_core.checkpoint import DatasetInfo
from vae_core.models import VAEConfig
from vae_core.train import TrainConfig
from vae_core.train_worker import WorkerTrainingJob

TINY = {"latent_dim": 2, "hidden_dims": (32, 16)}


def wait_until(condition, timeout: float = 30.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the training thread"
        time.sleep(interval)


def tiny_train_config(epochs: int, **train) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=64, learning_rate=2e-3, device="cpu", **train)


def tiny_job(dataset, epochs: int, job_config: JobConfig | None = None, **train) -> TrainingJob:
    """A tiny model training on `dataset` in a thread, started."""
    return start_training(dataset, tiny_train_config(epochs, **train), VAEConfig(image_shape=dataset.image_shape,
                                                                                  **TINY), job_config=job_config)


def worker_job(dataset, epochs: int, job_config: JobConfig | None = None, **kwargs) -> WorkerTrainingJob:
    """A tiny model to train on `dataset` in a worker process, not started."""
    return WorkerTrainingJob(DatasetInfo.of(dataset), tiny_train_config(epochs),
                             VAEConfig(image_shape=dataset.image_shape, **TINY), job_config=job_config, **kwargs)


def finish(job) -> None:
    job.stop()
    assert job.join(timeout=30)
