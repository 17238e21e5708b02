"""What the AppTests of the latent views share: every shipped checkpoint, and its model, data and test codes."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from vae_core.checkpoint import Checkpoint, load_checkpoint
from vae_core.data import Dataset
from vae_core.metrics import encode_posterior

from .paths import ROOT

SHIPPED = sorted(path.name for path in (ROOT / "checkpoints").glob("*.safetensors"))


@dataclass(frozen=True)
class Shipped:
    checkpoint: Checkpoint
    dataset: Dataset
    mu: torch.Tensor  # (N, D) test-set posterior means
    logvar: torch.Tensor

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.y_test.numpy()


@functools.cache
def shipped(name: str) -> Shipped:
    checkpoint = load_checkpoint(ROOT / "checkpoints" / name)
    dataset = checkpoint.dataset.load()
    posterior = encode_posterior(checkpoint.model, dataset.x_test)
    return Shipped(checkpoint, dataset, posterior.mu, posterior.logvar)
