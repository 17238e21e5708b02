"""Background work in tests: waiting for it, and the tiny training runs it does."""

from __future__ import annotations

import time

from vae_core.train import TrainConfig

TINY = {"latent_dim": 2, "hidden_dims": (32, 16)}


def wait_until(condition, timeout: float = 30.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the training thread"
        time.sleep(interval)


def tiny_train_config(epochs: int, **train) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=64, learning_rate=2e-3, device="cpu", **train)
